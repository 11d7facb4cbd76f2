"""The five kinds of load test, judged: stress (break, then recover), spike, soak, volume.

Evidence is recorded by the runner (per-second metrics, the service's resources,
volumes seeded) and judged here, after the run, as pure functions of it:

- **stress** (``step_up``): each stair judged on its own seconds; the last rate that
  held, the rate that broke and *how* (latency, errors, drops); then a recovery
  window at a safe rate, and whether p90 and errors came back within the
  thresholds within ``recovery_within``.
- **spike** (``spike``): errors during the spike, and the time back to the
  baseline p90 and error rate after it.
- **soak**: the service's own RSS growth (``service_rss_growth<10%``), judged only
  on samples spanning ``soak_min_span``; fpt's own RSS is kept apart.
- **volume**: the flow run at several seeded volumes; p90 per volume and its growth
  (``volume_p90_growth<50%``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import Any, TypedDict

from fpt.config.thresholds import Threshold, ThresholdOutcome, Unmeasurable, Unmeasured, evaluate
from fpt.evidence.findings import Json
from fpt.evidence.loadtypes import (
    FLOW,
    HOLD_SECONDS,
    Breach,
    BreachKind,
    FirstStep,
    LoadEvidence,
    SpikeEvidence,
    Stair,
    StressEvidence,
    VolumeStep,
)
from fpt.evidence.loadtypes import merge_load as _merge_load
from fpt.evidence.metrics import Metrics, StepMetrics
from fpt.evidence.resources import HARNESS, ResourceSeries, ResourceSummary
from fpt.judge.outcome import Status

SPIKE_P90_FACTOR = 2.0
"""After a spike, p90 is back when within this multiple of the baseline p90 (or 5 ms above it)."""
SPIKE_P90_SLACK_MS = 5.0
SPIKE_ERROR_SLACK = 0.01
"""After a spike, the error rate is back when within one point of the baseline's."""




def window(metrics: Metrics, lo: float, hi: float) -> dict[str, StepMetrics]:
    """Per-step metrics (``@flow`` for iterations) of the whole seconds in ``[lo, hi)``.

    Past an hour the series' buckets are coarser than a second (``Metrics.resolution``):
    then the buckets that start in the window, or the one that holds ``lo``.
    """
    merged: dict[str, StepMetrics] = {}
    for bucket in metrics.window(lo, hi):
        for name, m in bucket.items():
            merged.setdefault(name, StepMetrics(1)).merge(m)
    return merged


def _value(th: Threshold, sm: StepMetrics) -> float:
    if th.metric == "errors":
        return sm.error_rate
    if th.metric in ("max", "mean"):
        return (sm.hist.max if th.metric == "max" else sm.hist.mean) / 1000.0
    return sm.hist.percentile(float(th.metric[1:])) / 1000.0


def is_window_metric(metric: str) -> bool:
    """Thresholds a window of seconds can be judged on (latency and errors)."""
    return metric in ("errors", "max", "mean") or (metric.startswith("p") and metric[1:2].isdigit())


def broken(merged: Mapping[str, StepMetrics], thresholds: Iterable[Threshold], *,
           rate: float | None = None, seconds: float = 0.0) -> tuple[Breach, ...]:
    """How a window broke its thresholds, one breach per broken threshold (empty: it held).

    ``throughput`` and ``dropped`` are judged when ``rate`` is given: iterations that
    finished in the window against those due (``drops``).
    """
    out: list[Breach] = []
    for th in thresholds:
        if th.metric in ("throughput", "dropped"):
            flow = merged.get(FLOW)
            if rate is None or not rate or not seconds:
                continue
            ratio = (flow.count if flow else 0) / (rate * seconds)
            value = ratio if th.metric == "throughput" else max(0.0, 1.0 - ratio)
            if not th.holds(value):
                out.append(Breach(kind=BreachKind.DROPS, expr=th.expr, measured=value))
            continue
        if not is_window_metric(th.metric):
            continue
        sm = merged.get(th.step or FLOW)
        if sm is None or not sm.count:
            continue
        value = _value(th, sm)
        if not th.holds(value):
            kind = BreachKind.ERRORS if th.metric == "errors" else BreachKind.LATENCY
            out.append(Breach(kind=kind, expr=th.expr, measured=value))
    return tuple(out)


