"""Round three of the detectors (issue 20, classes 12, 2, 1, 3): false alarms on correct services,
another member's personal data, bytes the scan never saw, and two users on one connection.

Each attack runs a real service: in-process through the virtual profile's ASGI transport, or
(for connections, which only real sockets have) under uvicorn on 127.0.0.1. Each asserts what a
QA engineer reads, and each has a control that stays quiet (or fires) where it must.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

import fpt
from fpt.config.settings import FptConfig
from fpt.judge.dod.catalogue import FAILED, NOT_EVIDENCED, PASSED
from fpt.judge.dod.evaluate import item_judges
from fpt.report.checklist import detail
from fpt.report.findings import finding_line
from fpt.run.context import RunContext
from fpt.run.detectors.canary import CanaryScanner
from fpt.run.identity import Identity, IdentityFactory
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User
from hostile.flows3 import events, members, posting, profile
from hostile.services import serve
from hostile.services3 import conn_app, member_app

QUIET = {"probe_share": 0, "replay_share": 0, "cache_probe_share": 0, "cancel_share": 0,
         "connection_share": 0}
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
    assert r.findings.total == 0, [finding_line(f) for f in r.findings.examples]
    assert r.evidence.probes.leaked == r.evidence.replay.leaked == r.evidence.cache.leaked == 0
    negative = judge("data_swap.negative_concurrency", r)
    assert negative.status != FAILED, detail(negative)
    if mode in ("soft", "empty"):
        assert r.evidence.probes.allowed > 0  # counted and shown: 2xx without the owner's data, unproven
        assert "unproven" in detail(negative)


def test_a_service_that_answers_anybody_still_leaks() -> None:
    """Control: the same flow on a service without authorization: the owner's data comes back."""
    r = run(members, "bola", **HUNT)
    assert r.findings.counts.get("cross_user", 0) > 0, r.findings.counts
    assert r.evidence.probes.leaked > 0
    assert judge("data_swap.negative_concurrency", r).status == FAILED


def test_a_correct_service_refusing_with_plain_404s_passes() -> None:
    """Control: refusals with working credentials, the owner still reading its writes: passed."""
    r = run(members, **HUNT)
    assert r.findings.total == 0, [finding_line(f) for f in r.findings.examples]
    assert judge("data_swap.negative_concurrency", r).status == PASSED


@pytest.mark.parametrize("key", ["public_paths", "shared_paths"])
def test_declared_public_or_shared_posts_are_not_findings_of_any_detector(key: str) -> None:
    """Posts are public by design and carry their author's canary; declared in ``public_paths`` or
    ``shared_paths``, neither the probes, nor the replays, nor the cache probes report them
    (before: fpt.probe reported both, the replay and cache probe ignored ``public_paths``)."""
    r = run(posting, **{**HUNT, key: ["^/posts/"]})
    assert r.findings.total == 0, [finding_line(f) for f in r.findings.examples]
    ev = r.evidence
    assert ev.probes.public + ev.replay.public + ev.replay.shared + ev.cache.shared > 0


def test_undeclared_public_posts_are_reported() -> None:
    """Control: the same posts undeclared are another member's data in an answer."""
    r = run(posting, **HUNT)
    assert r.findings.total > 0


# -- 2. another member's personal data, not only canaries ----------------------------------------------------

def test_a_profile_with_another_members_phone_and_address_is_a_swap_naming_both() -> None:
    """The caller's own email, member id and canary (so expect_owner passes), with the previous
    caller's phone and address: a mixed record. Before: passed."""
    r = run(profile, "mixed", **QUIET)
    swaps = [f for f in r.findings.examples if f.evidence.get("detector") == "personal_data"]
    assert swaps, r.findings.counts
    f = swaps[0]
    assert f.kind == "data_swap"
    assert f.other_user.startswith("user#")
    assert f.other_user != f.user
    assert set(f.evidence["fields"]) == {"phone", "address"}
    assert {"email", "member_id", "canary"} <= set(f.evidence["own_fields"])
    assert f.other_user in f.message
    assert "phone" in f.message
    assert judge("data_swap.high_traffic_virtual", r).status == FAILED


def test_a_correct_profile_with_the_whole_identity_passes() -> None:
    """Control: every field the caller's own."""
    r = run(profile, **QUIET)
    assert r.findings.total == 0, [finding_line(f) for f in r.findings.examples]
    assert judge("data_swap.high_traffic_virtual", r).status == PASSED


def _identity(i: int, **over: str) -> Identity:
    base = IdentityFactory(3).make(i)
    return Identity(**{**base.to_dict(), **over})


