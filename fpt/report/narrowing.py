"""Sentences about weakened checks."""


from __future__ import annotations

from fpt.evidence.narrowing import Weakening


def describe(w: Weakening) -> str:
    """One line for the summary: the setting, where it came from, and what it hid."""
    value = ", ".join(map(str, w.value)) if isinstance(w.value, list) else str(w.value)
    hid = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in w.hid.items() if n)
    where = f" in {w.test}" if w.test else ""
    floor = f" (floor {w.floor})" if w.floor is not None else ""
    return f"weakened{where}: {w.key} = {value} from {w.source}{floor}" + (f"; hid {hid}" if hid else "")