def window_outcome(metrics: Metrics, lo: float, hi: float, th: Threshold, *, due: float = 0.0
                   ) -> ThresholdOutcome:
    """One threshold judged on the whole seconds ``[lo, hi)`` only (the stairs that held).

    ``throughput`` and ``dropped`` compare the iterations that finished there with ``due``.
    """
    flow = window(metrics, lo, hi).get(FLOW)
    if th.metric in ("throughput", "dropped"):
        if not due:
            return evaluate(th, None, Unmeasured(why=Unmeasurable.NONE_DUE_IN_HELD_STAIRS, start=lo, end=hi))
        ratio = min(1.0, (flow.count if flow else 0) / due)
        return evaluate(th, ratio if th.metric == "throughput" else 1.0 - ratio)
    if not is_window_metric(th.metric):
        return evaluate(th, None, Unmeasurable.NOT_A_WINDOW_METRIC)
    sm = window(metrics, lo, hi).get(th.step or FLOW)
    if sm is None or not sm.count:
        nothing = Unmeasured(why=Unmeasurable.NOTHING_FINISHED_IN_HELD_STAIRS, start=lo, end=hi)
        return evaluate(th, None, nothing)
    return evaluate(th, _value(th, sm))


def _good(metrics: Metrics, sec: int, thresholds: Sequence[Threshold]) -> bool:
    m = window(metrics, sec, sec + 1)
    flow = m.get(FLOW)
    # A second with nothing finished shows nothing: it is not a good second.
    return flow is not None and flow.count > 0 and not broken(m, thresholds)


