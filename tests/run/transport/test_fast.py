"""fpt's httpx transport against real sockets on 127.0.0.1: retries, errors, streamed bodies both
ways, cookies and redirects, the body limit, and when fpt uses httpx's own transport instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from fpt.run.transport.fast import FastTransport
from tests.run.transport.peers import ok, peer, run


@run
async def test_reused_connection_dropped_mid_request_is_retried_on_a_fresh_one() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            await p.read_request(reader)
            writer.write(ok(b"first"))
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")  # read the next request, answer nothing, close
            return
        while True:
            await p.read_request(reader)
            writer.write(ok(b"fresh"))

    async with peer(handler) as (p, client):
        assert (await client.get("/")).text == "first"
        assert (await client.get("/")).text == "fresh"
    assert p.connections == 2


@run
async def test_errors_are_httpx_errors() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        req = await p.read_request(reader)
        if b"/garbage" in req:
            writer.write(b"HTTP/1.1 two hundred\r\n\r\n")
        elif b"/short" in req:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
            await writer.drain()
        elif b"/silent" in req:
            await asyncio.sleep(5)

    async with peer(handler) as (p, client):
        with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await client.get("/garbage")
        with pytest.raises(httpx.RemoteProtocolError, match="complete response"):
            await client.get("/short")
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/silent", timeout=0.2)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(transport=FastTransport()) as c:
            await c.get(f"http://127.0.0.1:{_closed_port()}/")
    with pytest.raises(httpx.UnsupportedProtocol):
        async with httpx.AsyncClient(transport=FastTransport()) as c:
            await c.get("ftp://127.0.0.1/")


@run
async def test_streamed_bodies_both_ways() -> None:
    big = bytes(range(256)) * 20_000  # 5 MB: more than the read buffer's high-water mark

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            req = await p.read_request(reader)
            if req.startswith(b"POST"):
                writer.write(ok(str(len(req.split(b"\r\n\r\n", 1)[1])).encode()))
            else:
                writer.write(ok(big))

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    async with peer(handler) as (p, client):
        sent = await client.post("/up", content=upload())
        assert sent.text == "10000"
        assert b"transfer-encoding: chunked" in p.requests[0].lower()
        got = 0
        async with client.stream("GET", "/big") as r:
            async for chunk in r.aiter_raw():
                got += len(chunk)
                await asyncio.sleep(0)  # a slow reader: the transport pauses the socket meanwhile
        assert got == len(big)
        assert (await client.get("/big")).content == big  # the connection was handed back intact
    assert p.connections == 1


@run
async def test_cookies_and_redirects_work_through_httpx() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            req = await p.read_request(reader)
            if b"/login" in req:
                writer.write(b"HTTP/1.1 303 See Other\r\nLocation: /me\r\n"
                             b"Set-Cookie: sid=abc; Path=/\r\nContent-Length: 0\r\n\r\n")
            else:
                cookie = [ln for ln in req.split(b"\r\n") if ln.lower().startswith(b"cookie:")]
                writer.write(ok(cookie[0] if cookie else b"none"))

    async with peer(handler) as (p, client):
        r = await client.post("/login", follow_redirects=True)
        assert r.text.lower() == "cookie: sid=abc"
        assert client.cookies["sid"] == "abc"
        assert (await client.get("/again")).text.lower() == "cookie: sid=abc"


def _closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


@pytest.mark.parametrize("transport", ["fast", "httpx"])
def test_demo_flow_live_through_either_transport(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                 transport: str) -> None:
    """The booking flow (sign-up, login cookie, /me, visits) against the real demo server."""
    from fpt.demo.server import ROOT, serve

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    with serve() as server:
        pytester.makepyfile(test_live=f'''
            from suites.flows import book_visit

            def test_live(fpt_load):
                r = fpt_load(book_visit, profile="live", target="{server.base_url}", users=5, rate=5,
                             duration=1, alone=1, arrivals="rendezvous", burst=5)
                # every user signed up, logged in (session cookie) and read its own profile
                assert [r.metrics.steps[s].count for s in ("signup", "login", "profile")] == [5, 5, 5]
                assert r.metrics.steps["profile"].failed == 0
                assert r.findings.total == 0
        ''')
        res = pytester.runpytest_subprocess("--fpt-http-transport", transport, "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)
    # five users released together overlapped, and none saw another's data
    res.stdout.fnmatch_lines(["*ok * data_swap.multi_user_live*"])


def test_proxy_in_env_follows_the_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from fpt.run.transport.fast import proxy_in_env

    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_in_env("http://example.com/") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert proxy_in_env("http://example.com/") is None
    assert proxy_in_env("https://example.com/") == "http://proxy:3128"
    monkeypatch.setenv("ALL_PROXY", "http://all:3128")
    assert proxy_in_env("http://example.com:8080/") == "http://all:3128"
    monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
    assert proxy_in_env("https://example.com/") is None
    assert proxy_in_env("http://127.0.0.1:8000/") is None
    assert proxy_in_env("https://other.org/") == "http://proxy:3128"


def test_runner_uses_httpx_transport_when_a_proxy_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from fpt.run.runner import client_kwargs
    from fpt.run.transport.desync_check import DesyncCheck
    from fpt.run.transport.pool import MAX_CONNECTIONS

    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(client_kwargs("http://svc.test/")()["transport"].inner, FastTransport)
    monkeypatch.setenv("HTTP_PROXY", "http://user:secret@proxy:3128")
    notes: list[str] = []  # a note for the session's summary, not a warning (-W error would crash the run)
    kwargs = client_kwargs("http://svc.test/", note=notes.append)()
    assert len(notes) == 1
    assert "proxy for http://svc.test/" in notes[0]
    assert "secret" not in notes[0]
    checked = kwargs["transport"].inner  # httpx's own, desyncs checked, behind the guard too
    assert isinstance(checked, DesyncCheck)
    inner = checked.inner  # with the proxy mounted
    assert isinstance(inner, httpx.AsyncHTTPTransport)
    assert inner._pool._max_connections == MAX_CONNECTIONS
    assert any(m is not None for m in kwargs["mounts"].values())


@run
async def test_body_limit_names_itself_and_a_request_may_lift_it() -> None:
    from fpt.run.transport.errors import BodyTooLarge

    big = b"z" * (3 << 20)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await p.read_request(reader)
            writer.write(ok(big))

    async with peer(handler) as (p, default):
        base = str(default.base_url)
        async with httpx.AsyncClient(base_url=base, transport=FastTransport(max_body=1 << 20)) as client:
            with pytest.raises(BodyTooLarge, match="max_body=1048576"):
                await client.get("/")
            got = 0
            async with client.stream("GET", "/", extensions={"fpt.max_body": None}) as r:
                async for chunk in r.aiter_raw():
                    got += len(chunk)
            assert got == len(big)
