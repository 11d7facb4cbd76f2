"""FPT suite: nobody sees anybody else's data — a suite a squad can copy.

Multi-user at the live level with rendezvous bursts (overlap is what makes a swap
show), high traffic in-process, cross-user probes on every run, and the negative
flows over Hypothesis-generated inputs for one user alone. Run it against a
service with a bug to watch it fail: ``FPT_DEMO_BUGS=shared_cache pytest -m fpt``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from fpt.strategies import boundary_text, foreign_ids, wrong_types
from suites.demo import create_app
from suites.flows import book_visit, book_with_input, read_foreign_visit


def test_no_swap_multi_user_live(fpt_load, demo_url):
    """20 members, bursts of 5 at once, 5/s through the real server; 30% of iterations probe."""
    r = fpt_load(book_visit, profile="live", target=demo_url, users=20, duration="8s",
                 arrivals="rendezvous", burst=5, probe_share=0.3)
    assert r.engine.peak_inflight > 1, "no overlap: a swap could not have shown"


def test_no_swap_high_traffic_virtual(fpt_load):
    """50 members at 50/s with the service in-process, bursts of 10."""
    fpt_load(book_visit, profile="virtual", target=create_app(), users=50, duration="5s",
             arrivals="rendezvous", burst=10, probe_share=0.3)


def test_boundary_and_negative_notes(fpt_load, demo_url):
    """Empty, huge, unicode and wrong-typed notes are booked or refused cleanly, never a 500."""
    fpt_load.explore(book_with_input, st.one_of(boundary_text(max_size=2000), wrong_types()),
                     target=demo_url, max_examples=60)


def test_other_members_visits_are_refused(fpt_load, demo_url):
    """Guessable visit ids of other members answer 404, never the visit."""
    fpt_load.explore(read_foreign_visit, foreign_ids(1, 400), target=demo_url, max_examples=40)
