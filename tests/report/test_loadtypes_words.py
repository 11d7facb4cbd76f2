"""A stress run's breaches and first broken step: typed in the evidence, worded in fpt.report.loadtypes,
and read back from files (old files held the phrases themselves)."""

from __future__ import annotations

import json

import pytest

from fpt.evidence.loadtypes import Breach, BreachKind, FirstStep, Stair, StressEvidence
from fpt.report.loadtypes import breach_words, first_step_words, stress_line

K = BreachKind


@pytest.mark.parametrize(("breach", "words"), [
    (Breach(kind=K.LATENCY, expr="p90<100ms", measured=250.0), "latency: p90<100ms measured 250.0ms"),
    (Breach(kind=K.ERRORS, expr="errors<5%", measured=0.2), "errors: errors<5% measured 20.00%"),
    (Breach(kind=K.DROPS, expr="throughput>=90%", measured=0.4), "drops: throughput>=90% measured 40.00%"),
    (Breach(kind=K.NOTHING_FINISHED), "drops: no iteration finished within the stair"),
    # measured 0 is the default, left out of the file: read back as 0, still a breach
    (Breach(kind=K.DROPS, expr="throughput>=90%", measured=0.0), "drops: throughput>=90% measured 0.00%"),
    (Breach(kind=K.WRITTEN, words="latency: as an old fpt wrote it"), "latency: as an old fpt wrote it"),
    (Breach(kind=K.LATENCY, expr="not a threshold", measured=2.5), "latency: not a threshold measured 2.5"),
])
def test_each_breach_has_its_words_and_survives_a_file(breach: Breach, words: str) -> None:
    assert breach_words(breach) == words
    assert Breach.from_dict(json.loads(json.dumps(breach.to_dict()))) == breach


@pytest.mark.parametrize(("first", "words"), [
    (FirstStep(step="search", error_rate=0.125), "search: 12.5% errors"),
    (FirstStep(step="search", p90_before_ms=20.0, p90_ms=250.0), "search: p90 20.0ms -> 250.0ms"),
    (FirstStep(step="search", p90_ms=250.0), "search: p90 250.0ms"),
])
def test_the_first_broken_step_in_words(first: FirstStep, words: str) -> None:
    assert first_step_words(first) == words


def test_stress_evidence_round_trips_and_an_old_file_keeps_its_phrases() -> None:
    stair = Stair(rate=20, start=1, seconds=1, iterations=20, p90_ms=500, error_rate=0,
                  broke=(Breach(kind=K.LATENCY, expr="p90<100ms", measured=500.0),))
    st = StressEvidence(stairs=(stair,), held_rate=None, broke_rate=20, how=stair.broke,
                        first_step=FirstStep(step="search", p90_ms=500.0))
    assert StressEvidence.from_dict(json.loads(json.dumps(st.to_dict()))) == st
    line = stress_line(st)
    assert "broke at 20/s (latency: p90<100ms measured 500.0ms; first: search: p90 500.0ms)" in line
    old = json.loads(json.dumps(st.to_dict()))
    old["how"] = ["latency: p90<100ms measured 500.0ms"]
    old["stairs"][0]["broke"] = ["latency: p90<100ms measured 500.0ms"]
    old["first_step"] = "search: p90 500.0ms"
    again = StressEvidence.from_dict(old)
    assert again.broke  # still broke: an old file's verdict is unchanged
    assert again.stairs[0].broke
    assert stress_line(again) == line
