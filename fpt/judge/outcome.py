"""Typed outcomes shared by the judges: an item's status, and a problem with its numbers.

Nothing downstream reads a sentence to decide: it reads these. The words for them are made
in :mod:`fpt.report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """How a judged thing ended (the same words as the checklist's item statuses)."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_EVIDENCED = "not_evidenced"


class ProblemKind(StrEnum):
    """Why a run fails its own checks."""

    THRESHOLD = "threshold"
    """a threshold of the run failed (``subject``: its expression)"""
    FINDINGS = "findings"
    """``count`` findings of kind ``subject`` (data swap, session, cross-user...)"""
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    """``count`` iterations did not finish within the grace"""
    CRASHED = "crashed"
    """``count`` iterations crashed inside fpt"""
    NOTHING_STARTED = "nothing_started"
    FAILS_ALONE = "fails_alone"
    """the flow fails for one user alone"""
    PROBES_ALLOWED = "probes_allowed"
    """``count`` cross-user probes answered 2xx without a refusal"""
    INCOMPLETE = "incomplete"
    """part of the run is missing (a worker crashed or was interrupted)"""
    STRESS = "stress"
    """a stair broke and the service was not shown to recover (``subject``: the stress kind)"""
    SPIKE = "spike"
    """the spike failed or showed nothing (``subject``: the spike kind)"""


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One reason a run fails its checks: its kind, how it ended (``failed``, or ``not_evidenced``
    for a check that could show nothing), what it is about and how many."""

    kind: ProblemKind
    status: Status = Status.FAILED
    subject: str = ""
    count: int = 0

    @property
    def key(self) -> str:
        """A compact token (``findings:data_swap=3``) for places with no words of their own."""
        about = f":{self.subject}" if self.subject else ""
        return f"{self.kind}{about}" + (f"={self.count}" if self.count else "")

    def to_dict(self) -> dict[str, str | int]:
        """Plain-data form."""
        return {"kind": str(self.kind), "status": str(self.status), "subject": self.subject,
                "count": self.count}
