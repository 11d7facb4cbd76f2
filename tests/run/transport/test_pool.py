"""One user's connection pool against real sockets on 127.0.0.1: keep-alive, idle connections the
server closed, the bound across origins, TLS."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fpt.run.transport.fast import FastTransport
from tests.run.transport.peers import Peer, ok, peer, run


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
async def test_concurrent_requests_share_a_bounded_pool_across_origins() -> None:
    from fpt.run.transport.pool import MAX_CONNECTIONS

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
