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
from typing import Any

from fpt.config.thresholds import Threshold, ThresholdOutcome, evaluate
from fpt.evidence.loadtypes import (
    FLOW,
    HOLD_SECONDS,
    LoadEvidence,
    SpikeEvidence,
    Stair,
    StressEvidence,
    VolumeStep,
)
from fpt.evidence.metrics import Metrics, StepMetrics
from fpt.evidence.resources import HARNESS, ResourceSeries

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
           rate: float | None = None, seconds: float = 0.0) -> tuple[str, ...]:
    """How a window broke its thresholds, one phrase per broken threshold (empty: it held).

    ``throughput`` and ``dropped`` are judged when ``rate`` is given: iterations that
    finished in the window against those due (``drops``).
    """
    out = []
    for th in thresholds:
        if th.metric in ("throughput", "dropped"):
            flow = merged.get(FLOW)
            if rate is None or not rate or not seconds:
                continue
            ratio = (flow.count if flow else 0) / (rate * seconds)
            value = ratio if th.metric == "throughput" else max(0.0, 1.0 - ratio)
            if not th.holds(value):
                out.append(f"drops: {th.expr} measured {th.show(value)}")
            continue
        if not is_window_metric(th.metric):
            continue
        sm = merged.get(th.step or FLOW)
        if sm is None or not sm.count:
            continue
        value = _value(th, sm)
        if not th.holds(value):
            kind = "errors" if th.metric == "errors" else "latency"
            out.append(f"{kind}: {th.expr} measured {th.show(value)}")
    return tuple(out)


def window_outcome(metrics: Metrics, lo: float, hi: float, th: Threshold, *, due: float = 0.0
                   ) -> ThresholdOutcome:
    """One threshold judged on the whole seconds ``[lo, hi)`` only (the stairs that held).

    ``throughput`` and ``dropped`` compare the iterations that finished there with ``due``.
    """
    what = f"seconds {lo:g}-{hi:g}"
    flow = window(metrics, lo, hi).get(FLOW)
    if th.metric in ("throughput", "dropped"):
        if not due:
            return evaluate(th, None, f"no iteration was due in the stairs that held ({what})")
        ratio = min(1.0, (flow.count if flow else 0) / due)
        return evaluate(th, ratio if th.metric == "throughput" else 1.0 - ratio, "")
    if not is_window_metric(th.metric):
        return evaluate(th, None, f"{th.metric} is not judged on a window of seconds")
    sm = window(metrics, lo, hi).get(th.step or FLOW)
    if sm is None or not sm.count:
        return evaluate(th, None, f"nothing finished in the stairs that held ({what})")
    return evaluate(th, _value(th, sm), "")


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
                ) -> tuple[str, ...]:
    """How the stair over ``[lo, hi)`` at ``rate`` broke (empty: it held); the run's tick and the
    judgement after it use this same rule."""
    m = window(metrics, lo, hi)
    why = broken(m, thresholds, rate=rate, seconds=hi - lo)
    flow = m.get(FLOW)
    if rate > 0 and (flow is None or not flow.count):
        # Nothing came back within the stair: a hang is a break, never a stair that held.
        why = (*why, "drops: no iteration finished within the stair")
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


def first_step(metrics: Metrics, before: Stair | None, bad: Stair) -> str:
    """The step that broke first at ``bad``: the most errors, else the largest p90 growth over ``before``."""
    now = window(metrics, bad.start, bad.start + bad.seconds)
    prev = window(metrics, before.start, before.start + before.seconds) if before else {}
    names = [n for n, m in now.items() if n not in (FLOW, "*") and m.count]
    if not names:
        return ""
    worst = max(names, key=lambda n: now[n].error_rate)
    if now[worst].error_rate > 0:
        return f"{worst}: {now[worst].error_rate * 100:.1f}% errors"

    def growth(n: str) -> float:
        p = prev.get(n)
        base = p.hist.percentile(90) if p is not None and p.count else 0.0
        return now[n].hist.percentile(90) / base if base > 0 else 0.0

    slow = max(names, key=growth)
    p = prev.get(slow)
    was = f"{p.hist.percentile(90) / 1000:.1f}ms -> " if p is not None and p.count else ""
    return f"{slow}: p90 {was}{now[slow].hist.percentile(90) / 1000:.1f}ms"


