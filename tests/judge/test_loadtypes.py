"""fpt.judge.loadtypes verdicts on recorded stress and spike evidence, table-driven both ways."""

from __future__ import annotations

from typing import Any

import pytest

from fpt.evidence.loadtypes import Breach, BreachKind, SpikeEvidence, Stair, StressEvidence
from fpt.judge.loadtypes import (
    SpikeKind,
    StressKind,
    spike_kind,
    spike_status,
    stress_kind,
    stress_status,
    worst_spike,
    worst_stress,
)
from fpt.judge.outcome import Status
from fpt.report.loadtypes import spike_line, stress_line

X = Breach(kind=BreachKind.WRITTEN, words="latency: x")
STAIRS = (Stair(rate=10, start=0, seconds=1, iterations=10, p90_ms=5, error_rate=0),
          Stair(rate=20, start=1, seconds=1, iterations=20, p90_ms=500, error_rate=0, broke=(X,)))


def stress(**kw: Any) -> StressEvidence:
    base: dict[str, Any] = dict(stairs=STAIRS, held_rate=10, broke_rate=20, how=(X,),
                                recovery_rate=10, recovery_start=2.0, recovery_seconds=6.0,
                                recovery_within=3.0, recovered_after=1.0, recovery_iterations=50)
    return StressEvidence(**{**base, **kw})


@pytest.mark.parametrize(("ev", "kind", "status", "words"), [
    (stress(), StressKind.RECOVERED, Status.PASSED, "recovered at 10/s after 1s"),
    (stress(recovered_after=3.0), StressKind.RECOVERED, Status.PASSED, "after 3s (limit 3s)"),
    (stress(recovered_after=4.0), StressKind.NOT_RECOVERED, Status.FAILED, "did NOT recover"),
    (stress(recovered_after=None), StressKind.NOT_RECOVERED, Status.FAILED, "did NOT recover"),
    (stress(recovery_iterations=0), StressKind.RECOVERY_NOT_OBSERVED, Status.NOT_EVIDENCED,
     "recovery not observed"),
    (stress(recovery_start=None), StressKind.RECOVERY_NOT_OBSERVED, Status.NOT_EVIDENCED,
     "recovery not observed"),
    (stress(broke_rate=None, how=(), stairs=STAIRS[:1]), StressKind.HELD_EVERY_STAIR, Status.NOT_EVIDENCED,
     "every stair held (up to 10/s)"),
])
def test_stress(ev: StressEvidence, kind: StressKind, status: Status, words: str) -> None:
    assert (stress_kind(ev), stress_status(ev)) == (kind, status)
    assert words in stress_line(ev)


def spike(**kw: Any) -> SpikeEvidence:
    base: dict[str, Any] = dict(base=10, peak=40, start=1.0, end=2.0, baseline_p90_ms=5.0,
                                baseline_error_rate=0.0, during_iterations=40, during_error_rate=0.0,
                                during_p90_ms=9.0, error_limit=0.01, after_seconds=3.0, back_after=1.0,
                                within=2.0)
    return SpikeEvidence(**{**base, **kw})


@pytest.mark.parametrize(("ev", "kind", "status", "words"), [
    (spike(), SpikeKind.BACK, Status.PASSED, "back to baseline after 1s"),
    (spike(during_error_rate=0.02), SpikeKind.ERRORS_OVER, Status.FAILED, "(limit 1%: OVER)"),
    (spike(error_limit=None, during_error_rate=0.001), SpikeKind.ERRORS_OVER, Status.FAILED,
     "no errors allowed"),
    (spike(back_after=None), SpikeKind.NOT_BACK, Status.FAILED, "NOT back to baseline within 3s watched"),
    (spike(back_after=2.5), SpikeKind.NOT_BACK, Status.FAILED, "back to baseline after"),
    (spike(baseline_p90_ms=None), SpikeKind.NOT_EVIDENCED, Status.NOT_EVIDENCED, "spike: not evidenced"),
    (spike(during_iterations=0), SpikeKind.NOT_EVIDENCED, Status.NOT_EVIDENCED, "spike: not evidenced"),
    (spike(after_seconds=1.0), SpikeKind.NOT_EVIDENCED, Status.NOT_EVIDENCED, "spike: not evidenced"),
])
def test_spike(ev: SpikeEvidence, kind: SpikeKind, status: Status, words: str) -> None:
    assert (spike_kind(ev), spike_status(ev)) == (kind, status)
    assert words in spike_line(ev)


def test_the_worst_part_stands_for_a_merge() -> None:
    assert worst_stress([stress(), stress(recovered_after=None), stress(recovery_iterations=0)]) \
        == stress(recovered_after=None)
    # A part that recovered never vouches for one that showed nothing (it did before: ranked on 'broke').
    assert worst_stress([stress(), stress(recovery_iterations=0)]) == stress(recovery_iterations=0)
    assert worst_spike([spike(), spike(back_after=None), spike(during_error_rate=0.5)]) in (
        spike(back_after=None), spike(during_error_rate=0.5))
    assert spike_status(worst_spike([spike(), spike(baseline_p90_ms=None)])) is Status.NOT_EVIDENCED
