"""The perimeter at the socket, against real listeners on loopback.

``127.0.0.2`` is loopback on Linux but outside ``live_hosts = ["127.0.0.1"]``: a
plain TCP listener there records every accept, so "nothing was sent" is counted
at the far end, not inferred. Each refused path must leave it at zero accepts and
raise an error naming the host and the allowed ones.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from fpt.config.errors import ConfigError, FptError
from fpt.config.hosts import Perimeter
from fpt.config.settings import FptConfig
from fpt.load import LoadRunner
from fpt.run.context import RunContext
from fpt.run.explore import Pacer
from fpt.run.identity import IdentityFactory
from fpt.run.perimeter import GuardedTransport, OffPerimeter, check
from fpt.run.runner import client_kwargs
from fpt.run.transport.fast import FastTransport
from fpt.run.user import User

ALLOWED = "127.0.0.1"
FOREIGN = "127.0.0.2"
ONLY_ALLOWED = Perimeter.of([ALLOWED])
CFG = FptConfig(live_hosts=(ALLOWED,), users=1, alone=0, probe_share=0.0, canary_scan=False,
                duration=0.5, grace=1.0)


def run(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (fpt's tests need no asyncio plugin)."""

    @functools.wraps(test)
    def sync(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))  # type: ignore[arg-type]

    return sync


class Listener:
    """A TCP listener that records each accept (and each request head, if it answers)."""

    def __init__(self, answer: Callable[[bytes], bytes] | None) -> None:
        self.answer = answer
        self.accepts = 0
        self.requests: list[bytes] = []
        self.port = 0
        self.open: dict[asyncio.StreamWriter, asyncio.Task[Any] | None] = {}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepts += 1
        self.open[writer] = asyncio.current_task()
        try:
            while self.answer is not None:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                writer.write(self.answer(head))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open.pop(writer, None)
            writer.close()

    async def hang_up(self) -> None:
        """Close the connections still open, so no handler is left for the loop to cancel."""
        tasks = [t for t in self.open.values() if t is not None]
        for writer in list(self.open):
            writer.close()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)


@asynccontextmanager
async def listening(host: str, answer: Callable[[bytes], bytes] | None = None
                    ) -> AsyncIterator[Listener]:
    """A :class:`Listener` on ``host``; with no ``answer`` it accepts and hangs up."""
    listener = Listener(answer)
    server = await asyncio.start_server(listener._serve, host, 0)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await listener.hang_up()
        await server.wait_closed()


def _reply(status: str, headers: str = "", body: bytes = b"ok") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n{headers}\r\n").encode() + body


def redirecting_to(url: str) -> Callable[[bytes], bytes]:
    """Answers ``/hop`` with a redirect to ``url`` and anything else with 200."""

    def answer(head: bytes) -> bytes:
        if head.split(b" ", 2)[1] == b"/hop":
            return _reply("302 Found", f"location: {url}\r\n", b"")
        return _reply("200 OK")

    return answer


def user_for(base: str, perimeter: Perimeter, *, fast: bool = True) -> User:
    """A user built exactly as a run builds one (its ``http`` is what probes and read-backs use)."""
    make = client_kwargs(base, fast=fast, perimeter=perimeter)
    return User(IdentityFactory(1).make(0), RunContext(flow="t"), **make())


def assert_names_hosts(exc: BaseException, host: str) -> None:
    text = str(exc)
    assert repr(host) in text
    assert ALLOWED in text
    assert "live_hosts" in text


# -- the rules ---------------------------------------------------------------------


def test_names_match_exactly_and_addresses_by_address() -> None:
    p = Perimeter.of(["127.0.0.1", "Svc.Example.", "10.1.0.0/16", "[::1]"])
    assert p.allows("127.0.0.1")
    assert p.allows("::ffff:127.0.0.1")  # the same socket as 127.0.0.1
    assert not p.allows("127.0.0.2")
    assert not p.allows("127.1")  # resolves to 127.0.0.1, but names are never resolved
    assert p.allows("svc.example")
    assert p.allows("SVC.EXAMPLE.")
    assert not p.allows("www.svc.example")
    assert p.allows("10.1.200.3")
    assert not p.allows("10.2.0.1")
    assert p.allows("::1")
    assert not p.allows("")
    assert not p.allows("localhost")