def judge_stress(metrics: Metrics, steps: tuple[Stair, ...], thresholds: Sequence[Threshold], *,
                 recovery_rate: float | None, recovery_start: float | None, recovery_end: float,
                 recovery_within: float) -> StressEvidence:
    """The stress evidence of a step_up run whose stairs are ``steps`` and recovery window what followed."""
    bad = next((s for s in steps if s.broke), None)
    held = [s for s in steps if not s.broke]
    ev = StressEvidence(stairs=steps, held_rate=held[-1].rate if held else None,
                        broke_rate=bad.rate if bad else None, how=bad.broke if bad else (),
                        first_step=first_step(metrics, held[-1] if held else None, bad) if bad else "",
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




# -- the run's load-type evidence -------------------------------------------------------------------








def load_failures(load: LoadEvidence) -> list[str]:
    """Why the run fails as a stress or spike test (empty when it does not, or was neither)."""
    out = []
    st = load.stress
    if st is not None and st.broke and st.recovered is not True:
        out.append(st.describe())
    sp = load.spike
    if sp is not None and sp.passed is not True:
        out.append(sp.describe())
    return out


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


def service_rss_growth(resources: Sequence[ResourceSeries], min_span: float) -> tuple[float | None, str]:
    """The largest service RSS growth (first minute to end, as a ratio: 0.1 = +10%) and why if unknown."""
    services = service_series(resources)
    if not services:
        return None, "no service resources sampled (set service_pids or metrics_url, or pass service_pid=)"
    gone = [s for s in services if s.gone_at is not None]
    if gone:
        # A process that exited took its memory with it: its trend is cut short, not flat.
        return None, f"{gone[0].source} exited at {gone[0].gone_at:.0f}s: its memory trend is cut short"
    spans = [(s, rss_span(s)) for s in services]
    long_enough = [s for s, span in spans if span >= min_span and s.rss_growth is not None]
    if not long_enough:
        best = max(span for _, span in spans)
        return None, f"service RSS samples span {best:.0f}s, under soak_min_span {min_span:g}s"
    return max((s.rss_growth or 1.0) - 1.0 for s in long_enough), ""


def _mib(v: float | None) -> str:
    return "?" if v is None else f"{v / 2**20:.1f}MiB"


def resource_line(resources: Sequence[ResourceSeries]) -> str | None:
    """One line: service RSS first-minute -> end, CPU mean/max, fds max; fpt's own RSS."""
    if not resources:
        return None
    parts = []
    for s in service_series(resources):
        cpu = (f"CPU mean {s.cpu_mean:.0f}% max {s.cpu_max:.0f}%" if s.cpu_mean is not None
               else "CPU ?")
        growth = f" ({(s.rss_growth - 1) * 100:+.1f}%)" if s.rss_growth is not None else ""
        parts.append(f"{s.source} RSS {_mib(s.rss_first_minute)} -> {_mib(s.rss_end)}{growth}, {cpu}, "
                     f"fds max {s.fds_max if s.fds_max is not None else '?'}"
                     + (f", {s.gaps} gaps" if s.gaps else ""))
    for s in harness_series(resources):
        parts.append(f"fpt's own RSS {_mib(s.rss_first_minute)} -> {_mib(s.rss_end)}")
    return "resources: " + "; ".join(parts)


def load_lines(load: LoadEvidence, resources: Sequence[ResourceSeries]) -> list[str]:
    """The run summary's lines for resources, stress, spike and volume (only those the run had)."""
    lines = [resource_line(resources)]
    lines += [x.describe() if x is not None else None for x in (load.stress, load.spike, load.volume)]
    return [x for x in lines if x]


def resources_evidence(resources: Sequence[ResourceSeries]) -> list[dict[str, Any]]:
    """Per-source summaries as plain data (for ``fpt-dod.json`` and the HTML report)."""
    return [{**s.summary(), "role": "fpt" if s in harness_series(resources) else "service",
             "rss_span_s": round(rss_span(s), 3)} for s in resources]
