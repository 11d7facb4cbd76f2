"""Merging workers' evidence: scale events and thresholds keep what each worker showed."""

from __future__ import annotations

from fpt.config.thresholds import ThresholdOutcome, evaluate, parse_threshold
from fpt.evidence.continuity import (
    ContinuityEvidence,
    Phase,
    ReadBack,
    ReplicaSeen,
    ScaleEvent,
    ScaleTimeline,
    merge_continuity,
)
from fpt.evidence.metrics import StepMetrics
from fpt.judge.continuity import judge
from fpt.judge.outcome import Status
from fpt.report.continuity import not_evidenced_because


def phases(p90_during_ms: float) -> dict[str, StepMetrics]:
    before, during = StepMetrics(), StepMetrics()
    for _ in range(10):
        before.record(10_000)
        during.record(p90_during_ms * 1000)
    return {"before": before, "during:1": during}


def part(moved: bool, *, lost: int = 0, ok: bool = True) -> ContinuityEvidence:
    """One worker's scale-out 1 -> 3 at 2s: replica r2 first answered at 3s (moved) or never."""
    seen = (ReplicaSeen(replica="r1", first=0.1, last=9.0),
            *((ReplicaSeen(replica="r2", first=3.0, last=9.0),) if moved else ()))
    timeline = ScaleTimeline(
        events=(ScaleEvent(label="scale_to 3", at=2.0, before=1, target=3, ok=ok,
                           error="" if ok else "boom", settled_at=2.5 if ok else None),),
        phases=(Phase(name="before", start=0.0, end=2.0), Phase(name="during:1", start=2.0, end=4.5),
                Phase(name="after:1", start=4.5, end=10.0)),
        replicas=seen, last_any=9.0)
    return ContinuityEvidence(timelines=(timeline,), broken_sessions=1, user_moves=2,
                              readback=ReadBack(tried=5, ok=5 - lost, lost=lost))


def test_an_event_moved_traffic_when_any_worker_saw_it_move() -> None:
    merged = merge_continuity([part(False), part(True)])
    assert merged is not None
    j = judge(merged, phases(12))
    assert j.evidenced is True
    assert j.moves[0].moved is True
    assert merged.readback == ReadBack(tried=10, ok=10, lost=0)
    assert (merged.broken_sessions, merged.user_moves, merged.workers) == (2, 4, 2)


def test_no_worker_saw_it_move_or_one_failed_is_not_evidence() -> None:
    merged = merge_continuity([part(False), part(False)])
    assert merged is not None
    j = judge(merged, phases(12))
    assert j.evidenced is False
    assert "no user reached a new replica" in not_evidenced_because(j)
    failed = merge_continuity([part(True), part(True, ok=False)])
    assert failed is not None
    assert judge(failed, phases(12)).evidenced is False


def test_losses_and_degradation_of_any_worker_count() -> None:
    merged = merge_continuity([part(True), part(True, lost=2)])
    assert merged is not None
    assert merged.readback.lost == 2
    # Degradation is judged again on the merged per-phase histograms (p90 10ms -> 50ms, limit x3).
    assert judge(merged, phases(50)).degradation_status is Status.FAILED
    assert judge(merged, phases(12)).degradation_status is Status.PASSED
    assert merge_continuity([None, None]) is None


def test_merged_continuity_round_trips_and_renders() -> None:
    merged = merge_continuity([part(False), part(True)])
    assert merged is not None
    assert ContinuityEvidence.from_dict(merged.to_dict()) == merged
    assert merge_continuity([merged]) is merged


def test_threshold_outcomes_keep_their_parsed_threshold() -> None:
    out = evaluate(parse_threshold("login:p90<800ms"), 900.0, "")
    again = ThresholdOutcome.from_dict(out.to_dict())
    assert again == out
    assert (again.threshold.step, again.threshold.metric, again.threshold.limit) == ("login", "p90", 800.0)
    assert not again.passed
