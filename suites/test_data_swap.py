"""FPT suite: nobody sees anybody else's data — a suite a squad can copy.

It relies on fpt's defaults to hunt swaps the way they happen in production:
arrivals released in small groups (so every checked step runs concurrently),
a share of requests replayed as another user and with no credentials, the same
URL asked at once by another user (caches keyed without the user), a few requests
cancelled mid-flight (a reply left behind on a shared connection), and cross-user
probes. Sign-up and log-in run as per-user setup, before the measured window.
Run it against a service with a bug to watch it fail:
``FPT_DEMO_BUGS=stale_connection pytest -m fpt``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from fpt.demo import create_app
from fpt.strategies import boundary_text, foreign_ids, wrong_types
from suites.flows import (
    book_visit,
    book_visit_token,
    book_with_input,
    read_foreign_visit,
    sign_in,
    sign_in_token,
)


def test_no_swap_multi_user_live(fpt_load, demo_url):
    """20 members at the live level through the real server; 30% of iterations probe."""
    r = fpt_load(book_visit, setup=sign_in, profile="live", target=demo_url, users=20, duration="8s",
                 probe_share=0.3)
    assert r.engine.peak_inflight > 1, "no overlap: a swap could not have shown"


def test_no_swap_high_traffic_virtual(fpt_load):
    """50 members at 50/s with the service in-process (cancellation reaches the handler here)."""
    fpt_load(book_visit, setup=sign_in, profile="virtual", target=create_app(), users=50, duration="5s",
             probe_share=0.3)


def test_no_swap_per_request_auth_virtual(fpt_load):
    """The mobile flow: a bearer token on every call, a PUT that reschedules, replayed as other members.

    Replaying the PUT is safe here (it sets the same date again), so the suite opts in; the
    service echoes X-Request-ID, so every answer is paired with the request it answers.
    """
    fpt_load(book_visit_token, setup=sign_in_token, profile="virtual", target=create_app(), users=30,
             rate=40, duration="4s", replay_writes=True, request_id_header="X-Request-ID")


def test_boundary_and_negative_notes(fpt_load, demo_url):
    """Empty, huge, unicode and wrong-typed notes are booked or refused cleanly, never a 500."""
    fpt_load.explore(book_with_input, st.one_of(boundary_text(max_size=2000), wrong_types()),
                     target=demo_url, max_examples=60)


def test_other_members_visits_are_refused(fpt_load, demo_url):
    """Guessable visit ids of other members answer 404, never the visit."""
    fpt_load.explore(read_foreign_visit, foreign_ids(1, 400), target=demo_url, max_examples=40)
