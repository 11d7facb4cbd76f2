"""Scale events judged: did each event move traffic, did the service degrade during it, and is
the run evidence of session continuity at all. Pure functions of
:class:`~fpt.evidence.continuity.ContinuityEvidence` and the run's per-phase metrics.

A scale-out moved traffic when a replica that had never answered answers after the event; a
scale-in when a replica that answered before the event falls silent while the others go on
answering. A worker of a merged run judges its own timeline on its own clock; an event moved
traffic when any worker saw it move, and worked only when it worked for every worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from fpt.evidence.continuity import ContinuityEvidence, ScaleEvent, ScaleTimeline
from fpt.evidence.metrics import StepMetrics
from fpt.evidence.result import RunResult
from fpt.judge.outcome import Status

QUIET = 0.5
"""Seconds a replica must stay silent, while others still answer, to count as drained."""
RECENT = 5.0
"""A replica counts as drained by an event only if it answered within this many seconds before it."""


class Direction(StrEnum):
    """Which way an event scaled the fleet."""

    OUT = "out"
    IN = "in"


class Move(StrEnum):
    """What the replicas seen show about an event."""

    NEW_REPLICAS = "new_replicas"
    """scale-out: replicas that had never answered served users after the event"""
    DRAINED = "drained"
    """scale-in: replicas that answered before the event fell silent while others answered"""
    NO_REPLICA_HEADER = "no_replica_header"
    """no response named its replica: nothing can be shown"""
    NO_NEW_REPLICA = "no_new_replica"
    NOT_DRAINED = "not_drained"
    EVENT_FAILED = "event_failed"
    """the scaler failed or the fleet never reached the size asked"""


MOVED = frozenset({Move.NEW_REPLICAS, Move.DRAINED})


class Degradation(StrEnum):
    """p90 and error rate during an event against the phase before it."""

    WITHIN = "within"
    EXCEEDED = "exceeded"
    NO_ITERATIONS = "no_iterations"
    """the phase before or the phase during had no iteration: nothing to compare"""


@dataclass(frozen=True, kw_only=True)
class EventMove:
    """Event ``index`` (1-based) as judged: the event (``ok`` only if it worked for every worker),
    its direction, what moved, the replicas that show it, and the scaler's error when it failed."""

    index: int
    event: ScaleEvent
    direction: Direction
    move: Move
    replicas: tuple[str, ...] = ()

    @property
    def moved(self) -> bool:
        """The event moved traffic."""
        return self.move in MOVED


@dataclass(frozen=True, kw_only=True)
class EventDegradation:
    """Event ``index``: p90 (µs) before and during, the error rate during, and the limits."""

    index: int
    kind: Degradation
    p90_before_us: float | None = None
    p90_during_us: float | None = None
    error_rate: float | None = None
    p90_factor: float = 0.0
    error_rate_limit: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ContinuityJudgement:
    """Every event's move and degradation, and what they add up to."""

    moves: tuple[EventMove, ...]
    degradation: tuple[EventDegradation, ...]

    @property
    def events_ok(self) -> bool:
        """There were events and each one worked (for every worker)."""
        return bool(self.moves) and all(m.event.ok for m in self.moves)

    @property
    def evidenced(self) -> bool:
        """Every event worked and moved traffic: the run is evidence of session continuity."""
        return self.events_ok and all(m.moved for m in self.moves)

    @property
    def unmoved(self) -> tuple[EventMove, ...]:
        """The events that did not move traffic (failed ones included)."""
        return tuple(m for m in self.moves if not m.moved)

    @property
    def directions(self) -> frozenset[Direction]:
        """Directions of the events that moved traffic."""
        return frozenset(m.direction for m in self.moves if m.moved)

    @property
    def degradation_status(self) -> Status:
        """Failed when an event exceeded a limit; not evidenced when an event failed or a phase
        had nothing to compare; passed otherwise."""
        if not self.events_ok or any(d.kind is Degradation.NO_ITERATIONS for d in self.degradation):
            return Status.NOT_EVIDENCED
        if any(d.kind is Degradation.EXCEEDED for d in self.degradation):
            return Status.FAILED
        return Status.PASSED


