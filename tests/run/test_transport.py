"""fpt's HTTP/1.1 transport against real sockets on 127.0.0.1, answer by answer.

Each server here is a real ``asyncio`` TCP server that writes exactly the bytes a
test needs (chunked bodies, interim answers, closed keep-alive connections,
garbage), so every branch of the wire code runs against a peer, not a mock.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from fpt.run.transport import FastTransport


def run(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Run an async test on a fresh event loop (fpt's tests need no asyncio plugin)."""

    @functools.wraps(test)
    def sync() -> None:
        asyncio.run(test())  # type: ignore[arg-type]

    return sync


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Peer:
    """A scripted server: ``handler(reader, writer, connection_number)`` per connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        body = b""
        lower = head.lower()
        if b"content-length:" in lower:
            n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(n)
        elif b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await reader.readline()).strip(), 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        self.requests.append(head + body)
        return head + body


@asynccontextmanager
async def peer(handler: Handler) -> AsyncIterator[tuple[Peer, httpx.AsyncClient]]:
    p = Peer(handler)
    server = await asyncio.start_server(p._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", transport=FastTransport(),
                               timeout=httpx.Timeout(2.0))
    try:
        yield p, client
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@run
async def test_keep_alive_reuses_one_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            req = await p.read_request(reader)
            writer.write(ok(b"hello " + req.split(b" ")[1]))

    async with peer(handler) as (p, client):
        bodies = [(await client.get(f"/n/{i}")).text for i in range(50)]
    assert bodies == [f"hello /n/{i}" for i in range(50)]
    assert p.connections == 1


@run
async def test_chunked_read_until_close_and_connection_close() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        req = await p.read_request(reader)
        if b"/chunked" in req:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            req = await p.read_request(reader)  # kept alive after a chunked body
            writer.write(ok(b"again"))
        elif b"/eof" in req:
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
            await writer.drain()
            writer.close()

    async with peer(handler) as (p, client):
        assert (await client.get("/chunked")).text == "hello world"
        assert (await client.get("/chunked-2")).text == "again"
        assert (await client.get("/eof")).text == "until the end"
        assert (await client.get("/chunked")).text == "hello world"  # a fresh connection
    assert p.connections == 3


@run
async def test_head_204_and_interim_answers() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            req = await p.read_request(reader)
            if req.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            elif b"/empty" in req:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after interim", b"X-A: 1\r\n"))

    async with peer(handler) as (p, client):
        head = await client.head("/")
        assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "1000")
        empty = await client.get("/empty")
        assert (empty.status_code, empty.content) == (204, b"")
        later = await client.get("/x")
        assert (later.status_code, later.text, later.headers["x-a"]) == (200, "after interim", "1")
        assert later.reason_phrase == "OK"
        assert later.http_version == "HTTP/1.1"


@run
async def test_idle_connection_closed_by_server_is_replaced_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await p.read_request(reader)
        writer.write(ok(b"one answer per connection"))  # keep-alive promised, then closed
        await writer.drain()

    async with peer(handler) as (p, client):
        first = await client.post("/a", json={"n": 1})
        await asyncio.sleep(0.05)  # let the close reach the client while the connection is idle
        second = await client.post("/a", json={"n": 2})
    assert first.text == second.text == "one answer per connection"
    assert p.connections == 2
    assert [r.endswith(b'{"n":1}') for r in p.requests] == [True, False]
    assert p.requests[1].endswith(b'{"n":2}')


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


@run
async def test_concurrent_requests_share_a_bounded_pool_across_origins() -> None:
    from fpt.run.transport import MAX_CONNECTIONS

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await p.read_request(reader)
            await asyncio.sleep(0.01)  # slow enough that the requests overlap
            writer.write(ok(b"ok"))

    async with peer(handler) as (p, client), peer(handler) as (other, other_client):
        answers = await asyncio.gather(*(client.get(f"/{i}") for i in range(20)))
        assert [a.text for a in answers] == ["ok"] * 20
        assert p.connections == MAX_CONNECTIONS  # the rest waited for a free connection
        # every connection is idle on the first origin now: a second origin still gets one
        assert (await client.get(other_client.base_url.join("/x"))).text == "ok"
    assert other.connections == 1


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


@run
async def test_https_with_verified_certificate_and_keep_alive() -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    p = Peer(lambda r, w, n: _answer_forever(p, r, w))
    server = await asyncio.start_server(p._serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}",
                                     transport=FastTransport(ssl_context=client_ctx)) as client:
            assert [(await client.get("/")).text for _ in range(3)] == ["secure"] * 3
        assert p.connections == 1
        # a client that does not trust the CA refuses the server
        async with httpx.AsyncClient(transport=FastTransport(ssl_context=ssl.create_default_context())) as c:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await c.get(f"https://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()


async def _answer_forever(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await p.read_request(reader)
        writer.write(ok(b"secure"))


def test_proxy_in_env_follows_the_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from fpt.run.transport import proxy_in_env

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
    from fpt.run.transport import MAX_CONNECTIONS, DesyncCheck

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
    from fpt.run.transport import BodyTooLarge

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


@run
async def test_a_too_large_head_is_refused_even_when_read_whole() -> None:
    from fpt.run.transport import MAX_HEAD, HeadTooLarge, _Connection

    conn = _Connection(asyncio.get_running_loop())
    conn.start(skip_body=False, max_body=None)
    fields = b"".join(b"X-F-%d: %s\r\n" % (i, b"x" * 90) for i in range(MAX_HEAD // 90 + 10))
    conn.data_received(b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 2\r\n\r\nok")  # one read
    assert isinstance(conn.error, HeadTooLarge)
    assert not conn.head_done
