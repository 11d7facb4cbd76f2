"""FPT suite: the two standard levels with the booking service's eligibility downstream.

Live: the booking service and its eligibility service both run as real uvicorn
servers; load stays at the live level (5/s). Virtual: the booking service runs
in-process and eligibility is answered by a virtual service with realistic
latency, so 50/s never reaches a shared downstream system.
"""

from __future__ import annotations

import pytest

from fpt.demo import create_app
from fpt.demo.eligibility import eligibility_of
from fpt.demo.server import serve
from fpt.virtual import LogNormal
from suites.flows import book_with_eligibility

ELIGIBILITY = "http://eligibility.virtual"


@pytest.fixture(scope="module")
def booking_with_live_eligibility():
    """Eligibility as a real server, and the booking service calling it."""
    with serve(app="eligibility") as elig, serve(eligibility_url=elig.base_url) as booking:
        yield booking.base_url


def test_live_with_real_eligibility(fpt_load, booking_with_live_eligibility):
    fpt_load(book_with_eligibility, profile="live", target=booking_with_live_eligibility, users=20,
             duration="6s", arrivals="rendezvous", burst=5)


def test_virtual_with_virtual_eligibility(fpt_load, fpt_virtual):
    elig = fpt_virtual.service("eligibility", ELIGIBILITY, latency=LogNormal(p50_ms=80, p99_ms=400))
    elig.route("GET", r"/eligibility/(?P<id>[^/]+)",
               handler=lambda request, state: eligibility_of(request.url.path.rsplit("/", 1)[1]))
    app = create_app(eligibility_url=ELIGIBILITY, eligibility_transport=fpt_virtual.transport)
    fpt_load(book_with_eligibility, profile="virtual", target=app, users=60, duration="5s")
    calls = fpt_virtual.summary()["eligibility"]["calls"]
    assert sum(calls.values()) > 0, "the virtual eligibility service was never called"
