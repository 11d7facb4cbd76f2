"""The performance items: thresholds on response time, error rate and throughput; stress recovery,
spike, soak memory and volume growth."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, cast

from fpt.config.thresholds import Threshold, ThresholdOutcome, parse_threshold
from fpt.evidence.findings import Json
from fpt.evidence.resources import ResourceSeries
from fpt.evidence.result import RunResult
from fpt.judge.dod.catalogue import DEFAULT_SOAK, DEFAULT_VOLUME, EXAMPLES, FAILED, NOT_EVIDENCED, PASSED
from fpt.judge.dod.checklist import ItemOutcome
from fpt.judge.dod.facts import (
    Limits,
    Recovery,
    SpikeFacts,
    SpikeRun,
    StepOnly,
    StressFacts,
    StressRun,
    TestThreshold,
    ThresholdFacts,
)
from fpt.judge.dod.swap import Item
from fpt.judge.dod.tally import names
from fpt.judge.loadtypes import (
    harness_series,
    recovered,
    rss_span,
    service_series,
    spike_kind,
    spike_passed,
    spike_status,
    stress_kind,
    stress_status,
)
from fpt.judge.outcome import Status
from fpt.judge.thresholds import measure

ThresholdJudge = Callable[[Sequence[RunResult]], tuple[ItemOutcome, ThresholdFacts]]


def _judged(results: Sequence[RunResult], metrics: Callable[[str], bool], extra: Sequence[Threshold],
            whole_flow: bool) -> tuple[list[tuple[RunResult, ThresholdOutcome]], list[StepOnly]]:
    """Every threshold of the kind on each run (defaults where a run set none), and the runs that
    limit single steps only."""
    outcomes: list[tuple[RunResult, ThresholdOutcome]] = []
    partial: list[StepOnly] = []
    for r in results:
        own = [(t.threshold.metric, t) for t in r.thresholds]
        own = [(m, t) for m, t in own if metrics(m)]
        outcomes.extend((r, t) for _, t in own)
        if whole_flow and own and all(t.threshold.step for _, t in own):
            partial.append(StepOnly(test=r.name, exprs=tuple(t.expr for _, t in own)))
        if extra and r.engine.planned and r.broke_at_rate is None:
            have = {m for m, _ in own}
            outcomes.extend((r, measure(r, th)) for th in extra if th.metric not in have)
    return outcomes, partial


def _thresholds(name: str, metrics: Callable[[str], bool], defaults: Sequence[str] = (),
                whole_flow: bool = False) -> ThresholdJudge:
    """``whole_flow``: a run's thresholds of this kind judge it only when one covers the whole
    flow (a limit on one step leaves every other step's errors unjudged)."""
    extra = tuple(parse_threshold(d) for d in defaults)

    def judge(results: Sequence[RunResult]) -> tuple[ItemOutcome, ThresholdFacts]:
        outcomes, partial = _judged(results, metrics, extra, whole_flow)
        measured = [(r, t) for r, t in outcomes if t.measured is not None]
        failed = [(r, t) for r, t in measured if not t.passed]
        unmeasured = [(r, t) for r, t in outcomes if t.measured is None]
        # the rows' words ("detail") are added where the evidence is written (fpt.report.checklist)
        ev = {"thresholds": [{"test": r.name, "expr": t.expr, "measured": t.measured, "passed": t.passed}
                             for r, t in outcomes]}
        facts = ThresholdFacts(why=Limits.MET, measured=len(measured),
                               thresholds=tuple(TestThreshold(test=r.name, outcome=t) for r, t in outcomes))
        status, why, shown = PASSED, Limits.MET, measured
        if failed:
            status, why, shown = FAILED, Limits.FAILED, failed
        elif unmeasured:
            status, why, shown = NOT_EVIDENCED, Limits.UNMEASURED, unmeasured
        elif partial:
            status, why = NOT_EVIDENCED, Limits.PARTIAL
        elif not measured:
            status, why = NOT_EVIDENCED, Limits.NONE_SET
        tests = (tuple(dict.fromkeys(p.test for p in partial)) if why is Limits.PARTIAL
                 else names(r for r, _ in shown))
        facts = dataclasses.replace(facts, why=why, shown=tuple(t for _, t in shown[:EXAMPLES])
                                    if why in (Limits.FAILED, Limits.UNMEASURED) else (),
                                    partial=tuple(partial[:EXAMPLES]))
        return ItemOutcome(name=name, status=status, tests=tests, evidence=ev, facts=facts), facts
    return judge


def threshold_item(name: str, metrics: Callable[[str], bool], defaults: Sequence[str] = (),
                   whole_flow: bool = False) -> Item:
    """The judge of an item made of the runs' thresholds whose metric ``metrics`` accepts
    (``defaults``: measured on every run that sets none of that metric)."""
    judge = _thresholds(name, metrics, defaults, whole_flow)
    return lambda results: judge(results)[0]


E = TypeVar("E")


def _worst(runs: list[tuple[RunResult, E]], status_of: Callable[[E], Status]
           ) -> tuple[Status, Recovery, list[tuple[RunResult, E]]]:
    """The load-type item's status over ``runs`` (any failed, else any passed, else not evidenced),
    its reason, and the runs that show it."""
    by = {s: [(r, e) for r, e in runs if status_of(e) is s] for s in Status}
    status = next(s for s in (Status.FAILED, Status.PASSED, Status.NOT_EVIDENCED) if by[s])
    why = {Status.FAILED: Recovery.FAILED, Status.PASSED: Recovery.PASSED}.get(status, Recovery.NOT_SHOWN)
    return status, why, by[status]


def stress(results: Sequence[RunResult]) -> ItemOutcome:
    """``performance.stress_recovery``: a stair broke and the service recovered in time."""
    name = "performance.stress_recovery"
    runs = [(r, r.load.stress) for r in results if r.load.stress is not None]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, facts=StressFacts(why=Recovery.NO_RUN))
    ev = {"runs": [{"test": r.name, **st.to_dict(), "recovered": recovered(st), "kind": str(stress_kind(st))}
                   for r, st in runs]}
    # Holding every stair shows no breaking point, and a break without a watched recovery window
    # shows nothing about recovery.
    status, why, shown = _worst(runs, stress_status)
    return ItemOutcome(name=name, status=status, tests=names(r for r, _ in shown), evidence=ev,
                       facts=StressFacts(why=why, shown=tuple(
                           StressRun(test=r.name, kind=stress_kind(st), evidence=st)
                           for r, st in shown[:EXAMPLES])))


