"""The HTTP/1.1 wire against real sockets on 127.0.0.1: body framings, HEAD, 204 and interim
answers, the head limit."""

from __future__ import annotations

import asyncio

from tests.run.transport.peers import ok, peer, run


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
async def test_a_too_large_head_is_refused_even_when_read_whole() -> None:
    from fpt.run.transport.errors import HeadTooLarge
    from fpt.run.transport.wire import MAX_HEAD, _Connection

    conn = _Connection(asyncio.get_running_loop())
    conn.start(skip_body=False, max_body=None)
    fields = b"".join(b"X-F-%d: %s\r\n" % (i, b"x" * 90) for i in range(MAX_HEAD // 90 + 10))
    conn.data_received(b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 2\r\n\r\nok")  # one read
    assert isinstance(conn.error, HeadTooLarge)
    assert not conn.head_done
