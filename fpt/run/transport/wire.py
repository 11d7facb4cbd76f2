"""The HTTP/1.1 wire: one connection reading one answer at a time with llhttp, and a
request's bytes."""

from __future__ import annotations

import asyncio
import re

import httptools
import httpx

from fpt.run.transport.errors import (
    _IDLE_TIMEOUT,
    BodyTooLarge,
    Desync,
    HeadTooLarge,
    ProtocolDesync,
    _what,
    desync_message,
)

#: Pause reading a streamed body once this much is buffered and not yet consumed.
HIGH_WATER = 1 << 20
#: Most bytes an answer may take before its head is complete (httpcore's h11 limit).
MAX_HEAD = 100 * 1024
#: Most bytes of one response body, unless the request's ``fpt.max_body`` extension says otherwise.
MAX_BODY = 64 * 1024 * 1024
_VERSIONS = {"1.1": b"HTTP/1.1", "1.0": b"HTTP/1.0"}
_OWS = (0x20, 0x09)
_FOLD_ERROR = "whitespace after header value"
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_INTERIM = re.compile(rb"HTTP/\d\.\d 1(?!01)\d\d")
_OBS_FOLD = re.compile(rb"\r?\n[ \t]+")


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
