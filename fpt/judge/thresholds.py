"""The one threshold evaluator: a threshold measured on a run result and judged."""

from __future__ import annotations

from fpt.config.thresholds import (
    GROWTH_METRICS,
    Threshold,
    ThresholdOutcome,
    Unmeasurable,
    Unmeasured,
    evaluate,
)
from fpt.evidence.loadtypes import VolumeEvidence
from fpt.evidence.metrics import StepMetrics
from fpt.evidence.result import RunResult
from fpt.judge.loadtypes import service_rss_growth, window_outcome


def _unshown(vol: VolumeEvidence) -> Unmeasured:
    failed = next((s for s in vol.steps if s.seed_failures), None)
    if failed is not None:
        return Unmeasured(why=Unmeasurable.VOLUME_SEEDING_FAILED, volume=failed.volume,
                          failures=failed.seed_failures, source=failed.seed_error)
    return Unmeasured(why=Unmeasurable.TOO_FEW_VOLUMES)


def measure(r: RunResult, th: Threshold) -> ThresholdOutcome:
    """Measure and judge one threshold on this result.

    A stress run that broke is expected to: its latency, error and throughput
    thresholds speak for the stairs that held (the break and the recovery are
    judged as stress evidence).
    """
    st = r.load.stress
    if st is not None and st.broke and th.metric not in GROWTH_METRICS:
        held = [s for s in st.stairs if not s.broke]
        end = max((s.start + s.seconds for s in held), default=0.0)
        return window_outcome(r.metrics, 0.0, end, th, due=sum(s.rate * s.seconds for s in held))
    if th.metric == "throughput":
        return evaluate(th, r.throughput_ratio if r.engine.planned else None, Unmeasurable.NO_ITERATION_DUE)
    if th.metric == "dropped":
        return evaluate(th, r.dropped_ratio if r.engine.planned else None, Unmeasurable.NO_ITERATION_DUE)
    if th.metric == "service_rss_growth":
        growth, why = service_rss_growth(r.resources, r.load.soak_min_span)
        return evaluate(th, growth, why)
    if th.metric == "volume_p90_growth":
        vol = r.load.volume
        growth = vol.growth(th.step) if vol is not None else None
        if vol is None:
            return evaluate(th, None, Unmeasurable.NO_VOLUME_RUN)
        return evaluate(th, growth, _unshown(vol) if growth is None else None)
    m: StepMetrics | None = r.metrics.steps.get(th.step) if th.step else r.metrics.flow
    if m is None or m.count == 0:
        ran = Unmeasurable.STEP_NEVER_RAN if th.step else Unmeasurable.NO_ITERATION_COMPLETED
        return evaluate(th, None, ran)
    if th.metric == "errors":
        return evaluate(th, m.error_rate)
    if th.metric == "max":
        return evaluate(th, m.hist.max / 1000.0)
    if th.metric == "mean":
        return evaluate(th, m.hist.mean / 1000.0)
    return evaluate(th, m.hist.percentile(float(th.metric[1:])) / 1000.0)
