"""Round three, class 1 (issue 20): every byte a user receives is scanned, WebSocket messages too.

A notices channel over a WebSocket that delivered *another* member's notice (their email and
canary) passed: fpt had no WebSocket client, so a flow could not open the channel as its user
and nothing it carried was scanned. Now ``user.ws(...)`` opens it as the user (cookies, headers,
perimeter, request id), its handshake is a request, and every message is timed and scanned like a
body. The service runs for real under uvicorn on 127.0.0.1; the control channel, which sends each
member only its own notices, is quiet and its messages count as inspected.
"""

from __future__ import annotations

import asyncio
from typing import Any

import fpt
from fpt.config.settings import FptConfig
from fpt.judge.dod.catalogue import FAILED, PASSED
from fpt.judge.dod.evaluate import item_judges
from fpt.report.checklist import detail
from fpt.report.findings import finding_line
from fpt.run.runner import Run
from fpt.run.shapes import constant
from hostile.flows3 import notices
from hostile.services import serve
from hostile.services3 import NOTICES, notices_app

QUIET = {"probe_share": 0, "replay_share": 0, "cache_probe_share": 0, "cancel_share": 0,
         "connection_share": 0}


def run(url: str) -> fpt.RunResult:
    """The notices flow for 8 members against ``url``, in bursts of 4 (live profile)."""
    config = FptConfig(profile="live", seed=13).with_values(
        {"users": 8, "alone": 0, "arrivals": "rendezvous", "burst": 4, **QUIET}, "test")
    r = Run(notices, cfg=config, shape=constant(20), duration=1.5, target=url, thresholds=(),
            name="round3-ws")
    return asyncio.run(r.execute())


def judge(name: str, r: fpt.RunResult) -> Any:
    """One checklist item for one run."""
    return item_judges()[name]([r])


def test_a_websocket_that_delivers_another_members_notice_is_a_data_swap() -> None:
    """The last notice of a subscription is the previous subscriber's: a finding naming the channel,
    and the data-swap item fails. Before: no WebSocket client, the run passed."""
    with serve(notices_app(swap=True)) as url:
        r = run(url)
    swaps = [f for f in r.findings.examples if f.kind == "foreign_canary"]
    assert swaps, r.findings.counts
    assert swaps[0].path == "/notices"
    assert swaps[0].step == "notices"
    assert swaps[0].other_user
    assert swaps[0].other_user != swaps[0].user
    assert judge("data_swap.multi_user_live", r).status == FAILED


def test_a_websocket_that_delivers_only_the_members_own_notices_is_quiet_and_evidenced() -> None:
    """Control: each member gets its own notices only. Quiet, and the item passes: the messages carried
    the member's own canary, so each one is a place a swap would have shown (inspected)."""
    with serve(notices_app(swap=False)) as url:
        r = run(url)
    assert r.findings.total == 0, [finding_line(f) for f in r.findings.examples]
    step = r.evidence.step("notices")
    assert step.scanned >= NOTICES, step
    assert r.evidence.scan.truncated == 0
    item = judge("data_swap.multi_user_live", r)
    assert item.status == PASSED, detail(item)
