"""fpt.judge.continuity: moved traffic, degradation and evidence, table-driven both ways."""

from __future__ import annotations

import pytest

from fpt.evidence.continuity import (
    ContinuityEvidence,
    Phase,
    ReadBack,
    ReplicaSeen,
    ScaleEvent,
    ScaleTimeline,
    merge_continuity,
)
from fpt.evidence.findings import Finding, FindingLog
from fpt.evidence.metrics import Metrics, StepMetrics
from fpt.evidence.result import RunResult
from fpt.judge.continuity import (
    Degradation,
    Direction,
    Move,
    direction,
    event_degradation,
    judge,
    moved_traffic,
)
from fpt.judge.dod.evaluate import evaluate
from fpt.judge.outcome import Status
from fpt.report.checklist import detail
from fpt.report.continuity import continuity_view, degradation_line, move_detail

from .runs import run

R1 = ReplicaSeen(replica="r1", first=0.0, last=10.0)


def timeline(*replicas: ReplicaSeen, last_any: float = 10.0, events: tuple[ScaleEvent, ...] = ()
             ) -> ScaleTimeline:
    return ScaleTimeline(events=events, replicas=replicas, last_any=last_any,
                         phases=(Phase(name="before", start=0.0, end=2.0), Phase(name="after:1", start=2.0,
                                                                                 end=10.0)))


@pytest.mark.parametrize(("replicas", "way", "move", "shown"), [
    # scale-out: a replica that first answered after the event, before the next one
    ((R1, ReplicaSeen(replica="r2", first=3.0, last=10.0)), Direction.OUT, Move.NEW_REPLICAS, ("r2",)),
    ((R1,), Direction.OUT, Move.NO_NEW_REPLICA, ()),
    # ... not one that first answered after the next event, or before this one
    ((R1, ReplicaSeen(replica="r2", first=8.5, last=10.0)), Direction.OUT, Move.NO_NEW_REPLICA, ()),
    ((R1, ReplicaSeen(replica="r2", first=1.0, last=10.0)), Direction.OUT, Move.NO_NEW_REPLICA, ()),
    # scale-in: a replica that answered before the event fell silent while r1 went on
    ((R1, ReplicaSeen(replica="r2", first=0.5, last=2.5)), Direction.IN, Move.DRAINED, ("r2",)),
    ((R1, ReplicaSeen(replica="r2", first=0.5, last=9.9)), Direction.IN, Move.NOT_DRAINED, ()),  # still on
    ((R1, ReplicaSeen(replica="r2", first=0.1, last=0.2)), Direction.IN, Move.DRAINED, ("r2",)),
    ((R1, ReplicaSeen(replica="r2", first=0.0, last=-10.0)), Direction.IN, Move.NOT_DRAINED, ()),  # long gone
    ((), Direction.OUT, Move.NO_REPLICA_HEADER, ()),
    ((), Direction.IN, Move.NO_REPLICA_HEADER, ()),
])
def test_moved_traffic(replicas: tuple[ReplicaSeen, ...], way: Direction, move: Move,
                       shown: tuple[str, ...]) -> None:
    assert moved_traffic(timeline(*replicas), 2.0, 8.0, way) == (move, shown)


@pytest.mark.parametrize(("before", "target", "way"), [(1, 3, "out"), (3, 1, "in"), (None, 2, "out"),
                                                       (2, 2, "in"), (None, None, "in")])
def test_direction(before: int | None, target: int | None, way: str) -> None:
    assert direction(ScaleEvent(label="x", at=0.0, before=before, target=target)) == way


def metrics(before_ms: float | None, during_ms: float | None, during_errors: int = 0
            ) -> dict[str, StepMetrics]:
    out = {}
    for name, ms in (("before", before_ms), ("during:1", during_ms)):
        if ms is not None:
            m = StepMetrics()
            for k in range(100):
                m.record(ms * 1000, "status" if name == "during:1" and k < during_errors else None)
            out[name] = m
    return out


OUT_EVENT = ScaleEvent(label="scale_to 3", at=2.0, before=1, target=3, ok=True, settled_at=2.5)


def evidence(*, ok: bool = True, moved: bool = True, readback: ReadBack | None = None,
             broken: int = 0) -> ContinuityEvidence:
    event = OUT_EVENT if ok else ScaleEvent(label="scale_to 3", at=2.0, before=1, target=3, error="boom")
    seen = (R1, ReplicaSeen(replica="r2", first=3.0, last=10.0)) if moved else (R1,)
    return ContinuityEvidence(timelines=(timeline(*seen, events=(event,)),), broken_sessions=broken,
                              readback=readback or ReadBack(tried=4, ok=4), p90_factor=3.0,
                              error_rate_limit=0.01)


