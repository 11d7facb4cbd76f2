"""A threshold as judged, in words: one row per reason a threshold can go unmeasured, and files from
an fpt that wrote the sentence itself."""

from __future__ import annotations

import json

import pytest

from fpt.config.thresholds import ThresholdOutcome, Unmeasurable, Unmeasured, evaluate, parse_threshold
from fpt.report.thresholds import threshold_words

U = Unmeasurable
WORDS = [
    ("p90<300ms", 250.0, None, "p90<300ms: measured 250.0ms ok"),
    ("p90<300ms", 350.0, None, "p90<300ms: measured 350.0ms FAILED"),
    ("throughput>90%", None, Unmeasured(why=U.NO_ITERATION_DUE),
     "throughput>90%: not evidenced (no iteration was due)"),
    ("p90<1s", None, Unmeasured(why=U.NO_ITERATION_COMPLETED),
     "p90<1s: not evidenced (no iteration completed)"),
    ("login:p90<1s", None, Unmeasured(why=U.STEP_NEVER_RAN),
     "login:p90<1s: not evidenced (step 'login' never ran)"),
    ("service_rss_growth<10%", None, Unmeasured(why=U.NOT_A_WINDOW_METRIC),
     "service_rss_growth<10%: not evidenced (service_rss_growth is not judged on a window of seconds)"),
    ("throughput>90%", None, Unmeasured(why=U.NONE_DUE_IN_HELD_STAIRS, start=0, end=12.5),
     "throughput>90%: not evidenced (no iteration was due in the stairs that held (seconds 0-12.5))"),
    ("p90<1s", None, Unmeasured(why=U.NOTHING_FINISHED_IN_HELD_STAIRS, start=0, end=4),
     "p90<1s: not evidenced (nothing finished in the stairs that held (seconds 0-4))"),
    ("service_rss_growth<10%", None, Unmeasured(why=U.NO_SERVICE_SAMPLED),
     "service_rss_growth<10%: not evidenced (no service resources sampled (set service_pids or metrics_url, "
     "or pass service_pid=))"),
    ("service_rss_growth<10%", None, Unmeasured(why=U.SERVICE_EXITED, source="pid:9", seconds=90.2),
     "service_rss_growth<10%: not evidenced (pid:9 exited at 90s: its memory trend is cut short)"),
    ("service_rss_growth<10%", None, Unmeasured(why=U.SHORT_SPAN, seconds=41.6, needed=60),
     "service_rss_growth<10%: not evidenced (service RSS samples span 42s, under soak_min_span 60s)"),
    ("volume_p90_growth<50%", None, Unmeasured(why=U.NO_VOLUME_RUN),
     "volume_p90_growth<50%: not evidenced (no volume run (seed_volume=))"),
    ("volume_p90_growth<50%", None, Unmeasured(why=U.VOLUME_SEEDING_FAILED, volume=10, failures=3,
                                                source="RuntimeError: down"),
     "volume_p90_growth<50%: not evidenced (volume p90 growth not shown: seeding 10 failed for 3 users, "
     "e.g. RuntimeError: down)"),
    ("volume_p90_growth<50%", None, Unmeasured(why=U.TOO_FEW_VOLUMES),
     "volume_p90_growth<50%: not evidenced (volume p90 growth not shown (two volumes with a p90 each are "
     "needed))"),
    ("p90<1s", None, Unmeasured(why=U.MERGED_NOT_JUDGED), "p90<1s: not evidenced (merged, not judged yet)"),
]


@pytest.mark.parametrize(("expr", "measured", "why", "words"), WORDS)
def test_every_outcome_has_its_words_and_survives_a_file(expr: str, measured: float | None,
                                                         why: Unmeasured | None, words: str) -> None:
    out = evaluate(parse_threshold(expr), measured, why)
    assert threshold_words(out) == words
    again = ThresholdOutcome.from_dict(json.loads(json.dumps(out.to_dict())))
    assert again == out
    assert threshold_words(again) == words


def test_every_reason_has_a_row() -> None:
    assert {w.why for _, _, w, _ in WORDS if w is not None} == set(Unmeasurable) - {Unmeasurable.WRITTEN}


def test_an_unmeasured_threshold_needs_its_reason() -> None:
    with pytest.raises(ValueError, match="needs its reason"):
        evaluate(parse_threshold("p90<1s"), None)


def test_a_file_from_an_fpt_that_wrote_sentences_is_read_and_shown_as_written() -> None:
    old = {"expr": "p90<1s", "step": "", "metric": "p90", "op": "<", "limit": 1000.0, "measured": None,
           "passed": False, "detail": "p90<1s: not evidenced (no iteration completed)"}
    out = ThresholdOutcome.from_dict(old)
    assert out.unmeasured == Unmeasured(why=Unmeasurable.WRITTEN,
                                        words="p90<1s: not evidenced (no iteration completed)")
    assert threshold_words(out) == old["detail"]
    assert not out.passed
    measured = {**old, "measured": 900.0, "passed": True, "detail": "p90<1s: measured 900.0ms ok"}
    assert threshold_words(ThresholdOutcome.from_dict(measured)) == "p90<1s: measured 900.0ms ok"
