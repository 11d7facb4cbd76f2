"""Typed outcomes shared by the judges: an item's status, and a problem with its numbers.

Nothing downstream reads a sentence to decide: it reads these. The words for them are made
in :mod:`fpt.report`.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """How a judged thing ended (the same words as the checklist's item statuses)."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_EVIDENCED = "not_evidenced"
