"""``user.ws``: a WebSocket channel as the user, against a real uvicorn server on 127.0.0.1 (and
in-process): the handshake is a request, each message a timed answer scanned like a body, every
wait bounded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hostile.services import serve
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fpt.config.errors import ConfigError
from fpt.config.hosts import Perimeter
from fpt.run.context import RunContext
from fpt.run.detectors.canary import CanaryScanner
from fpt.run.identity import IdentityFactory
from fpt.run.perimeter import OffPerimeter
from fpt.run.runner import client_kwargs
from fpt.run.user import User

BIG = 3000


def channel_app() -> Starlette:
    """``/echo`` says who asked (request id, cookie, header) then echoes; ``/big`` sends one large
    message ending with the ``x-other`` header's value; ``/silent`` accepts and never speaks."""

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json({"request": ws.headers.get("x-fpt-request", ""),
                            "cookie": ws.cookies.get("sid", ""), "auth": ws.headers.get("authorization", "")})
        try:
            for _ in range(100):
                await ws.send_text(f"echo {await ws.receive_text()}")
        except WebSocketDisconnect:
            pass

    async def big(ws: WebSocket) -> None:
        await ws.accept()
        canary = ws.headers.get("x-other", "")  # not in the URL: what the asker sent is no leak
        await ws.send_text("." * BIG + canary)
        try:
            await ws.receive_text()
        except WebSocketDisconnect:
            pass

    async def silent(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect:
            pass

    return Starlette(routes=[WebSocketRoute("/echo", echo), WebSocketRoute("/big", big),
                             WebSocketRoute("/silent", silent)])


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(channel_app()) as base:
        yield base


def _user(target: Any, *, fast: bool = True, hosts: tuple[str, ...] = ("127.0.0.1",), index: int = 0,
          ctx: RunContext | None = None) -> User:
    ctx = ctx or RunContext(flow="ws")
    kwargs = client_kwargs(target, fast=fast, perimeter=Perimeter.of(hosts))()
    return User(IdentityFactory(7).make(index), ctx, **kwargs)


def _go(user: User, body: Any) -> Any:
    async def main() -> Any:
        try:
            return await body()
        finally:
            await user.aclose()
            await user.ctx.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("fast", [True, False], ids=["fast-transport", "httpx-transport"])
def test_the_handshake_is_a_request_of_the_user_with_its_credentials(url: str, fast: bool) -> None:
    user = _user(url, fast=fast)
    user.http.cookies.set("sid", "s-1")
    user.http.headers["authorization"] = "Bearer t-1"

    async def body() -> Any:
        async with user.ws("/echo") as ws:
            assert ws.response is not None
            assert ws.response.status_code == 101
            return await ws.receive_json()

    hello = _go(user, body)
    assert user._requests == 1  # counts for "the iteration sent no request"
    assert hello == {"request": f"{user.index}-1", "cookie": "s-1", "auth": "Bearer t-1"}
    assert user.ctx.metrics.requests.count == 1
    assert user.ctx.metrics.endpoints["GET /echo"].count == 1


def test_the_users_event_hooks_see_the_handshake(url: str) -> None:
    user = _user(url)
    seen: list[str] = []

    async def sign(request: httpx.Request) -> None:  # a squad's hook that signs every request
        request.headers["authorization"] = f"Signed {request.url.path}"
        seen.append(f"request {request.url.path}")

    async def answered(response: httpx.Response) -> None:
        seen.append(f"response {response.status_code}")

    user.http.event_hooks = {"request": [sign], "response": [answered]}

    async def body() -> Any:
        async with user.ws("/echo") as ws:
            return await ws.receive_json()

    hello = _go(user, body)
    assert hello["auth"] == "Signed /echo"
    assert seen == ["request /echo", "response 101"]


def test_each_message_is_timed_as_a_step_and_tallied_like_a_response(url: str) -> None:
    user = _user(url)

    async def body() -> list[str]:
        got = []
        async with user.ws("/echo") as ws:
            await ws.receive_json()
            for word in ("a", "b"):
                await ws.send_text(word)
                got.append(await ws.receive_text())  # outside any step: a step named after the channel
            async with user.step("chat"):
                await ws.send_text("c")
                got.append(await ws.receive_text())
            assert (ws.received, ws.sent) == (4, 3)
        return got

    assert _go(user, body) == ["echo a", "echo b", "echo c"]
    m = user.ctx.metrics
    assert m.steps["ws /echo"].count == 3  # the hello and two echoes, each a transaction
    assert m.steps["chat"].count == 1  # inside a step: part of it, timed with it
    assert m.endpoints["WS /echo"].count == 4
    assert m.endpoints["WS-SEND /echo"].count == 3
    assert m.requests.count == 1  # sends and messages are not requests; the handshake is
    assert user.ctx.recorder.tally("ws /echo").responses == 3
    assert user.ctx.recorder.tally("chat").responses == 1


def test_a_message_over_the_scan_limit_is_counted_as_truncated(url: str) -> None:
    ctx = RunContext(flow="ws", stream_scan_limit=1000)
    user = _user(url, ctx=ctx)
    other = _user(url, ctx=ctx, index=1)
    scanner = CanaryScanner(ctx.owners)
    ctx.observers.append(scanner)

    async def body() -> None:
        async with user.step("big"), user.ws("/big", headers={"x-other": other.identity.canary}) as ws:
            assert len(await ws.receive_text()) > BIG

    _go(user, body)
    ev = scanner.evidence()
    assert (ev.bodies, ev.truncated, ev.streamed) == (1, 1, 1)
    assert ev.skipped_bytes == BIG + len(other.identity.canary) - 1000
    assert ctx.findings.total == 0  # the foreign canary lay past the limit: not seen, counted so
    assert ctx.recorder.tally("big").scanned == 0


def test_a_message_within_the_limit_is_scanned_and_names_the_channel(url: str) -> None:
    ctx = RunContext(flow="ws")
    user = _user(url, ctx=ctx)
    other = _user(url, ctx=ctx, index=1)
    ctx.observers.append(CanaryScanner(ctx.owners))

    async def body() -> None:
        async with user.step("big"), user.ws("/big", headers={"x-other": other.identity.canary}) as ws:
            await ws.receive_text()

    _go(user, body)
    (finding,) = ctx.findings.examples
    assert finding.kind == "foreign_canary"
    assert (finding.path, finding.step, finding.request_id) == ("/big", "big", f"{user.index}-1")
    assert finding.other_user == other.identity.label


def test_a_silent_server_times_the_receive_out_as_a_failure_of_the_step(url: str) -> None:
    ctx = RunContext(flow="ws", request_deadline=0.3)
    user = _user(url, ctx=ctx)

    async def body() -> float:
        start = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout, match=r"no message on /silent within 0\.3s"):
            async with user.step("wait"), user.ws("/silent") as ws:
                await ws.receive_text(within=60)  # asked for more than the deadline: the deadline holds
        return time.perf_counter() - start

    assert _go(user, body) < 5
    assert ctx.metrics.steps["wait"].failed == 1
    assert user._iteration_error == "timeout"
    assert [k[1] for k in ctx.metrics.failures] == ["timeout"]
    assert ctx.metrics.endpoints["WS /silent"].failed == 1


