"""Scale events as recorded: what each event did, the phases around it, which replicas answered
when, user moves, broken sessions and the read-back (judged in :mod:`fpt.judge.continuity`).

A run has one timeline (its own events, phases and replicas seen). Workers of an xdist run each
fire the events and watch the replicas on their own clock, so a merged record keeps every
worker's timeline as recorded and adds the counts: nothing is averaged or lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from fpt.evidence.checks import plain


@dataclass(frozen=True, kw_only=True)
class ScaleEvent:
    """One event as it happened: label, run second it fired, fleet size before and asked, whether
    the fleet reached it (``ok``), the scaler's own error text, when it settled."""

    label: str
    at: float
    before: int | None = None
    target: int | None = None
    ok: bool = False
    error: str = ""
    settled_at: float | None = None
    replicas_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScaleEvent:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class Phase:
    """A phase of the run (``before``, ``during:1``, ``after:1``...) in run seconds."""

    name: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Phase:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class ReplicaSeen:
    """A replica (named by the served-by header) and the run seconds it first and last answered."""

    replica: str
    first: float
    last: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReplicaSeen:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class ScaleTimeline:
    """One process's events, phases and replicas, on that process's run clock."""

    events: tuple[ScaleEvent, ...] = ()
    phases: tuple[Phase, ...] = ()
    replicas: tuple[ReplicaSeen, ...] = ()
    #: run second of the last response that named its replica
    last_any: float = 0.0

    @property
    def end(self) -> float:
        """End of the last phase (the load's end)."""
        return self.phases[-1].end if self.phases else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"events": [e.to_dict() for e in self.events], "phases": [p.to_dict() for p in self.phases],
                "replicas": [r.to_dict() for r in self.replicas], "last_any": self.last_any}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScaleTimeline:
        """Inverse of :meth:`to_dict`."""
        return cls(events=tuple(ScaleEvent.from_dict(e) for e in d["events"]),
                   phases=tuple(Phase.from_dict(p) for p in d["phases"]),
                   replicas=tuple(ReplicaSeen.from_dict(r) for r in d["replicas"]), last_any=d["last_any"])


@dataclass(frozen=True, kw_only=True)
class ReadBack:
    """Acknowledged writes read back by their owners after the run."""

    tried: int = 0
    ok: int = 0
    lost: int = 0
    errors: int = 0
    #: not made: past the budget, owner gone, or not kept for read-back (``not_kept``)
    skipped: int = 0
    not_kept: int = 0

    def __add__(self, other: ReadBack) -> ReadBack:
        return ReadBack(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, int]:
        """Plain-data form."""
        return plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, int]) -> ReadBack:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class ContinuityEvidence:
    """What a run with scale events recorded, and the limits it is to be judged against."""

    timelines: tuple[ScaleTimeline, ...] = ()
    user_moves: int = 0
    broken_sessions: int = 0
    readback: ReadBack = ReadBack()
    #: ``scale_p90_factor`` and ``scale_error_rate`` of the run's config
    p90_factor: float = 3.0
    error_rate_limit: float = 0.01

    @property
    def timeline(self) -> ScaleTimeline:
        """The first process's timeline (event labels, phase names and boundaries shown in reports)."""
        return self.timelines[0] if self.timelines else ScaleTimeline()

    @property
    def workers(self) -> int:
        """How many processes' timelines this record holds."""
        return len(self.timelines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"timelines": [t.to_dict() for t in self.timelines], "user_moves": self.user_moves,
                "broken_sessions": self.broken_sessions, "readback": self.readback.to_dict(),
                "p90_factor": self.p90_factor, "error_rate_limit": self.error_rate_limit}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContinuityEvidence:
        """Inverse of :meth:`to_dict`."""
        return cls(timelines=tuple(ScaleTimeline.from_dict(t) for t in d["timelines"]),
                   user_moves=d["user_moves"], broken_sessions=d["broken_sessions"],
                   readback=ReadBack.from_dict(d["readback"]), p90_factor=d["p90_factor"],
                   error_rate_limit=d["error_rate_limit"])


def merge_continuity(parts: Sequence[ContinuityEvidence | None]) -> ContinuityEvidence | None:
    """Every worker's scale evidence as one: timelines kept side by side, counts added.

    Limits are the strictest of the parts (they come from the same config in practice).
    """
    present = [p for p in parts if p is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    readback = ReadBack()
    for p in present:
        readback = readback + p.readback
    return ContinuityEvidence(
        timelines=tuple(t for p in present for t in p.timelines),
        user_moves=sum(p.user_moves for p in present),
        broken_sessions=sum(p.broken_sessions for p in present),
        readback=readback, p90_factor=min(p.p90_factor for p in present),
        error_rate_limit=min(p.error_rate_limit for p in present))
