"""The autoscaling items: sessions kept across scale out and in, every acknowledged write read
back, p90 and error rate within limits during each event."""

from __future__ import annotations

from collections.abc import Sequence

from fpt.evidence.continuity import ContinuityEvidence, ReadBack
from fpt.evidence.findings import Json
from fpt.evidence.result import RunResult
from fpt.judge.continuity import ContinuityJudgement, Direction, EventMove, judge_run
from fpt.judge.dod.catalogue import FAILED, NOT_EVIDENCED, PASSED
from fpt.judge.dod.checklist import ItemOutcome
from fpt.judge.dod.facts import (
    Continuity,
    ContinuityFacts,
    DataLoss,
    DataLossFacts,
    DegradationFacts,
    Scaling,
)
from fpt.judge.dod.tally import count, examples, names
from fpt.judge.outcome import Status


def _scaled(results: Sequence[RunResult]) -> list[tuple[RunResult, ContinuityEvidence, ContinuityJudgement]]:
    out = []
    for r in results:
        j = judge_run(r)
        if r.continuity is not None and j is not None:
            out.append((r, r.continuity, j))
    return out


def _event_evidence(m: EventMove) -> dict[str, Json]:
    return {**m.event.to_dict(), "index": m.index, "direction": str(m.direction), "moved_traffic": m.moved,
            "move": str(m.move), "replicas": list(m.replicas)}


def continuity(results: Sequence[RunResult]) -> ItemOutcome:
    """``autoscaling.session_continuity``: no broken session, and events that moved traffic both ways."""
    name = "autoscaling.session_continuity"
    scaled = _scaled(results)
    runs = [r for r, _, _ in scaled]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, facts=ContinuityFacts(why=Continuity.NO_RUN))
    broken = count(runs, ("session",))
    directions = {d for _, _, j in scaled for d in j.directions}
    unevidenced = [j for _, _, j in scaled if not j.evidenced]
    user_moves = sum(c.user_moves for _, c, _ in scaled)
    ev: dict[str, Json] = {
        "runs": len(runs), "broken_sessions": broken,
        "events": [_event_evidence(m) for _, _, j in scaled for m in j.moves], "user_moves": user_moves}
    shown = examples(runs, ("session",))
    if broken:
        return ItemOutcome(name=name, status=FAILED, tests=names(runs), evidence=ev,
                           facts=ContinuityFacts(why=Continuity.BROKEN, broken=broken), examples=shown)
    if unevidenced or not {Direction.OUT, Direction.IN} <= directions:
        facts = ContinuityFacts(why=Continuity.NOT_MOVED,
                                unmoved=tuple(m for j in unevidenced for m in j.unmoved),
                                missing=tuple(sorted({Direction.OUT, Direction.IN} - directions)))
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=names(runs), evidence=ev, facts=facts,
                           examples=shown)
    return ItemOutcome(name=name, status=PASSED, tests=names(runs), evidence=ev,
                       facts=ContinuityFacts(why=Continuity.MOVED, user_moves=user_moves), examples=shown)


def data_loss(results: Sequence[RunResult]) -> ItemOutcome:
    """``autoscaling.no_data_loss``: every acknowledged write read back."""
    name = "autoscaling.no_data_loss"
    scaled = _scaled(results)
    runs = [r for r, _, _ in scaled]
    rb = ReadBack()
    for _, c, _ in scaled:
        rb = rb + c.readback
    lost = max(rb.lost, count(runs, ("data_loss",)))
    if lost:
        why, status = DataLoss.LOST, FAILED
    elif not rb.tried:
        why, status = DataLoss.NONE_READ, NOT_EVIDENCED
    elif rb.errors or rb.skipped:
        why, status = DataLoss.NOT_ALL_READ, NOT_EVIDENCED
    else:
        why, status = DataLoss.ALL_READ, PASSED
    return ItemOutcome(name=name, status=status, tests=names(runs), evidence=rb.to_dict(),
                       facts=DataLossFacts(why=why, lost=lost, readback=rb),
                       examples=examples(runs, ("data_loss",)))


def degradation(results: Sequence[RunResult]) -> ItemOutcome:
    """``autoscaling.degradation``: each event's p90 and error rate against the phase before."""
    name = "autoscaling.degradation"
    scaled = _scaled(results)
    runs = [r for r, _, _ in scaled]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, facts=DegradationFacts(why=Scaling.NO_RUN))
    # the per-run words ("detail") are added to the evidence where it is written (fpt.report.checklist)
    ev: dict[str, Json] = {"phases": {r.name: _phases(r, c) for r, c, _ in scaled},
          "events": [{"index": d.index, "kind": str(d.kind), "p90_before_us": d.p90_before_us,
                      "p90_during_us": d.p90_during_us, "error_rate": d.error_rate,
                      "p90_factor": d.p90_factor, "error_rate_limit": d.error_rate_limit}
                     for _, _, j in scaled for d in j.degradation]}
    statuses = {j.degradation_status for _, _, j in scaled}
    status = next(s for s in (Status.NOT_EVIDENCED, Status.FAILED, Status.PASSED)
                  if s in statuses or s is Status.PASSED)
    facts = DegradationFacts(why=Scaling.NOT_SHOWN if status is Status.NOT_EVIDENCED else Scaling.JUDGED,
                             runs=tuple(j.degradation for _, _, j in scaled))
    return ItemOutcome(name=name, status=status, tests=names(runs), evidence=ev, facts=facts)


def _phases(r: RunResult, c: ContinuityEvidence) -> dict[str, dict[str, Json]]:
    """Each phase's boundaries and figures (p90 in ms, error rate, iterations)."""
    out: dict[str, dict[str, Json]] = {}
    for p in c.timeline.phases:
        m = r.metrics.phases.get(p.name)
        if m is not None:
            out[p.name] = {"start": round(p.start, 3), "end": round(p.end, 3), "iterations": m.count,
                           "p50_ms": m.hist.percentile(50) / 1000, "p90_ms": m.hist.percentile(90) / 1000,
                           "error_rate": m.error_rate}
    return out
