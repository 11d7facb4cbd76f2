"""The virtual profile at its standard level: 50/s held while virtual downstreams add latency and faults."""

from __future__ import annotations

import asyncio
import math

from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.demo.eligibility import eligibility_of
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.virtual import Faults, LogNormal, VirtualServices
from suites.flows import book_with_eligibility

URL = "http://eligibility.virtual"


def virtual_run(faults: Faults | None, seconds: float = 4.0) -> tuple[object, VirtualServices]:
    virtual = VirtualServices(seed=3)
    elig = virtual.service("eligibility", URL, latency=LogNormal(p50_ms=80, p99_ms=400), faults=faults)
    elig.route("GET", r"/eligibility/(?P<id>[^/]+)",
               handler=lambda request, state: eligibility_of(request.url.path.rsplit("/", 1)[1]))
    app = create_app(eligibility_url=URL, eligibility_transport=virtual.transport)
    cfg = FptConfig(users=60, profile="virtual", alone=0, probe_share=0, seed=3)
    run = Run(book_with_eligibility, cfg=cfg, shape=constant(50), duration=seconds, target=app, thresholds=(),
              name="virtual-50")
    return asyncio.run(run.execute()), virtual


def test_50_tps_held_within_1_percent_under_lognormal_downstream_latency() -> None:
    r, virtual = virtual_run(None)
    assert r.engine.dropped == 0  # type: ignore[attr-defined]
    assert abs(r.achieved_rate / 50 - 1) <= 0.01  # type: ignore[attr-defined]
    # The downstream latency the service saw follows the model: lognormal p50 80 ms, p99 400 ms.
    sigma = math.log(400 / 80) / 2.3263
    p90_model = 80 * math.exp(1.2816 * sigma)
    lat = virtual.summary()["eligibility"]["latency_ms"]
    assert 0.85 <= lat["p50"] / 80 <= 1.15, lat
    assert 0.75 <= lat["p90"] / p90_model <= 1.25, lat
    # ... and it is inside the booking step's time, not serialised: many calls overlapped.
    book = r.metrics.steps["book"]  # type: ignore[attr-defined]
    assert book.hist.percentile(50) / 1000 >= 0.9 * lat["p50"]
    assert r.engine.peak_inflight > 3  # type: ignore[attr-defined]


def test_injected_downstream_errors_show_at_their_rate_and_the_retries_are_counted() -> None:
    r, virtual = virtual_run(Faults(error_rate=0.02, error_status=503), seconds=8.0)
    s = virtual.summary()["eligibility"]
    calls = sum(s["calls"].values())
    injected = s["faults"].get("error", 0)
    # ~2% of calls: a binomial 99.9% band around the mean for this many calls.
    mean, sd = 0.02 * calls, math.sqrt(calls * 0.02 * 0.98)
    assert mean - 3.3 * sd <= injected <= mean + 3.3 * sd, (injected, calls)
    assert injected > 0
    # Each injected error reached the flow as a 502 and was retried once: counted exactly.
    retries = r.metrics.steps["book-retry"].count  # type: ignore[attr-defined]
    assert retries == injected - r.metrics.flow.failed  # type: ignore[attr-defined]
