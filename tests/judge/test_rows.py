"""The checklist's rows hold exactly their TypedDicts' keys, in order: types and fpt-dod.json cannot drift."""

from __future__ import annotations

from fpt.config.thresholds import parse_threshold
from fpt.evidence.coverage import ApiCoverage, OperationCoverage
from fpt.evidence.findings import Finding, FindingLog
from fpt.evidence.loadtypes import LoadEvidence, SpikeEvidence, Stair, StressEvidence, VolumeEvidence
from fpt.evidence.metrics import Metrics
from fpt.evidence.resources import HARNESS, ResourceSample, ResourceSeries
from fpt.evidence.stats import PERCENTILES, FailureRow, StepRow, failure_rows, step_stats
from fpt.judge.dod.checklist import RunRow, ThresholdRow
from fpt.judge.dod.evaluate import run_evidence
from fpt.judge.loadtypes import LoadRow, ResourceRow, load_row, resources_evidence
from fpt.judge.thresholds import measure

from .runs import run


def _metrics() -> Metrics:
    m = Metrics()
    for i in range(20):
        m.step("book", i * 0.1, 1000.0 + i, "status" if i % 5 == 0 else None)
        m.iteration(i * 0.1, 2000.0 + i, None)
        m.request(i * 0.1, 900.0, None, 10)
    for k in range(4):
        m.failure("book", "HTTP 503", f"GET /x/{k}a", 0.5 + k)
    return m


def _findings() -> FindingLog:
    log = FindingLog()
    log.add(Finding(kind="functional", message="bad body", step="book", at=1.0))
    return log


def test_step_rows_are_step_rows() -> None:
    rows = step_stats(run(metrics=_metrics()))
    assert [r["step"] for r in rows] == ["book", "(flow)", "(requests)"]
    assert all(list(r) == list(StepRow.__annotations__) for r in rows)
    assert {f"p{p}_ms" for p in PERCENTILES} <= StepRow.__annotations__.keys()


def test_failure_rows_are_failure_rows_with_the_more_row() -> None:
    rows = failure_rows(run(metrics=_metrics(), findings=_findings()), limit=2)
    assert [r["source"] for r in rows] == ["request", "request", "more"]
    assert all(r.keys() == FailureRow.__annotations__.keys() for r in rows)
    assert list(rows[0]) == list(FailureRow.__annotations__)


def test_load_and_resource_rows() -> None:
    stair = Stair(rate=1, start=0, seconds=5, iterations=5, p90_ms=1.0, error_rate=0.0)
    stress = StressEvidence(stairs=(stair,))
    spike = SpikeEvidence(base=1, peak=5, start=2, end=4, baseline_p90_ms=1.0, baseline_error_rate=0.0,
                          during_iterations=3, during_error_rate=0.0, during_p90_ms=2.0, error_limit=None,
                          after_seconds=5, back_after=1, within=10)
    load = LoadEvidence(stress=stress, spike=spike, volume=VolumeEvidence(steps=()))
    row = load_row(load)
    assert list(row) == list(LoadRow.__annotations__) == list(load.to_dict())
    assert row["stress"] is not None
    assert "recovered" in row["stress"]
    assert row["spike"] is not None
    assert row["spike"]["passed"] is True
    assert list(load_row(LoadEvidence())) == list(LoadRow.__annotations__)
    series = (ResourceSeries(source="pid:1", samples=(ResourceSample(t=0.0, rss_bytes=1),)),
              ResourceSeries(source=HARNESS))
    rows = resources_evidence(series)
    assert [r["role"] for r in rows] == ["service", "fpt"]
    assert all(list(r) == list(ResourceRow.__annotations__) for r in rows)


def test_run_rows_are_run_rows() -> None:
    plain = run(metrics=_metrics(), findings=_findings())
    assert list(run_evidence(plain)) == [k for k in RunRow.__annotations__ if k != "coverage"]
    coverage = ApiCoverage(title="t", operations=(OperationCoverage(op_id="a", method="GET", path="/a"),))
    hunt = run(metrics=_metrics(), thresholds=(measure(plain, parse_threshold("p90<1s")),), coverage=coverage)
    row = run_evidence(hunt)
    assert list(row) == list(RunRow.__annotations__)
    assert row["thresholds"]
    assert all(list(t) == list(ThresholdRow.__annotations__) for t in row["thresholds"])
