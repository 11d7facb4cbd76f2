"""FPT suite: the booking flow under load, live (real server) and virtual (in-process)."""

from __future__ import annotations

from fpt.demo import create_app
from suites.flows import book_visit


def test_booking_live(fpt_load, demo_server):
    """20 members at the live level (5/s) through the real server, its CPU and memory watched."""
    fpt_load(book_visit, profile="live", target=demo_server.base_url, service_pid=demo_server.pid,
             users=20, duration="10s",
             thresholds=["p90<500ms", "errors<1%", "throughput>=95%"])


def test_booking_virtual(fpt_load):
    """The high-traffic level (50/s) with the service in-process."""
    fpt_load(book_visit, profile="virtual", target=create_app(), users=50, duration="6s",
             thresholds=["p90<500ms", "errors<1%", "throughput>=95%"])
