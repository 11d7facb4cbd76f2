"""Stress, spike, volume and resources in words: the run summary's lines and the failure message's
(from the evidence and :mod:`fpt.judge.loadtypes`'s verdicts)."""

from __future__ import annotations

from collections.abc import Sequence

from fpt.config.thresholds import parse_threshold
from fpt.evidence.loadtypes import (
    FLOW,
    Breach,
    BreachKind,
    FirstStep,
    LoadEvidence,
    SpikeEvidence,
    StressEvidence,
    VolumeEvidence,
)
from fpt.evidence.resources import ResourceSeries
from fpt.judge.loadtypes import (
    StressKind,
    harness_series,
    service_series,
    spike_errors_ok,
    spike_evidenced,
    stress_kind,
)


def breach_words(b: Breach) -> str:
    """One way a stair broke: ``latency: p90<100ms measured 250.0ms``."""
    if b.kind is BreachKind.WRITTEN:
        return b.words
    if b.kind is BreachKind.NOTHING_FINISHED:
        return "drops: no iteration finished within the stair"
    try:
        shown = parse_threshold(b.expr).show(b.measured)
    except ValueError:  # a file fpt cannot read the threshold of: its number as it is
        shown = f"{b.measured:g}"
    return f"{b.kind}: {b.expr} measured {shown}"


def first_step_words(f: FirstStep) -> str:
    """The step that broke first: ``search: 12.5% errors`` or ``search: p90 20.0ms -> 250.0ms``."""
    if f.words:
        return f.words
    if f.error_rate > 0:
        return f"{f.step}: {f.error_rate * 100:.1f}% errors"
    was = f"{f.p90_before_ms:.1f}ms -> " if f.p90_before_ms is not None else ""
    return f"{f.step}: p90 {was}{f.p90_ms:.1f}ms"


def how_words(st: StressEvidence) -> str:
    """How the breaking stair broke, every breach in a phrase joined by ``; ``."""
    return "; ".join(breach_words(b) for b in st.how)


def stress_line(st: StressEvidence) -> str:
    """One line: held, broke, how, recovered."""
    kind = stress_kind(st)
    if kind is StressKind.HELD_EVERY_STAIR:
        top = st.stairs[-1].rate if st.stairs else 0.0
        return f"stress: every stair held (up to {top:g}/s): no breaking point found"
    held = f"{st.held_rate:g}/s" if st.held_rate is not None else "no stair"
    first = f"; first: {first_step_words(st.first_step)}" if st.first_step is not None else ""
    line = f"stress: held {held}, broke at {st.broke_rate:g}/s ({how_words(st)}{first})"
    if kind is StressKind.RECOVERY_NOT_OBSERVED:
        return line + "; recovery not observed"
    if kind is StressKind.RECOVERED:
        return (line + f"; recovered at {st.recovery_rate:g}/s after {st.recovered_after:.0f}s "
                f"(limit {st.recovery_within:g}s)")
    return (line + f"; did NOT recover at {st.recovery_rate:g}/s within {st.recovery_within:g}s "
            f"({st.recovery_seconds:.0f}s watched)")


def spike_line(sp: SpikeEvidence) -> str:
    """One line: errors during the spike, p90, and the way back."""
    if not spike_evidenced(sp):
        return "spike: not evidenced (no baseline, no iteration during the spike, or no time after it)"
    back = (f"back to baseline after {sp.back_after:.0f}s" if sp.back_after is not None
            else f"NOT back to baseline within {sp.after_seconds:.0f}s watched")
    limit = f"limit {sp.error_limit * 100:g}%" if sp.error_limit is not None else "no errors allowed"
    over = "" if spike_errors_ok(sp) else ": OVER"
    errors = f"{(sp.during_error_rate or 0) * 100:.2f}% errors during ({limit}{over})"
    return (f"spike {sp.base:g}/s -> {sp.peak:g}/s: {errors}, p90 {sp.during_p90_ms or 0:.1f}ms "
            f"(baseline {sp.baseline_p90_ms:.1f}ms); {back} (limit {sp.within:g}s)")


def volume_line(v: VolumeEvidence) -> str:
    """One line: p90 per volume, and its growth or why it is not shown."""
    parts = [f"{s.volume}: {s.p90_ms.get(FLOW, float('nan')):.1f}ms" for s in v.steps]
    g = v.growth()
    failed = next((s for s in v.steps if s.seed_failures), None)
    why = (f" (growth not shown: seeding {failed.volume} failed for {failed.seed_failures} users, "
           f"e.g. {failed.seed_error})" if failed else " (growth not shown)")
    return f"volume p90 by records per user {', '.join(parts)}" + (
        f" (growth {g * 100:+.0f}%)" if g is not None else why)


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
    lines = [resource_line(resources),
             stress_line(load.stress) if load.stress is not None else None,
             spike_line(load.spike) if load.spike is not None else None,
             volume_line(load.volume) if load.volume is not None else None]
    return [x for x in lines if x]