def direction(e: ScaleEvent) -> Direction:
    """Out when the event asked for more replicas than there were, in otherwise."""
    return Direction.OUT if (e.target or 0) > (e.before or 0) else Direction.IN


def moved_traffic(t: ScaleTimeline, at: float, until: float, way: Direction) -> tuple[Move, tuple[str, ...]]:
    """What the replicas seen on ``t`` show about an event at ``at`` before ``until``."""
    if not t.replicas:
        return Move.NO_REPLICA_HEADER, ()
    if way is Direction.OUT:
        new = tuple(sorted(r.replica for r in t.replicas if at <= r.first < until))
        return (Move.NEW_REPLICAS if new else Move.NO_NEW_REPLICA), new
    end = min(until, t.last_any)
    gone = tuple(sorted(r.replica for r in t.replicas
                        if r.first < at and r.last + QUIET <= end and r.last >= at - RECENT))
    return (Move.DRAINED if gone else Move.NOT_DRAINED), gone


def _move_on(t: ScaleTimeline, i: int) -> tuple[Move, tuple[str, ...]]:
    e = t.events[i]
    if not e.ok:
        return Move.EVENT_FAILED, ()
    until = t.events[i + 1].at if i + 1 < len(t.events) else t.end
    return moved_traffic(t, e.at, until, direction(e))


def event_moves(c: ContinuityEvidence) -> tuple[EventMove, ...]:
    """Each event of the first timeline, judged on every timeline that has it."""
    out = []
    for i, e in enumerate(c.timeline.events):
        having = [t for t in c.timelines if i < len(t.events)]
        seen = [(t.events[i], *_move_on(t, i)) for t in having]
        moved = [s for s in seen if s[1] in MOVED]
        event, move, replicas = (moved or seen)[0]
        out.append(EventMove(index=i + 1, event=replace(event, ok=all(s[0].ok for s in seen)),
                             direction=direction(e), move=move, replicas=replicas))
    return tuple(out)


def _merged(phases: Mapping[str, StepMetrics], names: Sequence[str]) -> StepMetrics | None:
    found = [phases[n] for n in names if n in phases]
    if not found:
        return None
    out = StepMetrics()
    for m in found:
        out.merge(m)
    return out


def event_degradation(c: ContinuityEvidence, phases: Mapping[str, StepMetrics]
                      ) -> tuple[EventDegradation, ...]:
    """p90 and error rate during each event against the phase before it (``before``, or the
    previous event's during and after), on the run's per-phase metrics."""
    out = []
    for i in range(1, len(c.timeline.events) + 1):
        before = _merged(phases, ["before"] if i == 1 else [f"during:{i - 1}", f"after:{i - 1}"])
        during = phases.get(f"during:{i}")
        limits = {"p90_factor": c.p90_factor, "error_rate_limit": c.error_rate_limit}
        if during is None or not during.count or before is None or not before.count:
            out.append(EventDegradation(index=i, kind=Degradation.NO_ITERATIONS, **limits))
            continue
        p90b, p90d = before.hist.percentile(90), during.hist.percentile(90)
        ok = p90d <= c.p90_factor * p90b and during.error_rate <= c.error_rate_limit
        out.append(EventDegradation(index=i, kind=Degradation.WITHIN if ok else Degradation.EXCEEDED,
                                    p90_before_us=p90b, p90_during_us=p90d, error_rate=during.error_rate,
                                    **limits))
    return tuple(out)


def judge(c: ContinuityEvidence, phases: Mapping[str, StepMetrics]) -> ContinuityJudgement:
    """The judgement of a run's scale events."""
    return ContinuityJudgement(moves=event_moves(c), degradation=event_degradation(c, phases))


def judge_run(r: RunResult) -> ContinuityJudgement | None:
    """The judgement of ``r``'s scale events (``None`` when it had none)."""
    return None if r.continuity is None else judge(r.continuity, r.metrics.phases)
