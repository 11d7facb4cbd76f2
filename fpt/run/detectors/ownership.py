"""Ownership comparison: does this document belong to the user who asked for it?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MISSING = object()


def lookup(doc: Any, path: str) -> Any:
    """Value at a dotted path (``member.email``, ``visits.0.id``), or ``MISSING``."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return MISSING
    return cur


@dataclass(frozen=True)
class Mismatch:
    """One compared field: ``found is MISSING`` means the field was absent."""

    path: str
    expected: Any
    found: Any

    @property
    def missing(self) -> bool:
        """The field was not in the document."""
        return self.found is MISSING


def compare(doc: Any, expected: Mapping[str, Any]) -> list[Mismatch]:
    """Fields of ``doc`` that differ from ``expected`` (paths use dots)."""
    out = []
    for path, want in expected.items():
        got = lookup(doc, path)
        if got is MISSING or got != want:
            out.append(Mismatch(path, want, got))
    return out