def _scan(body: str, request_body: str = "", *, shared: Identity | None = None) -> RunContext:
    """users 0..2 (0 and 1 share a name and a city); user 0 receives ``body`` (after sending
    ``request_body``)."""
    ctx = RunContext(flow="f")
    same = {"name": "Alex Kim"}
    ids = [_identity(0, **same), _identity(1, **same), _identity(2)]
    users = [User(i, ctx, base_url="http://t",
                  transport=httpx.MockTransport(lambda r: httpx.Response(200, text=body)))
             for i in ids]
    ctx.observers.append(CanaryScanner(ctx.owners))

    async def main() -> None:
        async with users[0].step("me"):
            await users[0].http.post("/m", content=request_body.encode())

    asyncio.run(main())
    return ctx


def test_values_shared_by_two_users_or_the_callers_own_do_not_count() -> None:
    """A name two users share, a city in every address, and the caller's own values: nobody's alone."""
    me, two = _identity(0), _identity(2)
    city = two.address.split(", ")[1]
    ctx = _scan(json.dumps({"name": "Alex Kim", "city": city, "email": me.email, "phone": me.phone}))
    assert ctx.findings.total == 0, [finding_line(f) for f in ctx.findings.examples]


def test_another_users_unique_phone_counts_and_a_value_the_caller_sent_does_not() -> None:
    """user#2's phone in the answer is a swap; the same phone echoed from the caller's own request
    (a message it addressed to user#2) is not."""
    two = _identity(2)
    ctx = _scan(json.dumps({"to": two.phone}))
    assert ctx.findings.counts == {"data_swap": 1}
    assert ctx.findings.examples[0].other_user == "user#2"
    quiet = _scan(json.dumps({"to": two.phone}), request_body=json.dumps({"to": two.phone}))
    assert quiet.findings.total == 0


# -- 1. every byte scanned, or counted as not scanned ------------------------------------------------------

def test_a_stream_past_the_scan_limit_is_counted_and_never_passes() -> None:
    """Server-sent events: the caller's canary first, 1.1 MiB of events, then the previous
    caller's canary. The part past scan_limit was not scanned: counted, and the item is not
    evidenced (before: passed)."""
    r = run(events, "sse_tail", rate=20, profile="live", **QUIET)
    assert r.evidence.scan.truncated > 0
    assert r.evidence.scan.skipped_bytes > 0
    item = judge("data_swap.multi_user_live", r)
    assert item.status == NOT_EVIDENCED, detail(item)
    assert "scan_limit" in detail(item)


def test_a_stream_scanned_whole_shows_its_foreign_canary() -> None:
    """Control: scan_limit raised past the stream: every byte seen, the swap found."""
    r = run(events, "sse_tail", rate=20, profile="live", scan_limit=4 << 20, **QUIET)
    assert r.evidence.scan.truncated == 0
    assert r.findings.counts.get("foreign_canary", 0) > 0, r.findings.counts


def test_a_short_stream_of_the_callers_own_events_passes() -> None:
    """Control: a stream within the limit, the caller's own canary only."""
    r = run(events, rate=20, profile="live", **QUIET)
    assert r.evidence.scan.truncated == 0
    assert r.findings.total == 0
    assert r.evidence.step("events").scanned > 0
    assert judge("data_swap.multi_user_live", r).status == PASSED


@pytest.mark.parametrize("mode", ["utf16", "utf16le", "utf32", "utf16be", "escaped"])
def test_a_body_in_another_encoding_is_decoded_before_the_scan(mode: str) -> None:
    """UTF-16/32 (BOM, declared charset, or neither: detected as JSON's RFC does) and JSON \\u escapes
    carry the previous caller's canary; expect_owner (which decodes JSON) passes them. Before: passed."""
    r = run(profile, mode, **QUIET)
    assert r.findings.counts.get("foreign_canary", 0) > 0, r.findings.counts
    assert judge("data_swap.high_traffic_virtual", r).status == FAILED


def test_a_utf16_body_of_the_callers_own_is_inspected_and_quiet() -> None:
    """Control: the caller's own profile in UTF-16: its canary seen (inspected), nothing foreign."""
    me = _identity(0)
    body = json.dumps({"email": me.email, "canary": me.canary}).encode("utf-16")
    ctx = RunContext(flow="f")
    user = User(me, ctx, base_url="http://t", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, content=body, headers={"content-type": "application/json"})))
    User(_identity(2), ctx, base_url="http://t")
    ctx.observers.append(CanaryScanner(ctx.owners))

    async def main() -> None:
        async with user.step("me"):
            await user.http.get("/me")

    asyncio.run(main())
    assert ctx.findings.total == 0
    assert ctx.recorder.tally("me").scanned == 1


# -- 3. two users on one connection --------------------------------------------------------------------------