@pytest.mark.parametrize(("phases", "kind"), [
    (metrics(10, 20), Degradation.WITHIN),
    (metrics(10, 30), Degradation.WITHIN),  # exactly at the limit x3
    (metrics(10, 31), Degradation.EXCEEDED),
    (metrics(10, 10, during_errors=1), Degradation.WITHIN),  # 1% errors: at the limit
    (metrics(10, 10, during_errors=2), Degradation.EXCEEDED),
    (metrics(None, 10), Degradation.NO_ITERATIONS),
    (metrics(10, None), Degradation.NO_ITERATIONS),
    ({}, Degradation.NO_ITERATIONS),
])
def test_degradation_per_event(phases: dict[str, StepMetrics], kind: Degradation) -> None:
    (d,) = event_degradation(evidence(), phases)
    assert d.kind is kind
    assert degradation_line(d).startswith("event 1: ")


@pytest.mark.parametrize(("c", "phases", "evidenced", "degradation"), [
    (evidence(), metrics(10, 20), True, Status.PASSED),
    (evidence(), metrics(10, 40), True, Status.FAILED),
    (evidence(moved=False), metrics(10, 20), False, Status.PASSED),  # degraded or not: no move shown
    (evidence(ok=False), metrics(10, 20), False, Status.NOT_EVIDENCED),
    (evidence(), metrics(None, 20), True, Status.NOT_EVIDENCED),
    (ContinuityEvidence(), {}, False, Status.NOT_EVIDENCED),  # no event at all
])
def test_judgement(c: ContinuityEvidence, phases: dict[str, StepMetrics], evidenced: bool,
                   degradation: Status) -> None:
    j = judge(c, phases)
    assert j.evidenced is evidenced
    assert j.degradation_status is degradation


def test_failed_event_is_named_with_the_scalers_error() -> None:
    (m,) = judge(evidence(ok=False), {}).moves
    assert m.move is Move.EVENT_FAILED
    assert move_detail(m) == "event failed: boom"


def test_merged_event_worked_only_where_every_worker_saw_it_work() -> None:
    merged = merge_continuity([evidence(moved=False), evidence(moved=True)])
    assert merged is not None
    (m,) = judge(merged, {}).moves
    assert (m.moved, m.event.ok, m.replicas) == (True, True, ("r2",))
    failed = merge_continuity([evidence(), evidence(ok=False)])
    assert failed is not None
    assert judge(failed, {}).events_ok is False


def scaled_run(c: ContinuityEvidence, *, before_ms: float = 10, during_ms: float = 20, session: int = 0
               ) -> RunResult:
    m = Metrics()
    m.phases = metrics(before_ms, during_ms)
    findings = FindingLog()
    for k in range(session):
        findings.add(Finding(kind="session", message="logged out", user=f"user#{k}", step="s", at=3.0))
    return run(continuity=c, metrics=m, findings=findings)


def items(r: RunResult) -> dict[str, str]:
    check = evaluate([r], level="release")
    return {i.name: i.status for i in check.items if i.name.startswith("autoscaling.")}


@pytest.mark.parametrize(("r", "expected"), [
    (scaled_run(evidence()), {"autoscaling.session_continuity": "not_evidenced",  # out, never in
                              "autoscaling.no_data_loss": "passed", "autoscaling.degradation": "passed"}),
    (scaled_run(evidence(), session=2), {"autoscaling.session_continuity": "failed",
                                         "autoscaling.no_data_loss": "passed",
                                         "autoscaling.degradation": "passed"}),
    (scaled_run(evidence(readback=ReadBack(tried=4, ok=3, lost=1)), during_ms=50),
     {"autoscaling.session_continuity": "not_evidenced", "autoscaling.no_data_loss": "failed",
      "autoscaling.degradation": "failed"}),
    (scaled_run(evidence(ok=False, readback=ReadBack())),
     {"autoscaling.session_continuity": "not_evidenced", "autoscaling.no_data_loss": "not_evidenced",
      "autoscaling.degradation": "not_evidenced"}),
    (run(), {"autoscaling.session_continuity": "not_evidenced", "autoscaling.no_data_loss": "not_evidenced",
             "autoscaling.degradation": "not_evidenced"}),
])
def test_autoscaling_items(r: RunResult, expected: dict[str, str]) -> None:
    assert items(r) == expected


def test_scale_out_and_in_that_moved_traffic_pass_the_continuity_item() -> None:
    r2 = ReplicaSeen(replica="r2", first=3.0, last=6.0)
    inward = ScaleEvent(label="scale_to 1", at=5.0, before=3, target=1, ok=True, settled_at=5.2)
    t = ScaleTimeline(events=(OUT_EVENT, inward), replicas=(R1, r2), last_any=10.0,
                      phases=tuple(Phase(name=n, start=a, end=b) for n, a, b in (
                          ("before", 0.0, 2.0), ("during:1", 2.0, 4.5), ("after:1", 4.5, 5.0),
                          ("during:2", 5.0, 7.0), ("after:2", 7.0, 10.0))))
    r = scaled_run(ContinuityEvidence(timelines=(t,), readback=ReadBack(tried=2, ok=2)))
    check = evaluate([r], level="release")
    item = check.item("autoscaling.session_continuity")
    assert item.status == "passed", detail(item)
    view = continuity_view(r)
    assert [e["moved_detail"] for e in view["events"]] == ["new replicas served users: r2",
                                                            "drained replicas: r2"]
    assert view["evidenced"] is True
