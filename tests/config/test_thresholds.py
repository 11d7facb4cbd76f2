"""Threshold specs parsed at the boundary: what is accepted, what is refused (both ways, table-driven)."""

from __future__ import annotations

import pytest

from fpt.config.thresholds import parse_threshold

ACCEPTED = [
    # (text, step, metric, op, limit): latencies in ms, ratios as fractions
    ("p90<800ms", "", "p90", "<", 800.0),
    ("login:p99<=1s", "login", "p99", "<=", 1000.0),
    ("max<2s", "", "max", "<", 2000.0),
    ("errors<1%", "", "errors", "<", 0.01),
    ("throughput>=95%", "", "throughput", ">=", 0.95),
    ("dropped<1%", "", "dropped", "<", 0.01),
    ("service_rss_growth<10%", "", "service_rss_growth", "<", 0.10),
    # growth is unbounded: a limit above 100% can still fail (p90 grows 1,000% under a scan bug)
    ("latest:volume_p90_growth<400%", "latest", "volume_p90_growth", "<", 4.0),
]

REFUSED = [
    "p90<800",  # a bare number: ms or s?
    "errors<1",  # 1 or 1%?
    "p90>1s",  # passes only when the service is slow
    "throughput<95%",  # a lower bound pointing the wrong way
    "errors<=100%",  # every error rate meets it: checks nothing
    "dropped<101%",
    "p100<1s",  # not a percentile
    "p0<1s",
    "login:service_rss_growth<10%",  # the service's memory belongs to no step
    "latency<1s",
    "",
]


@pytest.mark.parametrize(("text", "step", "metric", "op", "limit"), ACCEPTED)
def test_accepted(text: str, step: str, metric: str, op: str, limit: float) -> None:
    th = parse_threshold(text)
    assert (th.step, th.metric, th.op) == (step, metric, op)
    assert th.limit == pytest.approx(limit)


@pytest.mark.parametrize("text", REFUSED)
def test_refused_with_the_forms_that_are_allowed(text: str) -> None:
    with pytest.raises(ValueError, match=r"^look like p90<800ms"):
        parse_threshold(text)


@pytest.mark.parametrize(("text", "fails_at", "holds_at"), [
    ("errors<1%", 0.02, 0.0),
    ("throughput>=95%", 0.9, 1.0),
    ("p90<800ms", 801.0, 799.0),
    ("latest:volume_p90_growth<400%", 4.5, 0.5),
])
def test_each_accepted_threshold_can_fail_and_can_hold(text: str, fails_at: float, holds_at: float) -> None:
    th = parse_threshold(text)
    assert not th.holds(fails_at)
    assert th.holds(holds_at)
