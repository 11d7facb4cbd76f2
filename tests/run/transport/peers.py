"""Scripted peers for the transport's tests: real ``asyncio`` TCP servers on 127.0.0.1 that write
exactly the bytes a test needs (chunked bodies, interim answers, closed keep-alive connections,
garbage), so every branch of the wire code runs against a peer, not a mock."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx

from fpt.run.transport.fast import FastTransport


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
