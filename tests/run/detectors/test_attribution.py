"""Attribution proven, not guessed (issue 21, item 4): a leak is asked again alone after the load.

The demo's ``request_global`` bug (the current member kept app-wide across an await) leaks only
while another request is in flight: it must read *concurrency* everywhere, never *authorization*.
``no_owner_check`` (``/visits/{id}`` without an owner check) leaks alone: *authorization*.
"""

from __future__ import annotations

import asyncio

import pytest

from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.evidence.findings import Finding
from fpt.evidence.result import RunResult
from fpt.judge.dod.evaluate import evaluate
from fpt.judge.verdict import swap_kinds
from fpt.report.checklist import detail
from fpt.report.terminal import swap_line
from fpt.run.detectors.attribution import Alone, attribution, judge_alone
from fpt.run.identity import IdentityFactory
from fpt.run.runner import Run
from fpt.run.shapes import constant
from suites.flows import book_visit


def run(bug: str, seed: int) -> RunResult:
    cfg = FptConfig(users=20, profile="virtual", arrivals="rendezvous", burst=10, probe_share=0.3,
                    alone=2, seed=seed)
    r = Run(book_visit, cfg=cfg, shape=constant(40), duration=2.0, target=create_app(bugs=(bug,)),
            thresholds=(), name=bug)
    return asyncio.run(r.execute())


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_request_global_is_concurrency_on_the_run_line_and_the_items(seed: int) -> None:
    r = run("request_global", seed)
    assert swap_kinds(r) == ("concurrency",)
    assert "concurrency" in swap_line(r)
    assert "authorization" not in swap_line(r)
    c = evaluate([r], high_traffic_rate=40)
    for name in ("data_swap.negative_concurrency", "data_swap.high_traffic_virtual"):
        item = c.item(name)
        if item.status == "failed":
            assert "concurrency" in detail(item), detail(item)
            assert "authorization" not in detail(item), detail(item)
            assert "cache" not in detail(item), detail(item)
    # Every leak whose label was a guess was asked again alone, and was refused alone.
    asked = [f for f in r.findings.examples if f.evidence.get("asked_alone")]
    assert all(f.evidence["asked_alone"] == "refused_alone" for f in asked), asked
    assert all(f.verdict_kind == "concurrency" for f in asked)


def test_no_owner_check_is_authorization_proven_alone() -> None:
    r = run("no_owner_check", 7)
    assert swap_kinds(r) == ("authorization",)
    leaks = r.findings.of("cross_user")
    assert leaks
    assert all(f.evidence.get("asked_alone") == "leaked_alone" for f in leaks)
    item = evaluate([r]).item("data_swap.negative_concurrency")
    assert item.status == "failed"
    assert "(authorization: BOLA/IDOR)" in detail(item)
    assert "authorization" in swap_line(r)


def test_the_correct_service_is_never_asked_again() -> None:
    r = run("", 7)
    assert not r.findings.examples
    assert swap_kinds(r) == ()


def test_judge_alone_both_ways() -> None:
    victim = IdentityFactory(3).make(4)
    other = IdentityFactory(3).make(5)
    leak = Finding(kind="cross_user", message="read", concurrent=None)
    swap = Finding(kind="data_swap", message="m", concurrent=False)
    body_victim = f'{{"email": "{victim.email}"}}'.encode()
    body_own = f'{{"email": "{other.email}"}}'.encode()
    assert judge_alone(200, body_victim, victim) is Alone.LEAKED
    assert judge_alone(404, b"", victim) is Alone.REFUSED
    assert judge_alone(200, body_own, victim) is Alone.REFUSED  # the asker's own data: no leak alone
    assert judge_alone(None, b"", victim) is Alone.UNCONFIRMED
    assert judge_alone(503, body_victim, victim) is Alone.UNCONFIRMED
    assert attribution(leak, Alone.LEAKED) == "authorization"
    assert attribution(swap, Alone.LEAKED) == "cache_shared_state"
    assert attribution(leak, Alone.REFUSED) == attribution(swap, Alone.REFUSED) == "concurrency"
    assert attribution(leak, Alone.UNCONFIRMED) == "authorization"  # unproven: the label stands
