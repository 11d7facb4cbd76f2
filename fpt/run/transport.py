"""A lean HTTP/1.1 transport for each user's ``httpx.AsyncClient``.

httpx's default transport (httpcore + h11, pure Python, with a lock per pool
operation) costs several times more CPU per request than the client itself; on a
load generator that CPU is the ceiling. This transport keeps httpx's API and
semantics for the flow (cookies, redirects, decoding, timeouts, exceptions) and
does the wire work with an ``asyncio.Protocol`` and ``httptools`` (llhttp, the
parser uvicorn uses).

What it does: HTTP/1.1 (and HTTP/1.0 answers) over TCP or TLS, keep-alive per
origin (one user, a few connections, like a browser) with idle connections
expiring after ``keepalive_expiry`` seconds, Content-Length / chunked /
read-until-close bodies, streamed responses, chunked request bodies,
connect/read/write/pool timeouts, and one retry of an idempotent request (RFC 9110
§9.2.2) whose *reused* idle connection turned out to be closed by the server before
any byte of the answer came back (what browsers do); ``FastTransport.retries``
counts them. It reads only what answers the request: bytes after the end of an
answer never join its body, and they are a :class:`ProtocolDesync` (typed by
:class:`Desync`): raised for that answer when they came with it, and for the user's
next request when they came while the connection waited, which is then closed. Heads
are limited to :data:`MAX_HEAD` bytes (httpcore's limit) and bodies to
``max_body`` bytes, streamed ones included unless the request lifts it with the
``fpt.max_body`` extension (``None``: no limit). Where it answers differently from
httpx's own transport it is stricter (an error for a message RFC 9112 calls
invalid), never quieter, the counted retry aside:
``tests/test_transport_conformance.py`` runs both against the same hostile servers.

What it does not do: HTTP/2, proxies (see :func:`proxy_in_env`), Unix sockets —
choose ``http_transport = "httpx"`` for those; fpt wraps httpx's transport in
:class:`DesyncCheck`, which finds the same desyncs there.

Why a desync is an error, never a quiet close: bytes after a complete answer (a 204,
304 or HEAD answer with a body, a Content-Length shorter than the body, a second answer
glued to the first, an answer to a request never sent) are how answers reach the wrong
request — and so the wrong user — behind proxies and pooling gateways (RFC 9112 §9.3,
§11.2). The user's answer may be cut short or not be its own: the step fails with the
error kind ``protocol``.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import urllib.request
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

import httptools
import httpx

#: Connections one user may have open at once (like a browser), idle ones included.
MAX_CONNECTIONS = 6
#: Seconds an idle connection may wait for its next request (httpcore's default).
KEEPALIVE_EXPIRY = 5.0
#: Pause reading a streamed body once this much is buffered and not yet consumed.
HIGH_WATER = 1 << 20
#: Most bytes an answer may take before its head is complete (httpcore's h11 limit).
MAX_HEAD = 100 * 1024
#: Most bytes of one response body, unless the request's ``fpt.max_body`` extension says otherwise.
MAX_BODY = 64 * 1024 * 1024
#: Methods that may be sent again on a fresh connection (RFC 9110 §9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_VERSIONS = {"1.1": b"HTTP/1.1", "1.0": b"HTTP/1.0"}
_OWS = (0x20, 0x09)
_FOLD_ERROR = "whitespace after header value"
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_INTERIM = re.compile(rb"HTTP/\d\.\d 1(?!01)\d\d")
_OBS_FOLD = re.compile(rb"\r?\n[ \t]+")


class BodyTooLarge(httpx.RemoteProtocolError):
    """A response body was larger than the transport's ``max_body`` limit."""


class HeadTooLarge(httpx.RemoteProtocolError):
    """A response head was larger than :data:`MAX_HEAD`."""


class Desync(StrEnum):
    """How the bytes on a connection stopped matching the requests sent on it."""

    #: bytes after the end of a complete answer (a Content-Length shorter than the body, a second
    #: answer glued to the first, pipelined junk)
    EXTRA_BYTES = "extra_bytes"
    #: bytes after an answer that may not have a body: to a HEAD, a 1xx, 204 or 304 (RFC 9112 §6.3)
    BODY_NOT_ALLOWED = "body_not_allowed"
    #: bytes on a connection before any request was sent on it: an answer to a request never sent
    UNSOLICITED = "unsolicited"