def test_loopback_word_means_every_loopback_address() -> None:
    p = Perimeter.of(["loopback"])
    assert all(p.allows(h) for h in ("127.0.0.1", "127.9.8.7", "::1", "localhost", "LocalHost"))
    assert not p.allows("192.0.2.2")
    assert not p.allows("fd00::2")
    assert not p.allows("example.com")


def test_off_perimeter_is_an_httpx_transport_error_and_an_fpt_error() -> None:
    with pytest.raises(OffPerimeter) as info:
        check(ONLY_ALLOWED, "evil.example")
    assert isinstance(info.value, httpx.TransportError)
    assert isinstance(info.value, FptError)
    assert info.value.host == "evil.example"
    assert info.value.allowed == (ALLOWED,)
    assert_names_hosts(info.value, "evil.example")


def test_verdict_cache_is_bounded() -> None:
    p = Perimeter.of(["loopback"])
    for i in range(3000):
        p.allows(f"h{i}.example")
    assert len(p._verdicts) <= 1024
    assert p.allows("127.0.0.1")


# -- the listener is a fair witness ------------------------------------------------


@run
async def test_foreign_listener_counts_an_unguarded_connect() -> None:
    async with listening(FOREIGN) as foreign:
        async with httpx.AsyncClient(transport=FastTransport(), timeout=2.0) as client:
            with pytest.raises(httpx.TransportError):
                await client.get(f"http://{FOREIGN}:{foreign.port}/")
    assert foreign.accepts == 1


# -- refused paths: zero accepts ---------------------------------------------------


@run
async def test_absolute_url_in_a_flow_is_refused() -> None:
    seen: list[BaseException] = []
    async with listening(FOREIGN) as foreign, listening(ALLOWED, redirecting_to("/")) as home:
        foreign_url = f"http://{FOREIGN}:{foreign.port}/steal"

        async def flow(user: User) -> None:
            try:
                await user.http.get(foreign_url)
            except OffPerimeter as exc:
                seen.append(exc)
                raise

        runner = LoadRunner(CFG, name="t", marker={}, record=lambda r: None)
        result = await runner.arun(flow, check=False, target=f"http://{ALLOWED}:{home.port}", rate=4)
    assert foreign.accepts == 0
    assert seen
    assert result.metrics.flow.failed == result.metrics.flow.count > 0
    assert_names_hosts(seen[0], FOREIGN)


@pytest.mark.parametrize("fast", [True, False], ids=["FastTransport", "AsyncHTTPTransport"])
@run
async def test_redirect_to_a_foreign_host_is_refused_at_the_hop(fast: bool) -> None:
    async with listening(FOREIGN) as foreign:
        async with listening(ALLOWED, redirecting_to(f"http://{FOREIGN}:{foreign.port}/x")) as home:
            make = client_kwargs(f"http://{ALLOWED}:{home.port}", fast=fast, perimeter=ONLY_ALLOWED)
            async with httpx.AsyncClient(follow_redirects=True, **make()) as client:
                with pytest.raises(OffPerimeter) as info:
                    await client.get("/hop")
    assert len(home.requests) == 1  # the first hop was allowed and answered
    assert foreign.accepts == 0
    assert_names_hosts(info.value, FOREIGN)


@pytest.mark.parametrize("fast", [True, False], ids=["FastTransport", "AsyncHTTPTransport"])
@run
async def test_foreign_url_through_a_users_client_is_refused(fast: bool) -> None:
    """Cross-user probes and read-backs follow server-given URLs with ``user.http``."""
    async with listening(FOREIGN) as foreign:
        user = user_for(f"http://{ALLOWED}:9", ONLY_ALLOWED, fast=fast)
        try:
            with pytest.raises(OffPerimeter) as info:
                await user.http.get(f"http://{FOREIGN}:{foreign.port}/notes/1")
            with pytest.raises(OffPerimeter):  # the cached verdict refuses as well
                await user.http.get(f"http://{FOREIGN}:{foreign.port}/notes/2")
        finally:
            await user.aclose()
    assert foreign.accepts == 0
    assert_names_hosts(info.value, FOREIGN)


@run
async def test_guarded_transport_wraps_any_transport() -> None:
    async with listening(FOREIGN) as foreign:
        for inner in (FastTransport(), httpx.AsyncHTTPTransport()):
            async with httpx.AsyncClient(transport=GuardedTransport(inner, ONLY_ALLOWED)) as client:
                with pytest.raises(OffPerimeter):
                    await client.get(f"http://{FOREIGN}:{foreign.port}/")
                with pytest.raises(OffPerimeter):
                    await client.get(f"http://[::ffff:{FOREIGN}]:{foreign.port}/")
    assert foreign.accepts == 0