def spike(results: Sequence[RunResult]) -> ItemOutcome:
    """``performance.spike``: errors during it within limit, back to baseline in time."""
    name = "performance.spike"
    runs = [(r, r.load.spike) for r in results if r.load.spike is not None]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, facts=SpikeFacts(why=Recovery.NO_RUN))
    ev = {"runs": [{"test": r.name, **sp.to_dict(), "passed": spike_passed(sp), "kind": str(spike_kind(sp))}
                   for r, sp in runs]}
    status, why, shown = _worst(runs, spike_status)
    return ItemOutcome(name=name, status=status, tests=names(r for r, _ in shown), evidence=ev,
                       facts=SpikeFacts(why=why, shown=tuple(
                           SpikeRun(test=r.name, kind=spike_kind(sp), evidence=sp)
                           for r, sp in shown[:EXAMPLES])))


def _summary(s: ResourceSeries) -> Mapping[str, Json]:
    """``s``'s summary figures as item evidence: plain values, but mypy reads a TypedDict's values
    as ``object``, never as :data:`~fpt.evidence.findings.Json`."""
    return cast(Mapping[str, Json], s.summary())


_soak_thresholds = _thresholds("performance.soak_memory", lambda m: m == "service_rss_growth")


def soak(results: Sequence[RunResult]) -> ItemOutcome:
    """``performance.soak_memory``: the service's own RSS growth within limit over a long enough span."""
    # The default limit applies only where it can be measured: a run that sampled the service
    # long enough. Elsewhere it would be 'not evidenced' noise on every short run.
    long_runs = [r for r in results
                 if any(rss_span(s) >= r.load.soak_min_span for s in service_series(r.resources))]
    default = parse_threshold(DEFAULT_SOAK[0])
    outcome, facts = _soak_thresholds([_with_default(r, default) if r in long_runs else r
                                       for r in results])
    sampled = [r for r in results if service_series(r.resources)]
    ev: dict[str, Json] = {
        **outcome.evidence,
        "service": [{"test": r.name, **_summary(s), "rss_span_s": round(rss_span(s), 3),
                     "soak_min_span_s": r.load.soak_min_span}
                    for r in sampled for s in service_series(r.resources)],
        # fpt's own memory, so a harness leak is never blamed on the service
        "fpt": [{"test": r.name, **_summary(s)} for r in results for s in harness_series(r.resources)]}
    if outcome.status == NOT_EVIDENCED and not sampled:
        return ItemOutcome(name=outcome.name, status=NOT_EVIDENCED, evidence=ev,
                           facts=dataclasses.replace(facts, why=Limits.NOT_SAMPLED))
    own = any(parse_threshold(t.expr).metric == default.metric for r in results for t in r.thresholds)
    if outcome.status == NOT_EVIDENCED and not long_runs and not own:
        best = max((rss_span(s) for r in sampled for s in service_series(r.resources)), default=0.0)
        return ItemOutcome(name=outcome.name, status=NOT_EVIDENCED, tests=names(sampled), evidence=ev,
                           facts=dataclasses.replace(facts, why=Limits.SHORT_SPAN, best_span=best,
                                                     min_span=min(r.load.soak_min_span for r in sampled)))
    return dataclasses.replace(outcome, evidence=ev)


_volume_thresholds = _thresholds("performance.volume", lambda m: m == "volume_p90_growth")


def volume(results: Sequence[RunResult]) -> ItemOutcome:
    """``performance.volume``: p90 growth with seeded records per user within limit."""
    default = parse_threshold(DEFAULT_VOLUME[0])
    runs = [r for r in results if r.load.volume is not None]
    outcome, facts = _volume_thresholds([_with_default(r, default) if r in runs else r for r in results])
    if not runs:
        return ItemOutcome(name=outcome.name, status=NOT_EVIDENCED, evidence=outcome.evidence,
                           facts=dataclasses.replace(facts, why=Limits.NO_VOLUME_RUN))
    ev = {**outcome.evidence, "volumes": [{"test": r.name, **r.load.volume.to_dict()}
                                          for r in runs if r.load.volume]}
    return dataclasses.replace(outcome, evidence=ev)


def _with_default(r: RunResult, th: Threshold) -> RunResult:
    """``r`` with ``th`` measured on it, unless it set a limit on that metric itself."""
    if any(parse_threshold(t.expr).metric == th.metric for t in r.thresholds):
        return r
    return dataclasses.replace(r, thresholds=(*r.thresholds, measure(r, th)))


def is_latency(metric: str) -> bool:
    """A response-time metric (``p90``, ``max``, ``mean``)."""
    return metric.startswith("p") or metric in ("max", "mean")