class ProtocolDesync(httpx.RemoteProtocolError):
    """The server sent bytes that answer no request (see :class:`Desync`); error kind ``protocol``."""

    def __init__(self, kind: Desync, message: str, *, request: httpx.Request | None = None) -> None:
        self.kind = kind
        super().__init__(message, request=request)


#: a server's notice that it closes an idle connection (RFC 9110 §15.5.9): not a desync
_IDLE_TIMEOUT = re.compile(rb"HTTP/1\.[01] 408 ")


def desync_message(kind: Desync, after: str, idle: bool = False) -> str:
    """The error's text: what came, after which request, and why it matters."""
    what = {Desync.EXTRA_BYTES: "after the end of the answer to",
            Desync.BODY_NOT_ALLOWED: "as a body where none is allowed, after the answer to",
            Desync.UNSOLICITED: "before any request was sent, on the connection for"}[kind]
    when = " while the connection waited for its next request" if idle else ""
    return (f"{kind}: the server sent bytes {what} {after}{when}; "
            "answers on this connection no longer match their requests (a response desync)")


def _what(request: httpx.Request | None) -> str:
    return f"{request.method} {request.url.path}" if request is not None else "a request"


class _Stop(Exception):
    """Raised from a parser callback to stop llhttp where the answer ends or goes wrong."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; answers one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.busy = False
        self.retired = False  # lent (FastTransport.lend), then closed and uncounted
        self.idle_since = 0.0
        self._parser = _parser(self)
        self._stale_parser = False
        self._reset()
        self._drain: asyncio.Future[None] | None = None
        #: bytes that answer no request: the connection is closed and never reused
        self.stray: Desync | None = None
        #: the request this connection answered last (named by a desync found after it)
        self.request: httpx.Request | None = None

    def _reset(self) -> None:
        self.status = 0
        self.reason = b""
        self.version = b"HTTP/1.1"
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.received = 0  # body bytes of this answer, for max_body
        self.head_bytes = 0
        self.seen: list[bytes] = []
        self.folded = False  # an obs-fold was found: parse again once the head is whole
        self.unfolded = False
        self.got_bytes = False
        self.head_done = False
        self.complete = False
        self.error: BaseException | None = None
        self.pending: BaseException | None = None  # an error a callback found, raised via _Stop
        self.skip_body = False
        self.keep_alive = False
        self.chunked = False
        self.max_body: int | None = MAX_BODY
        self._waiter: asyncio.Future[None] | None = None

    # -- protocol callbacks -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes nobody asked for: the connection cannot be trusted
            if self.stray is None and not (self.request is not None and _IDLE_TIMEOUT.match(data)):
                self._desync(Desync.UNSOLICITED if self.request is None else self._extra_kind())
            self.close()
            return
        if self.complete:  # bytes after the end of the answer: it may be cut short, or not its own
            self._desync(self._extra_kind())
            self.close()
            return
        self.got_bytes = True
        if not self.head_done:
            self.head_bytes += len(data)
            self.seen.append(data)  # kept until the head is parsed, in case it has to be unfolded
            if self.folded:
                data = self._unfolded()
        if data:
            self._feed(data)
        if not self.head_done and self.head_bytes > MAX_HEAD and self.error is None:
            self._fail(HeadTooLarge(f"response head larger than {MAX_HEAD} bytes"))

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("protocol upgrade is not supported"))
        except httptools.HttpParserError as exc:
            if self.complete:  # bytes after the end of the answer, in the same read as its end
                self._desync(self._extra_kind())
                self.close()
            elif self.pending is not None:
                self._fail(self.pending)
            elif not self.head_done and not self.unfolded and _FOLD_ERROR in str(exc):
                # obs-fold, which a user agent must read as a space (RFC 9112 §5.2) and h11 does;
                # llhttp only reads it in a mode that lets control characters through too, so the
                # head is parsed again, unfolded, once it is all here.
                self.folded = True
                self._parser = _parser(self)
                self._stale_parser = False
                data = self._unfolded()
                if data:
                    self._feed(data)
            else:
                self._fail(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}"))

    def _unfolded(self) -> bytes:
        """What was received, its final head's obs-folds replaced by a space; b"" until that head is whole."""
        data = b"".join(self.seen)
        start = 0
        while True:
            end = _HEAD_END.search(data, start)
            if end is None:
                return b""
            if _INTERIM.match(data, start) is None:
                break
            start = end.end()
        # Not before the first field line: a fold there would join the status line (h11 refuses it).
        first = data.index(b"\n", start) + 1
        self.status, self.reason, self.headers, self.chunked = 0, b"", [], False
        self.seen = []
        self.folded = False
        self.unfolded = True
        return data[:first] + _OBS_FOLD.sub(b" ", data[first:end.start()]) + data[end.start():]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(httpx.WriteError("connection closed while sending"))
        if not self.busy or self.complete or self.error is not None:
            return
        if self.head_done and not self._has_length():
            self.complete = True  # a body delimited by the end of the connection
            self._wake()
        else:
            self._fail(httpx.RemoteProtocolError(
                "server disconnected without sending a complete response" if self.got_bytes
                else "server disconnected without sending a response"))

    def pause_writing(self) -> None:
        self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # -- parser callbacks ---------------------------------------------------
    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request (RFC 9112 §9.3): not ours, not reusable
            raise _Stop

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_done:
            return  # a trailer field (RFC 9112 §7.1.2): not a header of the answer, as with httpx
        if len(name) == 17 and name.lower() == b"transfer-encoding":
            # llhttp reads "gzip, chunked" as plain chunked and hands over a still-encoded body;
            # like h11, accept only exactly one "chunked" (RFC 9112 §6.1).
            if self.chunked or value.strip().lower() != b"chunked":
                self.pending = httpx.RemoteProtocolError(
                    f"unsupported Transfer-Encoding {value.decode('latin-1')!r}")
                raise _Stop
            self.chunked = True
        if value and value[-1] in _OWS:
            value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace; it is not the value's
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        self.status = parser.get_status_code()
        if 100 <= self.status < 200 and self.status != 101:
            self.status, self.reason, self.headers = 0, b"", []  # interim answer: wait for the real one
            self.chunked = False
            return
        if self.head_bytes > MAX_HEAD and sum(len(n) + len(v) + 4 for n, v in self.headers) > MAX_HEAD:
            # a head that came whole in one large read: too large all the same, as with h11
            self.pending = HeadTooLarge(f"response head larger than {MAX_HEAD} bytes")
            raise _Stop
        self.head_done = True
        if self.seen:
            self.seen = []
        version = parser.get_http_version()
        if version != "1.1":
            self.version = _VERSIONS.get(version) or b"HTTP/" + version.encode("ascii")
        if self.skip_body:
            # A HEAD answer has no body whatever its Content-Length says (RFC 9112 §6.3), but llhttp
            # cannot be told so: it reads on, and anything it finds is extra; a fresh parser serves
            # the next request.
            self.keep_alive = parser.should_keep_alive() or self._head_keeps_alive()
            self._stale_parser = True
            self.complete = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.skip_body:
            raise _Stop  # bytes after a HEAD answer
        self.received += len(body)
        if self.max_body is not None and self.received > self.max_body:
            self.pending = BodyTooLarge(f"response body larger than max_body={self.max_body} bytes")
            raise _Stop
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.head_done:  # an interim 1xx answer ended
            return
        if self.skip_body:
            raise _Stop  # a whole (empty-bodied) message after a HEAD answer
        self.keep_alive = self._parser.should_keep_alive()  # llhttp forgets it right after
        self.complete = True
        self._wake()

    # -- used by the transport ---------------------------------------------
    def _extra_kind(self) -> Desync:
        if self.skip_body or self.status in (204, 304):
            return Desync.BODY_NOT_ALLOWED
        return Desync.EXTRA_BYTES

    def _desync(self, kind: Desync) -> None:
        if self.stray is None:
            self.stray = kind

    def desync_error(self, request: httpx.Request, idle: bool = False) -> ProtocolDesync:
        """The error for the desync found on this connection, raised for ``request``."""
        assert self.stray is not None
        return ProtocolDesync(self.stray, desync_message(self.stray, _what(self.request), idle),
                              request=request)

    def _has_length(self) -> bool:
        for name, _ in self.headers:
            n = name.lower()
            if n == b"content-length" or n == b"transfer-encoding":
                return True
        return False

    def _head_keeps_alive(self) -> bool:
        """For a HEAD answer without Content-Length, which llhttp would read until the close."""
        tokens = b",".join(v for n, v in self.headers if n.lower() == b"connection").lower()
        if self.version == b"HTTP/1.1":
            return b"close" not in tokens
        return b"keep-alive" in tokens

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.close()
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait(self, limit: float | None, what: str) -> None:
        """Until something new arrives (head, a chunk, the end, an error) or ``limit`` seconds."""
        if self.error is not None:
            raise self.error
        w = self._waiter = self.loop.create_future()
        handle = self.loop.call_later(limit, _expire, w) if limit is not None else None
        try:
            await w
        except TimeoutError:
            self.close()
            raise httpx.ReadTimeout(f"no {what} within {limit:g}s") from None
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()
        if self.error is not None:
            raise self.error

    async def drain(self, limit: float | None) -> None:
        """Wait until the kernel took what was written (only when the buffer is full)."""
        d = self._drain
        if d is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(d), limit)
        except TimeoutError:
            raise httpx.WriteTimeout(f"could not send within {limit:g}s") from None

    def start(self, skip_body: bool, max_body: int | None, request: httpx.Request | None = None) -> None:
        self._reset()
        self.request = request
        self.busy = True
        self.skip_body = skip_body
        self.max_body = max_body
        if self._stale_parser:  # the last answer was to a HEAD: its parser still expects a body
            self._parser = _parser(self)
            self._stale_parser = False
        if self.transport is not None and self.buffered == 0:
            self.transport.resume_reading()

    def take(self) -> bytes:
        data = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks = []
        if self.buffered > HIGH_WATER and self.transport is not None:
            self.transport.resume_reading()
        self.buffered = 0
        return data

    def reusable(self) -> bool:
        return not self.closed and self.complete and self.error is None and self.keep_alive

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _parser(conn: _Connection) -> httptools.HttpResponseParser:
    parser = httptools.HttpResponseParser(conn)
    # Bare LF line endings, which h11 (httpx's parser) accepts too (RFC 9112 §2.2 allows it).
    parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)
    return parser


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; gives the connection back when done."""

    def __init__(self, owner: FastTransport, key: tuple[str, str, int], conn: _Connection,
                 read_timeout: float | None) -> None:
        self._owner = owner
        self._key = key
        self._conn = conn
        self._timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        try:
            while True:
                if conn.chunks:
                    yield conn.take()
                    continue
                if conn.complete:
                    break
                await conn.wait(self._timeout, "response body")
            if conn.stray is not None:
                assert conn.request is not None
                raise conn.desync_error(conn.request)
        except BaseException:
            conn.close()
            raise
        finally:
            if conn.complete and not conn.chunks:
                self._release()

    async def aclose(self) -> None:
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._owner._release(self._key, self._conn)


class FastTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive transport of one user (see the module docstring)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 keepalive_expiry: float | None = KEEPALIVE_EXPIRY, max_body: int | None = MAX_BODY) -> None:
        self._ssl = ssl_context
        self._expiry = keepalive_expiry
        self._max_body = max_body
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open = 0
        self._slots: list[asyncio.Future[None]] = []
        self._closed = False
        #: Requests sent a second time because a reused connection closed before any answer.
        self.retries = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"fpt's transport speaks http and https, not {scheme!r}")
        host = url.host
        port = url.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        extensions = request.extensions
        timeouts = extensions.get("timeout", {})
        max_body = extensions.get("fpt.max_body", self._max_body)
        head = _head(request)
        body = await _body(request)
        method = request.method
        skip_body = method == "HEAD"
        for attempt in (0, 1):
            conn = await self._acquire(key, timeouts, request)
            if conn.stray is not None:  # it spoke before it was asked (UNSOLICITED)
                conn.close()
                self._open -= 1
                self._wake_slot()
                raise conn.desync_error(request)
            conn.start(skip_body, max_body, request)
            try:
                await self._send(conn, request, head, body, timeouts.get("write"))
                while not conn.head_done:
                    await conn.wait(timeouts.get("read"), "response")
            except (httpx.RemoteProtocolError, httpx.WriteError):
                conn.close()
                self._release(key, conn)
                # Only when the server closed a reused connection before answering, and only if
                # sending it twice does no harm: a POST is never sent again.
                if (attempt == 0 and conn.reused and not conn.got_bytes and body is not None
                        and method in IDEMPOTENT):
                    self.retries += 1
                    continue
                raise
            except BaseException:
                conn.close()
                self._release(key, conn)
                raise
            break
        status, headers, reason = conn.status, conn.headers, conn.reason
        stream: httpx.AsyncByteStream
        if conn.complete:  # the whole answer came with its head (small bodies): no streaming needed
            stream = httpx.ByteStream(conn.take())
            self._release(key, conn)
            if conn.stray is not None:  # and bytes after it, in the same read
                raise conn.desync_error(request)
        else:
            stream = _Body(self, key, conn, timeouts.get("read"))
        return httpx.Response(status, headers=headers, stream=stream,
                              extensions={"http_version": conn.version, "reason_phrase": reason})

    async def _send(self, conn: _Connection, request: httpx.Request, head: bytes,
                    body: bytes | None, write_timeout: float | None) -> None:
        tr = conn.transport
        if tr is None or conn.closed:
            raise httpx.WriteError("connection closed")
        if body is not None:
            # One write (one syscall) for small requests; no copy of a large body.
            if len(body) < 65536:
                tr.write(head + body)
            else:
                tr.writelines((head, body))
            await conn.drain(write_timeout)
            return
        tr.write(head)  # a streamed body without a length: chunked
        async for chunk in request.stream:  # type: ignore[union-attr]
            if chunk:
                tr.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await conn.drain(write_timeout)
        tr.write(b"0\r\n\r\n")
        await conn.drain(write_timeout)

    async def _acquire(self, key: tuple[str, str, int], timeouts: dict[str, Any],
                       request: httpx.Request) -> _Connection:
        if self._closed:
            raise RuntimeError("the transport is closed")
        while True:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if not conn.closed and (self._expiry is None
                                        or conn.loop.time() - conn.idle_since <= self._expiry):
                    conn.reused = True
                    return conn
                conn.close()  # closed by the server, or idle for too long
                self._open -= 1
                if conn.stray is not None:  # bytes came after its last answer, while it waited
                    self._wake_slot()
                    raise conn.desync_error(request, idle=True)
            if self._open < MAX_CONNECTIONS or self._evict_idle():
                break
            slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._slots.append(slot)
            try:
                await asyncio.wait_for(slot, timeouts.get("pool"))
            except TimeoutError:
                raise httpx.PoolTimeout(
                    f"all {MAX_CONNECTIONS} connections of this user stayed busy") from None
        self._open += 1
        try:
            return await self._connect(key, timeouts.get("connect"))
        except BaseException:
            self._open -= 1
            self._wake_slot()
            raise

    def lend(self, url: httpx.URL) -> tuple[tuple[str, str, int], _Connection] | None:
        """The idle connection to ``url``'s origin this user used last, taken out of its pool, or None.

        For the shared-connection detector: another user's request goes on it next, as a pooling
        gateway would send it; :meth:`send_on` sends it and closes the connection after.
        """
        scheme = url.scheme
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            expired = self._expiry is not None and conn.loop.time() - conn.idle_since > self._expiry
            if not conn.closed and not expired:
                conn.reused = True
                return key, conn
            conn.close()
            self._open -= 1
        return None

    async def send_on(self, conn: _Connection, request: httpx.Request, *,
                      keep: bool = False) -> httpx.Response:
        """Send ``request`` on ``conn`` (from :meth:`lend`), read its whole answer, close the connection.

        Closed, not given back: the service may now hold the other user's state on it, and the
        user's own next request must not inherit what fpt did on purpose. ``keep``: left open
        for one more :meth:`send_on` when the answer allows it (``conn.closed`` says if not).
        """
        timeouts = request.extensions.get("timeout", {})
        conn.start(request.method == "HEAD", self._max_body)
        chunks: list[bytes] = []
        try:
            await self._send(conn, request, _head(request), await _body(request), timeouts.get("write"))
            while not conn.head_done:
                await conn.wait(timeouts.get("read"), "response")
            while True:
                if conn.chunks:
                    chunks.append(conn.take())
                elif conn.complete:
                    break
                else:
                    await conn.wait(timeouts.get("read"), "response body")
        except BaseException:
            keep = False
            raise
        finally:
            conn.busy = False
            if not (keep and conn.reusable()):
                self.retire(conn)
        return httpx.Response(conn.status, headers=conn.headers, content=b"".join(chunks), request=request,
                              extensions={"http_version": conn.version, "reason_phrase": conn.reason})

    def retire(self, conn: _Connection) -> None:
        """Close a connection :meth:`lend` took out of the pool (once: a closed one is left as it is)."""
        if conn.retired:
            return
        conn.retired = True
        conn.close()
        self._open -= 1
        self._wake_slot()

    def _evict_idle(self) -> bool:
        """Close one idle connection to another origin, to make room; False if none is idle."""
        for conns in self._idle.values():
            if conns:
                conns.pop(0).close()
                self._open -= 1
                return True
        return False

    async def _connect(self, key: tuple[str, str, int], limit: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        ctx: ssl.SSLContext | None = None
        if scheme == "https":
            ctx = self._ssl or httpx.create_ssl_context()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(loop), host, port, ssl=ctx,
                                       server_hostname=host if ctx is not None else None),
                limit)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} within {limit:g}s") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        tr = conn.transport
        if tr is not None:
            sock = tr.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
        return conn

    def _release(self, key: tuple[str, str, int], conn: _Connection) -> None:
        if not conn.busy:
            return
        conn.busy = False
        idle = self._idle.setdefault(key, [])
        if conn.reusable() and not self._closed:
            conn.idle_since = conn.loop.time()
            idle.append(conn)
        else:
            conn.close()
            self._open -= 1
        self._wake_slot()

    def _wake_slot(self) -> None:
        while self._slots:
            slot = self._slots.pop(0)
            if not slot.done():
                slot.set_result(None)
                return

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        self._open = 0


class DesyncCheck(httpx.AsyncBaseTransport):
    """httpx's own transport (httpcore + h11), never quieter about desyncs than fpt's.

    httpcore keeps bytes that came after an answer in h11's buffer and reads them as the
    next answer on that connection: a later request, maybe another step's, gets a stale
    answer and calls it a success. This wrapper looks at that buffer when each answer
    ends, and before a request sent while none is in flight (every connection idle) it
    peeks at the plain-TCP connections earlier answers left; bytes in either are a
    :class:`ProtocolDesync` and the connection is closed, never reused, as with
    :class:`FastTransport`. The buffer is reached through httpcore's internals (pinned by
    ``tests/test_transport_conformance.py``); where they are not found (a proxy, HTTP/2)
    nothing is checked and httpx behaves as it always did.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        #: sockets left idle by an answer (asyncio's or plain ones), with the request they answered
        self._idle: dict[int, tuple[Any, httpx.Request]] = {}
        #: requests sent and not yet closed: their connections are not idle, so not peeked
        self._inflight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check the idle connections, then send; the answer's end is checked as it is read."""
        if self._idle and not self._inflight:
            self._check_idle(request)
        self._inflight += 1
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException:
            self._inflight -= 1
            raise
        response.stream = _CheckedStream(response.stream, request, response.status_code,  # type: ignore[arg-type]
                                          self, response.extensions.get("network_stream"))
        return response

    def _check_idle(self, request: httpx.Request) -> None:
        for fd, (sock, answered) in list(self._idle.items()):
            if sock.fileno() != fd:  # closed since
                del self._idle[fd]
                continue
            # asyncio hands out a socket without recv: peek through a view of the same descriptor
            view = socket.socket(sock.family, sock.type, sock.proto, fileno=fd)
            try:
                data = view.recv(16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                continue  # nothing waiting: a clean idle connection
            except OSError:
                data = b""
            finally:
                view.detach()
            del self._idle[fd]
            if not data or _IDLE_TIMEOUT.match(data):
                continue  # closed by the server: httpcore drops it before reuse
            try:
                sock.shutdown(socket.SHUT_RDWR)  # never reused: httpcore finds it closed
            except OSError:
                pass
            kind = Desync.EXTRA_BYTES
            raise ProtocolDesync(kind, desync_message(kind, _what(answered), idle=True), request=request)

    def _done(self, network: Any, request: httpx.Request | None) -> None:
        self._inflight -= 1
        if request is None or network is None or network.get_extra_info("ssl_object") is not None:
            return  # TLS: a record waiting may be the server's close_notify; not peeked
        sock = network.get_extra_info("socket")
        if sock is not None and sock.type == socket.SOCK_STREAM and sock.fileno() >= 0 \
                and len(self._idle) < 64:
            self._idle[sock.fileno()] = (sock, request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        self._idle.clear()
        await self.inner.aclose()


def _h11_of(stream: Any) -> tuple[Any, Any]:
    """(httpcore's connection, its h11 state) under a response stream of httpx's transport, or Nones."""
    pooled = getattr(stream, "_httpcore_stream", None)  # httpx's AsyncResponseStream
    inner = getattr(pooled, "_stream", None)  # httpcore's PoolByteStream
    connection = getattr(inner, "_connection", None)  # HTTP11ConnectionByteStream
    return connection, getattr(connection, "_h11_state", None)


class _CheckedStream(httpx.AsyncByteStream):
    """An answer's body from httpx's transport; bytes left after its end are a desync."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request, status: int,
                 owner: DesyncCheck, network: Any) -> None:
        self._inner = inner
        self._request = request
        self._status = status
        self._owner = owner
        self._network = network
        self._bad: Any = None
        self._whole = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk
        connection, h11 = _h11_of(self._inner)
        if h11 is None:
            return
        left, _ = h11.trailing_data
        if left and not _IDLE_TIMEOUT.match(left):
            self._bad = connection
            no_body = self._request.method == "HEAD" or self._status in (204, 304)
            kind = Desync.BODY_NOT_ALLOWED if no_body else Desync.EXTRA_BYTES
            raise ProtocolDesync(kind, desync_message(kind, _what(self._request)), request=self._request)
        self._whole = True

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if not self._closed:
                self._closed = True
                self._owner._done(self._network, self._request if self._whole else None)
            if self._bad is not None:  # after httpcore put it back in the pool: closed, never reused
                bad, self._bad = self._bad, None
                await bad.aclose()


def proxy_in_env(url: str) -> str | None:
    """The proxy that ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` (less ``NO_PROXY``) set for ``url``.

    FastTransport speaks to origins only; a caller that gets a proxy here should use
    httpx's own transport rather than silently bypass the proxy.
    """
    parts = httpx.URL(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    host = parts.host if parts.port is None else f"{parts.host}:{parts.port}"
    if urllib.request.proxy_bypass(host):
        return None
    return proxy


def _head(request: httpx.Request) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    # httpx keeps (raw, lower, value) triples; ``headers.raw`` would copy them into a new list.
    for triple in getattr(request.headers, "_list", None) or request.headers.raw:
        lines += [triple[0], b": ", triple[-1], b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)


async def _body(request: httpx.Request) -> bytes | None:
    """The whole request body, or None when it is streamed without a known length."""
    if isinstance(request.stream, httpx.ByteStream):  # bytes, JSON, form: httpx has read it already
        try:
            return request.content
        except httpx.RequestNotRead:  # a request httpx built to follow a redirect keeps the stream
            return await request.aread()
    for name, _ in request.headers.raw:
        if name.lower() == b"transfer-encoding":
            return None
    return await request.aread()