@run
async def test_virtual_profile_refuses_a_foreign_url_target() -> None:
    async with listening(FOREIGN) as foreign:
        runner = LoadRunner(CFG, name="t", marker={}, record=lambda r: None)

        async def flow(user: User) -> None:
            await user.http.get("/")

        with pytest.raises(ConfigError) as info:
            await runner.arun(flow, profile="virtual", target=f"http://{FOREIGN}:{foreign.port}")
    assert foreign.accepts == 0
    assert info.value.key == "base_url"
    assert FOREIGN in str(info.value)
    assert ALLOWED in str(info.value)


def test_virtual_profile_with_an_app_ignores_an_unused_base_url() -> None:
    cfg = FptConfig(profile="virtual", base_url="http://staging.example", live_hosts=(ALLOWED,))
    cfg.validate(url_target=False)
    with pytest.raises(ConfigError):
        cfg.validate()


@run
async def test_environment_proxy_of_the_httpx_transport_is_guarded_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with listening(FOREIGN) as foreign, listening(ALLOWED, redirecting_to("/")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://{ALLOWED}:{proxy.port}")
        user = user_for(f"http://{ALLOWED}:9", ONLY_ALLOWED, fast=False)
        try:
            with pytest.raises(OffPerimeter):
                await user.http.get(f"http://{FOREIGN}:{foreign.port}/")
            assert proxy.accepts == 0
            r = await user.http.get(f"http://{ALLOWED}:9/through-the-proxy")
        finally:
            await user.aclose()
    assert r.status_code == 200
    assert proxy.requests
    assert b"/through-the-proxy" in proxy.requests[0]
    assert foreign.accepts == 0


# -- allowed paths get through -----------------------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["FastTransport", "AsyncHTTPTransport"])
@run
async def test_allowed_hosts_get_through(fast: bool) -> None:
    async with listening(ALLOWED, redirecting_to("/landed")) as home:
        user = user_for(f"http://{ALLOWED}:{home.port}", ONLY_ALLOWED, fast=fast)
        try:
            # POST, as FastTransport cannot follow a GET's redirect yet (RequestNotRead)
            r = await user.http.post("/hop", follow_redirects=True)
        finally:
            await user.aclose()
    assert r.status_code == 200
    assert [h.split(b" ")[:2] for h in home.requests] == [[b"POST", b"/hop"], [b"GET", b"/landed"]]


@run
async def test_loopback_word_lets_another_loopback_address_through() -> None:
    async with listening(FOREIGN, redirecting_to("/")) as other:
        user = user_for(f"http://{FOREIGN}:{other.port}", Perimeter.of(["loopback"]))
        try:
            r = await user.http.get("/")
        finally:
            await user.aclose()
    assert r.status_code == 200
    assert other.accepts == 1


# -- explore keeps to the live ceiling ---------------------------------------------


@contextmanager
def stamping_server() -> Iterator[tuple[str, list[float]]]:
    """A threaded HTTP server on 127.0.0.1 that notes when each request arrived."""
    stamps: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stamps.append(time.monotonic())
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((ALLOWED, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{ALLOWED}:{server.server_address[1]}", stamps
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_explore_on_a_live_target_keeps_to_the_ceiling() -> None:
    from hypothesis import strategies as st

    async def flow(user: User, value: int) -> None:
        await user.http.get(f"/items/{value}")

    with stamping_server() as (url, stamps):
        runner = LoadRunner(CFG, name="t", marker={}, record=lambda r: None)
        result = runner.explore(flow, st.integers(0, 1000), max_examples=8, target=url)
    assert result.examples == len(stamps) >= 6
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate <= 5.0 * 1.2  # the ceiling is 5/s; timers may be a little early or late


def test_pacer_spaces_starts_and_gives_no_credit_for_idle_time() -> None:
    now = [100.0]
    pacer = Pacer(5.0, clock=lambda: now[0])
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(0.2)
    now[0] = 100.2
    assert pacer.delay() == pytest.approx(0.2)  # booked for 100.4
    now[0] = 110.0
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(0.2)
    assert Pacer(None).delay() == 0.0