def back_after(metrics: Metrics, start: float, end: float, good: Any) -> float | None:
    """Seconds from ``start`` to the first of ``HOLD_SECONDS`` good whole seconds before ``end``."""
    first = int(-(-start // 1))  # whole seconds only: a partial second mixes before and after
    run = 0
    for sec in range(first, int(end)):
        run = run + 1 if good(sec) else 0
        if run == HOLD_SECONDS:
            return max(0.0, sec - HOLD_SECONDS + 1 - start)
    return None


# -- stress -----------------------------------------------------------------------------------------






def stair_broke(metrics: Metrics, lo: float, hi: float, rate: float, thresholds: Sequence[Threshold]
                ) -> tuple[Breach, ...]:
    """How the stair over ``[lo, hi)`` at ``rate`` broke (empty: it held); the run's tick and the
    judgement after it use this same rule."""
    m = window(metrics, lo, hi)
    why = broken(m, thresholds, rate=rate, seconds=hi - lo)
    flow = m.get(FLOW)
    if rate > 0 and (flow is None or not flow.count):
        # Nothing came back within the stair: a hang is a break, never a stair that held.
        why = (*why, Breach(kind=BreachKind.NOTHING_FINISHED))
    return why


def stairs(metrics: Metrics, rates: Sequence[float], every: float, thresholds: Sequence[Threshold],
           *, until: float) -> tuple[Stair, ...]:
    """Each whole stair that ran before ``until``, judged on its own seconds (stops at the first broken)."""
    out = []
    for k, rate in enumerate(rates):
        lo, hi = k * every, (k + 1) * every
        if hi > until + 1e-9:
            break
        flow = window(metrics, lo, hi).get(FLOW)
        why = stair_broke(metrics, lo, hi, rate, thresholds)
        out.append(Stair(rate=rate, start=lo, seconds=hi - lo, iterations=flow.count if flow else 0,
                         p90_ms=flow.hist.percentile(90) / 1000.0 if flow and flow.count else None,
                         error_rate=flow.error_rate if flow and flow.count else None, broke=why))
        if why:
            break
    return tuple(out)


def first_step(metrics: Metrics, before: Stair | None, bad: Stair) -> FirstStep | None:
    """The step that broke first at ``bad``: the most errors, else the largest p90 growth over ``before``."""
    now = window(metrics, bad.start, bad.start + bad.seconds)
    prev = window(metrics, before.start, before.start + before.seconds) if before else {}
    names = [n for n, m in now.items() if n not in (FLOW, "*") and m.count]
    if not names:
        return None
    worst = max(names, key=lambda n: now[n].error_rate)
    if now[worst].error_rate > 0:
        return FirstStep(step=worst, error_rate=now[worst].error_rate)

    def growth(n: str) -> float:
        p = prev.get(n)
        base = p.hist.percentile(90) if p is not None and p.count else 0.0
        return now[n].hist.percentile(90) / base if base > 0 else 0.0

    slow = max(names, key=growth)
    p = prev.get(slow)
    before_ms = p.hist.percentile(90) / 1000 if p is not None and p.count else None
    return FirstStep(step=slow, p90_before_ms=before_ms, p90_ms=now[slow].hist.percentile(90) / 1000)


def judge_stress(metrics: Metrics, steps: tuple[Stair, ...], thresholds: Sequence[Threshold], *,
                 recovery_rate: float | None, recovery_start: float | None, recovery_end: float,
                 recovery_within: float) -> StressEvidence:
    """The stress evidence of a step_up run whose stairs are ``steps`` and recovery window what followed."""
    bad = next((s for s in steps if s.broke), None)
    held = [s for s in steps if not s.broke]
    ev = StressEvidence(stairs=steps, held_rate=held[-1].rate if held else None,
                        broke_rate=bad.rate if bad else None, how=bad.broke if bad else (),
                        first_step=first_step(metrics, held[-1] if held else None, bad) if bad else None,
                        recovery_within=recovery_within)
    if bad is None or recovery_start is None:
        return ev
    rec = window(metrics, recovery_start, recovery_end).get(FLOW)
    after = back_after(metrics, recovery_start, recovery_end,
                       lambda sec: _good(metrics, sec, [t for t in thresholds if is_window_metric(t.metric)]))
    return replace(ev, recovery_rate=recovery_rate, recovery_start=recovery_start,
                   recovery_seconds=recovery_end - recovery_start, recovered_after=after,
                   recovery_iterations=rec.count if rec else 0)


# -- spike ------------------------------------------------------------------------------------------




def judge_spike(metrics: Metrics, *, base: float, peak: float, start: float, end: float, run_end: float,
                thresholds: Sequence[Threshold], within: float) -> SpikeEvidence:
    """Spike evidence from the per-second metrics: baseline ``[0, start)``, spike ``[start, end)``."""
    before = window(metrics, 0, start).get(FLOW)
    during = window(metrics, start, end).get(FLOW)
    base_p90 = before.hist.percentile(90) / 1000.0 if before and before.count else None
    base_err = before.error_rate if before and before.count else None
    limit = next((t.limit for t in thresholds if t.metric == "errors" and not t.step), None)

    def good(sec: int) -> bool:
        m = window(metrics, sec, sec + 1).get(FLOW)
        if m is None or not m.count or base_p90 is None:
            return False
        p90 = m.hist.percentile(90) / 1000.0
        return (p90 <= max(base_p90 * SPIKE_P90_FACTOR, base_p90 + SPIKE_P90_SLACK_MS)
                and m.error_rate <= (base_err or 0.0) + SPIKE_ERROR_SLACK)

    return SpikeEvidence(
        base=base, peak=peak, start=start, end=end, baseline_p90_ms=base_p90, baseline_error_rate=base_err,
        during_iterations=during.count if during else 0,
        during_error_rate=during.error_rate if during and during.count else None,
        during_p90_ms=during.hist.percentile(90) / 1000.0 if during and during.count else None,
        error_limit=limit, after_seconds=max(0.0, run_end - end),
        back_after=back_after(metrics, end, run_end, good), within=within)


# -- volume -----------------------------------------------------------------------------------------




def volume_step(volume: int, seeded: int, failures: int, metrics: Metrics, error: str = "") -> VolumeStep:
    """The figures of one volume's run."""
    p90 = {name: m.hist.percentile(90) / 1000.0 for name, m in metrics.steps.items() if m.count}
    if metrics.flow.count:
        p90[FLOW] = metrics.flow.hist.percentile(90) / 1000.0
    return VolumeStep(volume=volume, seeded_users=seeded, seed_failures=failures,
                      iterations=metrics.flow.count, p90_ms=p90,
                      error_rate=metrics.flow.error_rate if metrics.flow.count else None, seed_error=error)




# -- the verdicts: pure functions of the recorded evidence -----------------------------------------


class StressKind(StrEnum):
    """What a step_up run showed."""

    HELD_EVERY_STAIR = "held_every_stair"
    """no breaking point found: nothing to recover from"""
    RECOVERY_NOT_OBSERVED = "recovery_not_observed"
    """a stair broke, but no recovery window finished iterations"""
    RECOVERED = "recovered"
    """back within the thresholds within ``recovery_within``"""
    NOT_RECOVERED = "not_recovered"


def stress_kind(st: StressEvidence) -> StressKind:
    """What ``st`` shows."""
    if not st.broke:
        return StressKind.HELD_EVERY_STAIR
    if not st.recovery_observed:
        return StressKind.RECOVERY_NOT_OBSERVED
    if st.recovered_after is not None and st.recovered_after <= st.recovery_within:
        return StressKind.RECOVERED
    return StressKind.NOT_RECOVERED


def recovered(st: StressEvidence) -> bool | None:
    """Back within the thresholds within ``recovery_within``; ``None`` when nothing could show it."""
    kind = stress_kind(st)
    return None if kind in (StressKind.HELD_EVERY_STAIR, StressKind.RECOVERY_NOT_OBSERVED) \
        else kind is StressKind.RECOVERED


def stress_status(st: StressEvidence) -> Status:
    """Passed when it broke and recovered in time, failed when it did not recover, else not evidenced."""
    r = recovered(st)
    return Status.NOT_EVIDENCED if r is None else Status.PASSED if r else Status.FAILED


class SpikeKind(StrEnum):
    """What a spike run showed."""

    NOT_EVIDENCED = "not_evidenced"
    """no baseline, no iteration during the spike, or too little time watched after it"""
    ERRORS_OVER = "errors_over"
    """errors during the spike over the run's ``errors`` limit (none set: any error)"""
    NOT_BACK = "not_back"
    """not back to the baseline within ``within``"""
    BACK = "back"


def spike_evidenced(sp: SpikeEvidence) -> bool:
    """Baseline and spike both finished iterations, and some time after the spike was watched."""
    return sp.baseline_p90_ms is not None and sp.during_iterations > 0 and sp.after_seconds >= HOLD_SECONDS


def spike_errors_ok(sp: SpikeEvidence) -> bool:
    """Errors during the spike within the run's ``errors`` threshold (none set: any error fails)."""
    rate = sp.during_error_rate or 0.0
    return rate < sp.error_limit if sp.error_limit is not None else rate == 0.0


def spike_kind(sp: SpikeEvidence) -> SpikeKind:
    """What ``sp`` shows (errors first: a spike that failed requests failed, back or not)."""
    if not spike_evidenced(sp):
        return SpikeKind.NOT_EVIDENCED
    if not spike_errors_ok(sp):
        return SpikeKind.ERRORS_OVER
    if sp.back_after is None or sp.back_after > sp.within:
        return SpikeKind.NOT_BACK
    return SpikeKind.BACK


def spike_passed(sp: SpikeEvidence) -> bool | None:
    """Survived the spike and came back within ``within``; ``None`` when not evidenced."""
    kind = spike_kind(sp)
    return None if kind is SpikeKind.NOT_EVIDENCED else kind is SpikeKind.BACK


def spike_status(sp: SpikeEvidence) -> Status:
    """Passed, failed, or not evidenced."""
    p = spike_passed(sp)
    return Status.NOT_EVIDENCED if p is None else Status.PASSED if p else Status.FAILED


_RANK = {Status.FAILED: 0, Status.NOT_EVIDENCED: 1, Status.PASSED: 2}


def worst_stress(parts: Sequence[StressEvidence]) -> StressEvidence:
    """The part that stands for all when merged: one that did not recover, else one that shows
    nothing (a recovered part never vouches for one that showed nothing), else the slowest recovery."""
    return min(parts, key=lambda s: (_RANK[stress_status(s)], -(s.recovered_after or 0)))


def worst_spike(parts: Sequence[SpikeEvidence]) -> SpikeEvidence:
    """The part that stands for all when merged: a failed one, else the most errors during the spike."""
    return min(parts, key=lambda s: (_RANK[spike_status(s)], -(s.during_error_rate or 0)))


def merge_load(parts: Sequence[LoadEvidence]) -> LoadEvidence:
    """Workers' load evidence as one (:func:`fpt.evidence.loadtypes.merge_load`), never better than a part."""
    return _merge_load(parts, worst_stress=worst_stress, worst_spike=worst_spike)








# -- soak: the service's memory ---------------------------------------------------------------------


def service_series(resources: Sequence[ResourceSeries]) -> list[ResourceSeries]:
    """The service's series (every source but fpt's own process)."""
    return [s for s in resources if not (s.source == HARNESS or s.source.startswith(HARNESS + ":"))]


def harness_series(resources: Sequence[ResourceSeries]) -> list[ResourceSeries]:
    """fpt's own process series (one per xdist worker)."""
    return [s for s in resources if s.source == HARNESS or s.source.startswith(HARNESS + ":")]


def rss_span(s: ResourceSeries) -> float:
    """Seconds between the first and the last known RSS reading."""
    ts = [x.t for x in s.samples if x.rss_bytes is not None]
    return ts[-1] - ts[0] if len(ts) > 1 else 0.0


def service_rss_growth(resources: Sequence[ResourceSeries], min_span: float
                       ) -> tuple[float | None, Unmeasured | None]:
    """The largest service RSS growth (first minute to end, as a ratio: 0.1 = +10%) and why if unknown."""
    services = service_series(resources)
    if not services:
        return None, Unmeasured(why=Unmeasurable.NO_SERVICE_SAMPLED)
    gone = [s for s in services if s.gone_at is not None]
    if gone:
        # A process that exited took its memory with it: its trend is cut short, not flat.
        return None, Unmeasured(why=Unmeasurable.SERVICE_EXITED, source=gone[0].source,
                                seconds=gone[0].gone_at or 0.0)
    spans = [(s, rss_span(s)) for s in services]
    long_enough = [s for s, span in spans if span >= min_span and s.rss_growth is not None]
    if not long_enough:
        best = max(span for _, span in spans)
        return None, Unmeasured(why=Unmeasurable.SHORT_SPAN, seconds=best, needed=min_span)
    return max((s.rss_growth or 1.0) - 1.0 for s in long_enough), None


class LoadRow(TypedDict):
    """A run's load evidence in ``fpt-dod.json``: :meth:`LoadEvidence.to_dict` with the verdicts
    (``recovered`` in ``stress``, ``passed`` in ``spike``); each kind ``None`` when the run was not it."""

    stress: Mapping[str, Json] | None
    spike: Mapping[str, Json] | None
    volume: Mapping[str, Json] | None
    soak_min_span: float


class ResourceRow(ResourceSummary):
    """One series' summary in ``fpt-dod.json``: whose process it is (``fpt`` or ``service``) and how
    long its RSS readings span."""

    role: str
    rss_span_s: float


def load_row(load: LoadEvidence) -> LoadRow:
    """The load evidence as plain data with its verdicts (``recovered``, ``passed``), for ``fpt-dod.json``."""
    d = load.to_dict()
    stress, spike = d["stress"], d["spike"]
    if load.stress is not None:
        stress = {**stress, "recovered": recovered(load.stress)}
    if load.spike is not None:
        spike = {**spike, "passed": spike_passed(load.spike)}
    return {"stress": stress, "spike": spike, "volume": d["volume"], "soak_min_span": d["soak_min_span"]}


def resources_evidence(resources: Sequence[ResourceSeries]) -> list[ResourceRow]:
    """Per-source summaries as plain data (for ``fpt-dod.json`` and the HTML report)."""
    return [{**s.summary(), "role": "fpt" if s in harness_series(resources) else "service",
             "rss_span_s": round(rss_span(s), 3)} for s in resources]