def _conn_run(url: str, **cfg: Any) -> fpt.RunResult:
    return run(profile, target=url, rate=30, seconds=1.5, profile="live",
               **{**QUIET, "connection_share": 0.5, "hunt_max_rate": 0, **cfg})


def test_a_service_that_remembers_the_caller_per_connection_swaps_users_on_a_shared_one() -> None:
    """The gateway keeps the first caller of each keep-alive connection; fpt sends another user's
    request on a connection a user just used, as a pooling gateway would. Before: fpt never shared
    a connection between users, and passed."""
    with serve(conn_app(cached=True)) as url:
        r = _conn_run(url)
    assert r.evidence.connection.leaked > 0, r.evidence.connection
    swaps = [f for f in r.findings.examples if f.evidence.get("detector") == "shared_connection"]
    assert swaps, r.findings.counts
    assert swaps[0].verdict_kind == "shared_connection"
    assert judge("data_swap.multi_user_live", r).status == FAILED


def test_a_service_that_reads_each_requests_token_is_quiet_on_a_shared_connection() -> None:
    """Control: every request judged by its own token; the shared connections answered their sender."""
    with serve(conn_app(cached=False)) as url:
        r = _conn_run(url)
    ev = r.evidence.connection
    assert ev.tried > 0, ev
    assert ev.clean > 0, ev
    assert ev.leaked == 0
    assert r.findings.total == 0, [finding_line(f) for f in r.findings.examples]


def test_a_charset_declared_wrongly_does_not_hide_a_foreign_canary() -> None:
    """UTF-8 bytes declared as UTF-16: decoded, they are noise; the bytes as they came are searched too."""
    me, two = _identity(0), _identity(2)
    body = json.dumps({"email": me.email, "last": two.canary}).encode()
    ctx = RunContext(flow="f")
    declared = {"content-type": "application/json; charset=utf-16"}
    user = User(me, ctx, base_url="http://t", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, content=body, headers=declared)))
    User(two, ctx, base_url="http://t")
    ctx.observers.append(CanaryScanner(ctx.owners))

    async def main() -> None:
        async with user.step("me"):
            await user.http.get("/me")

    asyncio.run(main())
    assert ctx.findings.counts == {"foreign_canary": 1}


def test_a_403_echoing_the_email_but_carrying_the_owners_canary_is_still_a_leak() -> None:
    """The echo rule discounts only what the asker sent: the owner's canary beside it is proof."""
    from fpt.run.detectors.canary import not_echoed, sent_by

    owner = _identity(1)
    request = httpx.Request("GET", f"http://t/members/{owner.email}")
    body = json.dumps({"error": f"{owner.email} is not yours", "debug": owner.canary}).encode()
    from fpt.run.detectors.replay import owner_data

    assert owner_data(owner, body, sent_by(request)) == ["canary"]
    assert not_echoed(["ORD-1-abc"], sent_by(httpx.Request("GET", "http://t/orders/ORD-1-abc"))) == []


def test_a_name_inside_a_longer_word_is_not_a_match_and_new_users_are_indexed() -> None:
    """``Ann Lee`` is not in ``Joann Leeds``; a user added after the first search is found (index rebuilt)."""
    from fpt.run.detectors.personal import PersonalIndex
    from fpt.run.identity import OwnerIndex

    owners = OwnerIndex()
    owners.add(_identity(0, name="Ann Lee"))
    index = PersonalIndex(owners)
    assert index.find(b"dr joann leeds") == []
    assert [m.field for m in index.find(b"dear ann lee,")] == ["name"]
    late = _identity(5)
    owners.add(late)
    index._next_build = 0.0  # the rebuild is rate-limited by its own cost; not waited for here
    assert [m.user for m in index.find(late.phone.encode().lower())] == [5]


def test_a_service_that_answers_the_previous_caller_is_not_called_a_shared_connection() -> None:
    """A "previous caller" kept app-wide also answers the first request on a lent connection with
    another user's data; asked again on the same connection it answers the sender's own: a swap, but
    not of kind shared connection (the verdict must name the right bug)."""
    from hostile.flows import me_unchecked
    from hostile.services import orders_app

    with serve(orders_app("swap_me")) as url:
        r = run(me_unchecked, target=url, rate=30, seconds=1.5, profile="live", canary_scan=False,
                **{**QUIET, "connection_share": 0.5, "hunt_max_rate": 0})
    assert r.evidence.connection.leaked > 0, r.evidence.connection
    kinds = {f.evidence.get("detector") for f in r.findings.examples}
    assert kinds == {"shared_connection_unconfirmed"}, kinds
    assert all(f.verdict_kind == "concurrency" for f in r.findings.examples)