def test_async_iteration_ends_when_the_server_closes(url: str) -> None:
    user = _user(url)

    async def body() -> list[Any]:
        async with user.ws("/echo") as ws:
            await ws.send_text("x")
            got = []
            async for message in ws.messages(limit=2):
                got.append(message)
            return got

    got = _go(user, body)
    assert json.loads(got[0])["request"] == f"{user.index}-1"
    assert got[1] == "echo x"


def test_a_channel_off_the_perimeter_is_refused_before_any_connection(url: str) -> None:
    user = _user(url, hosts=("10.9.8.7",))

    async def body() -> None:
        with pytest.raises(OffPerimeter):
            async with user.ws("/echo"):
                pass

    _go(user, body)
    assert user.ctx.findings.counts == {"perimeter": 1}


def test_a_channel_to_an_in_process_app() -> None:
    user = _user(channel_app())

    async def body() -> Any:
        async with user.ws("/echo") as ws:
            hello = await ws.receive_json()
            await ws.send_text("in-process")
            return hello, await ws.receive_text()

    hello, echoed = _go(user, body)
    assert hello["request"] == f"{user.index}-1"
    assert echoed == "echo in-process"
    assert user.ctx.recorder.tally("ws /echo").responses == 2


def test_an_error_in_the_block_comes_out_as_itself() -> None:
    user = _user(channel_app())

    async def body() -> None:
        with pytest.raises(KeyError, match="mine"):
            async with user.ws("/echo"):
                raise KeyError("mine")

    _go(user, body)


def test_a_transport_that_cannot_hand_over_a_connection_is_refused() -> None:
    user = User(IdentityFactory(7).make(0), RunContext(flow="ws"), base_url="http://t",
                transport=httpx.MockTransport(lambda r: httpx.Response(200)))

    async def body() -> None:
        with pytest.raises(ConfigError, match=r"user\.ws"):
            async with user.ws("/echo"):
                pass

    _go(user, body)
