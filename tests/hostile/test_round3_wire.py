"""Round three, classes 9-11: the wire, the secrets, the perimeter.

9. **Never quieter than httpx.** A raw asyncio server on 127.0.0.1 that sends bytes after a
   complete answer (a second answer glued to the first, a Content-Length shorter than the body,
   a 204 or a HEAD answer with a body, an answer while the connection waits): every run used to
   pass, on fpt's transport (the bytes were dropped quietly) and on httpx's (a later request got
   the stray answer and called it a success). Now each is an error of the step, kind
   ``protocol``, on both. A flow that forgot an ``await`` passed with 0 requests: now a
   functional finding.

Each attack has a control on a server that frames its answers right.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import fpt
from fpt.config.settings import FptConfig
from fpt.judge.dod import FAILED, PASSED, item_judges
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User

# -- 9. the wire ---------------------------------------------------------------------------------------------

WIRE_MODES = {
    "correct": "every answer framed right",
    "glued": "a second, unasked 200 glued to every answer (a desync behind a proxy)",
    "short_length": "a Content-Length two bytes short of the body",
    "no_content_body": "DELETE answers 204 with a body",
    "head_body": "HEAD answers with a body",
    "unasked": "a while after each answer, an answer nobody asked for on the idle connection",
}


def _answer(body: bytes, status: bytes = b"200 OK", length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    head = b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (status, n)
    return head + body


async def _wire_server(mode: str) -> tuple[asyncio.Server, int]:
    """A raw HTTP/1.1 server answering GET/HEAD/DELETE on any path, breaking its framing as ``mode`` says."""
    assert mode in WIRE_MODES, mode
    ids = itertools.count(1)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method = head.split(b" ", 1)[0]
                body = b'{"ok": true, "n": %d}' % next(ids)
                if method == b"DELETE":
                    out = (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nstale"
                           if mode == "no_content_body" else b"HTTP/1.1 204 No Content\r\n\r\n")
                elif method == b"HEAD":
                    out = _answer(body) if mode == "head_body" else _answer(body)[: -len(body)]
                elif mode == "glued":
                    out = _answer(body) + _answer(b'{"ok": true, "n": 0}')
                elif mode == "short_length":
                    out = _answer(body, length=len(body) - 2)
                else:
                    out = _answer(body)
                writer.write(out)
                await writer.drain()
                if mode == "unasked":
                    await asyncio.sleep(0.01)
                    writer.write(_answer(b'{"ok": true, "n": 0}'))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def wire_run(mode: str, flow: Callable[[User], Awaitable[None]], transport: str = "fast",
             **cfg: Any) -> fpt.RunResult:
    """A short live run of ``flow`` against the raw server, over fpt's transport or httpx's."""

    async def main() -> fpt.RunResult:
        server, port = await _wire_server(mode)
        config = FptConfig(profile="live", seed=9).with_values(
            {"users": 2, "alone": 2, "http_transport": transport, "probe_share": 0, "replay_share": 0,
             "cache_probe_share": 0, "cancel_share": 0, **cfg}, "test")
        try:
            return await Run(flow, cfg=config, shape=constant(4), duration=1.0,
                             target=f"http://127.0.0.1:{port}", thresholds=(), name="wire").execute()
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


async def reads(user: User) -> None:
    """Three reads in a row, each one checked for a 200 (all a squad usually checks)."""
    for name in ("one", "two", "three"):
        async with user.step(name):
            r = await user.http.get(f"/{name}")
            fpt.check(r.status_code == 200, f"{name} refused")
        await asyncio.sleep(0.03)  # a think time: what the server sends meanwhile arrives first


async def head_then_read(user: User) -> None:
    async with user.step("head"):
        await user.http.head("/doc")
    async with user.step("read"):
        await user.http.get("/doc")


async def read_then_delete(user: User) -> None:
    async with user.step("read"):
        await user.http.get("/doc")
    async with user.step("delete", expect_status={204}):
        await user.http.delete("/doc")
    async with user.step("again"):
        await user.http.get("/doc")


def judge(name: str, r: fpt.RunResult) -> Any:
    return item_judges()[name]([r])


TRANSPORTS = ["fast", "httpx"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("mode", "flow"), [
    ("glued", reads), ("short_length", reads), ("unasked", reads), ("no_content_body", read_then_delete),
    ("head_body", head_then_read)], ids=["glued", "short_length", "unasked", "no_content_body", "head_body"])
def test_bytes_after_a_complete_answer_are_a_protocol_error_of_the_step(
        mode: str, flow: Callable[[User], Awaitable[None]], transport: str) -> None:
    r = wire_run(mode, flow, transport)
    errors = dict(r.metrics.requests.errors)
    assert errors.get("protocol", 0) > 0, (mode, transport, errors)
    failed_steps = {name for name, m in r.metrics.steps.items() if m.errors.get("protocol")}
    assert failed_steps, r.metrics.steps
    assert r.evidence.alone is not None
    assert not r.evidence.alone.passed
    assert judge("functional.single_user", r).status == FAILED
    assert any("ProtocolDesync" in status for (_step, status, _msg) in r.metrics.failures), r.metrics.failures


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("flow", [reads, head_then_read, read_then_delete], ids=["reads", "head", "delete"])
def test_a_server_that_frames_its_answers_right_has_no_protocol_error(
        flow: Callable[[User], Awaitable[None]], transport: str) -> None:
    r = wire_run("correct", flow, transport)
    assert r.metrics.requests.errors == {}, dict(r.metrics.requests.errors)
    assert r.findings.total == 0, r.findings.counts
    assert judge("functional.single_user", r).status == PASSED


async def forgets_await(user: User) -> None:
    async with user.step("read"):
        user.http.get("/doc")  # type: ignore[unused-coroutine]  # the bug: no await


async def forgets_one_await(user: User) -> None:
    async with user.step("read"):
        await user.http.get("/doc")
    async with user.step("delete", expect_status={204}):
        user.http.delete("/doc")  # type: ignore[unused-coroutine]  # the bug: no await


async def reads_nothing(user: User) -> None:
    async with user.step("read"):
        await asyncio.sleep(0)


@pytest.mark.parametrize("flow", [forgets_await, reads_nothing], ids=["forgot_await", "no_request"])
def test_an_iteration_that_sent_no_request_is_a_functional_finding(flow: Callable[[User], Awaitable[None]]
                                                                   ) -> None:
    r = wire_run("correct", flow)
    assert r.metrics.requests.count == 0
    assert r.findings.counts.get("functional", 0) >= r.engine.started > 0, r.findings.counts
    assert any("sent no request" in f.message for f in r.findings.of("functional"))
    assert judge("functional.single_user", r).status == FAILED


def test_a_coroutine_never_awaited_is_a_functional_finding_of_its_step() -> None:
    r = wire_run("correct", forgets_one_await)
    assert r.metrics.requests.count > 0
    never = [f for f in r.findings.of("functional") if "never awaited" in f.message]
    assert never, r.findings.counts
    assert {f.step for f in never} == {"delete"}
    assert judge("functional.single_user", r).status == FAILED


def test_a_flow_that_awaits_everything_has_no_finding() -> None:
    """Control of the two above: the same steps, every request awaited."""
    r = wire_run("correct", read_then_delete)
    assert r.findings.total == 0, r.findings.counts
    assert judge("functional.single_user", r).status == PASSED
