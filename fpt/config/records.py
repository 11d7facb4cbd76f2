"""Plain data of a small frozen record whose kind uses only some of its fields."""

from __future__ import annotations

import dataclasses
from typing import Any


def changed(record: Any) -> dict[str, Any]:
    """``record``'s fields that differ from their defaults (shallow; a field without a default always).

    The plain form of a reason record (a kind and the figures its words need): the fields its kind
    does not use stay out of the file, and ``cls(**data)`` gives them back as their defaults.
    """
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.default is not dataclasses.MISSING:
            if value == f.default:
                continue
        elif f.default_factory is not dataclasses.MISSING and value == f.default_factory():
            continue
        out[f.name] = value
    return out
