"""Merging workers' evidence: scale events and thresholds keep what each worker showed."""

from __future__ import annotations

from typing import Any

from fpt.config.thresholds import ThresholdOutcome, evaluate, parse_threshold
from fpt.evidence.merge import merge_continuity


def part(moved: bool, *, lost: int = 0, ok: bool = True, passed: bool = True) -> dict[str, Any]:
    return {"events": [{"label": "scale_to 3", "ok": ok, "moved_traffic": moved,
                        "moved_detail": "new replicas served users: r2" if moved
                        else "no user reached a new replica"}],
            "phases": {}, "evidenced": ok and moved, "broken_sessions": 1, "user_moves": 2,
            "readback": {"tried": 5, "ok": 5 - lost, "lost": lost},
            "degradation": {"passed": passed, "detail": "event 1: ok" if passed else "event 1: FAILED"}}


def test_an_event_moved_traffic_when_any_worker_saw_it_move() -> None:
    merged = merge_continuity([part(False), part(True)])
    assert merged is not None
    assert merged["evidenced"] is True
    assert merged["events"][0]["moved_traffic"] is True
    assert merged["readback"] == {"tried": 10, "ok": 10, "lost": 0}
    assert (merged["broken_sessions"], merged["user_moves"], merged["workers"]) == (2, 4, 2)


def test_no_worker_saw_it_move_or_one_failed_is_not_evidence() -> None:
    merged = merge_continuity([part(False), part(False)])
    assert merged is not None
    assert merged["evidenced"] is False
    assert "no user reached a new replica" in merged["not_evidenced_because"]
    failed = merge_continuity([part(True), part(True, ok=False)])
    assert failed is not None
    assert failed["evidenced"] is False


def test_losses_and_degradation_of_any_worker_count() -> None:
    merged = merge_continuity([part(True), part(True, lost=2, passed=False)])
    assert merged is not None
    assert merged["readback"]["lost"] == 2
    assert merged["degradation"]["passed"] is False
    assert merge_continuity([None, None]) is None


def test_threshold_outcomes_keep_their_parsed_threshold() -> None:
    out = evaluate(parse_threshold("login:p90<800ms"), 900.0, "")
    again = ThresholdOutcome.from_dict(out.to_dict())
    assert again == out
    assert (again.threshold.step, again.threshold.metric, again.threshold.limit) == ("login", "p90", 800.0)
    assert not again.passed
