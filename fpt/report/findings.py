"""A finding in words: one readable line, for terminals, failure messages and the checklist's examples."""

from __future__ import annotations

from fpt.evidence.findings import Finding


def finding_line(f: Finding) -> str:
    """``[kind] message in step 'step' (METHOD path) — user saw other's data [phase]``, the parts it has."""
    where = " ".join(x for x in (f.method, f.path) if x)
    who = f.user + (f" saw {f.other_user}'s data" if f.other_user else "")
    parts = [f"[{f.kind}]", f.message]
    if f.step:
        parts.append(f"in step '{f.step}'")
    if where:
        parts.append(f"({where})")
    if who:
        parts.append(f"— {who}")
    if f.phase:
        parts.append(f"[{f.phase}]")
    return " ".join(parts)
