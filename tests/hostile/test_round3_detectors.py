"""Round three of the detectors (issue 20, classes 12, 2, 1, 3): false alarms on correct services,
another member's personal data, bytes the scan never saw, and two users on one connection.

Each attack runs a real service: in-process through the virtual profile's ASGI transport, or
(for connections, which only real sockets have) under uvicorn on 127.0.0.1. Each asserts what a
QA engineer reads, and each has a control that stays quiet (or fires) where it must.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import fpt
from fpt.config.settings import FptConfig
from fpt.judge.dod import FAILED, PASSED, item_judges
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User
from hostile.flows3 import members, posting
from hostile.services3 import member_app

HUNT = {"probe_share": 1.0, "replay_share": 0.4, "cache_probe_share": 0.4, "cancel_share": 0,
        "hunt_max_rate": 0}


def run(flow: Callable[[User], Awaitable[None]], *modes: str, seconds: float = 1.2, target: Any = None,
        rate: float = 60, **cfg: Any) -> fpt.RunResult:
    """One run of ``flow`` against ``member_app(*modes)`` in-process (or ``target``)."""
    config = FptConfig(profile="virtual", seed=13).with_values(
        {"users": 8, "alone": 0, "arrivals": "rendezvous", "burst": 4, **cfg}, "test")
    r = Run(flow, cfg=config, shape=constant(rate), duration=seconds,
            target=member_app(*modes) if target is None else target, thresholds=(), name="round3")
    return asyncio.run(r.execute())


def judge(name: str, r: fpt.RunResult) -> Any:
    """One checklist item for one run."""
    return item_judges()[name]([r])


# -- 12. a finding must be proven ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["soft", "empty", "echo404", "echo403"])
def test_refusals_that_answer_200_or_echo_what_was_asked_are_not_leaks(mode: str) -> None:
    """A correct service refuses another member's order with 200 and an error body, with 200 and
    nothing, or with a 404 naming the reference asked for; or a member page with a 403 naming the
    email in the path. None of it is the owner's data: no finding, and the item does not fail.
    (Before: 'allowed' 2xx probes failed the item; the echoed reference and email were 'owner data'.)"""
    r = run(members, mode, **HUNT)
    assert r.findings.total == 0, [f.one_line() for f in r.findings.examples]
    assert r.evidence.probes.leaked == r.evidence.replay.leaked == r.evidence.cache.leaked == 0
    negative = judge("data_swap.negative_concurrency", r)
    assert negative.status != FAILED, negative.detail
    if mode in ("soft", "empty"):
        assert r.evidence.probes.allowed > 0  # counted and shown: 2xx without the owner's data, unproven
        assert "unproven" in negative.detail


def test_a_service_that_answers_anybody_still_leaks() -> None:
    """Control: the same flow on a service without authorization: the owner's data comes back."""
    r = run(members, "bola", **HUNT)
    assert r.findings.counts.get("cross_user", 0) > 0, r.findings.counts
    assert r.evidence.probes.leaked > 0
    assert judge("data_swap.negative_concurrency", r).status == FAILED


def test_a_correct_service_refusing_with_plain_404s_passes() -> None:
    """Control: refusals with working credentials, the owner still reading its writes: passed."""
    r = run(members, **HUNT)
    assert r.findings.total == 0, [f.one_line() for f in r.findings.examples]
    assert judge("data_swap.negative_concurrency", r).status == PASSED


@pytest.mark.parametrize("key", ["public_paths", "shared_paths"])
def test_declared_public_or_shared_posts_are_not_findings_of_any_detector(key: str) -> None:
    """Posts are public by design and carry their author's canary; declared in ``public_paths`` or
    ``shared_paths``, neither the probes, nor the replays, nor the cache probes report them
    (before: fpt.probe reported both, the replay and cache probe ignored ``public_paths``)."""
    r = run(posting, **{**HUNT, key: ["^/posts/"]})
    assert r.findings.total == 0, [f.one_line() for f in r.findings.examples]
    ev = r.evidence
    assert ev.probes.public + ev.replay.public + ev.replay.shared + ev.cache.shared > 0


def test_undeclared_public_posts_are_reported() -> None:
    """Control: the same posts undeclared are another member's data in an answer."""
    r = run(posting, **HUNT)
    assert r.findings.total > 0
