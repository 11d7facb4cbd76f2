"""FPT suite: the booking flow keeps working while the service scales 1 -> 3 -> 1.

A real fleet: uvicorn replicas of the demo behind HAProxy, sessions and data in
Redis. fpt proves nobody was logged out, every acknowledged booking can be read
back, traffic really reached the new replicas and left the drained ones, and
reports p90 and error rate per phase. Point the scaler at your own platform with
``fpt.CommandScaler("kubectl scale deploy/booking --replicas={n}", ...)``.
"""

from __future__ import annotations

import fpt
from fpt.report.continuity import continuity_view
from suites.flows import book_visit


def test_sessions_survive_scale_out_and_in(fpt_load, demo_fleet):
    fleet = demo_fleet(sessions="redis", slots=3)
    r = fpt_load(book_visit, profile="live", target=fleet.base_url, users=20, duration="14s",
                 served_by="x-served-by",
                 events=[fpt.at("4s", fleet.scaler.scale_to, 3), fpt.at("9s", fleet.scaler.scale_to, 1)])
    assert r.continuity is not None
    scaled = continuity_view(r)  # the scale events as judged (fpt.judge.continuity), in plain form
    assert scaled["evidenced"], scaled["not_evidenced_because"]
