"""Virtual users: recording, steps, checks, and isolation between users."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import fpt
from fpt.config.settings import FptConfig
from fpt.config.thresholds import parse_thresholds
from fpt.run.context import RunContext
from fpt.run.identity import IdentityFactory
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User


def handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/slow":
        raise httpx.ReadTimeout("slow", request=request)
    if request.url.path == "/down":
        raise httpx.ConnectError("refused", request=request)
    if request.url.path == "/login":
        return httpx.Response(200, json={}, headers={"set-cookie": f"session={request.content.decode()}"})
    if request.url.path == "/whoami":
        session = request.headers.get("cookie", "").removeprefix("session=")
        return httpx.Response(200, json={"session": session})
    if request.url.path == "/missing":
        return httpx.Response(404, json={})
    return httpx.Response(200, text="x" * 100)


def make_user(index: int, ctx: RunContext) -> User:
    return User(IdentityFactory(1).make(index), ctx, base_url="http://t",
                transport=httpx.MockTransport(handler))


def test_requests_and_steps_are_recorded_with_error_kinds() -> None:
    ctx = RunContext(flow="f")
    user = make_user(0, ctx)

    async def main() -> None:
        async with user.step("ok"):
            await user.http.get("/")
        async with user.step("missing"):
            await user.http.get("/missing")
        async with user.step("missing-expected", expect_status={404}):
            await user.http.get("/missing")
        with pytest.raises(httpx.ReadTimeout):
            async with user.step("slow"):
                await user.http.get("/slow")
        with pytest.raises(httpx.ConnectError):
            async with user.step("down"):
                await user.http.get("/down")
        async with user.step("checked"):
            fpt.check(False, "nope")  # no current user here: asserts instead
        await user.aclose()

    with pytest.raises(AssertionError, match="nope"):
        asyncio.run(main())
    m = ctx.metrics
    assert m.steps["ok"].failed == 0
    assert m.steps["ok"].count == 1
    assert dict(m.steps["missing"].errors) == {"status": 1}
    assert m.steps["missing-expected"].failed == 0
    assert dict(m.steps["slow"].errors) == {"timeout": 1}
    assert dict(m.steps["down"].errors) == {"connect": 1}
    assert m.requests.count == 5
    assert m.requests.bytes_in == 100 + 2 + 2


def test_user_check_records_a_functional_finding() -> None:
    ctx = RunContext(flow="f")
    user = make_user(3, ctx)

    async def main() -> None:
        async with user.step("verify"):
            assert user.check(False, "wrong total") is False
            assert user.check(True, "fine") is True

    asyncio.run(main())
    assert ctx.findings.counts["functional"] == 1
    f = ctx.findings.examples[0]
    assert (f.step, f.user, f.message) == ("verify", "user#3", "wrong total")
    assert dict(ctx.metrics.steps["verify"].errors) == {"check": 1}


def test_no_two_users_share_cookies_headers_or_connections() -> None:
    ctx = RunContext(flow="f")
    users = [make_user(i, ctx) for i in range(30)]

    async def one(u: User) -> str:
        await u.http.post("/login", content=u.identity.canary)
        u.http.headers["x-member"] = u.identity.member_id
        r = await u.http.get("/whoami")
        return str(r.json()["session"])

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(u) for u in users)))

    seen = asyncio.run(main())
    assert seen == [u.identity.canary for u in users]
    assert len({id(u.http.cookies.jar) for u in users}) == 30
    assert len({id(u.http.headers) for u in users}) == 30
    assert len({u.http.headers["x-member"] for u in users}) == 30
    assert len({id(u.http._transport) for u in users}) == 30


def test_url_targets_give_each_user_its_own_pool() -> None:
    from fpt.run.runner import client_kwargs

    make = client_kwargs("http://127.0.0.1:9")
    ctx = RunContext(flow="f")
    a = User(IdentityFactory(1).make(0), ctx, **make())
    b = User(IdentityFactory(1).make(1), ctx, **make())
    assert a.http._transport is not b.http._transport
    asyncio.run(a.aclose())
    asyncio.run(b.aclose())


def test_flow_exception_is_a_functional_finding_naming_the_step() -> None:
    async def flow(user: User) -> None:
        async with user.step("parse"):
            r = await user.http.get("/")
            r.json()

    run = Run(flow, cfg=FptConfig(users=2, profile="virtual"), shape=constant(10), duration=0.3,
              target=httpx.MockTransport(handler), thresholds=parse_thresholds(["errors<1%"]), name="t")
    result = asyncio.run(run.execute())
    assert result.engine.started == 3
    assert result.findings.counts["functional"] == 3
    f = result.findings.examples[0]
    assert f.message.startswith("flow raised JSONDecodeError")
    assert dict(result.metrics.steps["parse"].errors) == {"exception": 3}
    assert not result.thresholds[0].passed


def test_state_and_ledger_live_across_iterations() -> None:
    async def flow(user: User) -> None:
        user.state["n"] = user.state.get("n", 0) + 1
        async with user.step("write"):
            await user.http.get("/")
        user.ledger.add("thing", f"/things/{user.state['n']}", n=user.state["n"])

    run = Run(flow, cfg=FptConfig(users=1, profile="virtual"), shape=constant(10), duration=0.5,
              target=httpx.MockTransport(handler), thresholds=(), name="t")
    result = asyncio.run(run.execute())
    user = run.users[0]
    assert user is not None
    assert user.state["n"] == result.engine.started == 5
    assert [e.url for e in user.ledger] == [f"/things/{i}" for i in range(1, 6)]


def test_each_request_is_counted_once_per_endpoint() -> None:
    """The per-endpoint table counts every request once (a merge once recorded answers twice)."""
    ctx = RunContext(flow="f")
    user = make_user(0, ctx)

    async def main() -> None:
        async with user.step("ok"):
            await user.http.get("/")
            await user.http.get("/missing")
        with pytest.raises(httpx.ConnectError):
            async with user.step("down"):
                await user.http.get("/down")
        await user.aclose()

    asyncio.run(main())
    m = ctx.metrics
    assert m.requests.count == 3
    assert sum(e.count for e in m.endpoints.values()) == 3
    assert sum(e.failed for e in m.endpoints.values()) == 2
