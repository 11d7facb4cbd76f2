"""fpt's transport against httpx's own (httpcore + h11), exchange by exchange.

Each case is a scripted server on 127.0.0.1 that writes exactly the bytes of a
hostile or unusual HTTP/1.1 exchange. Both transports meet the same script (a
fresh server each), and what the flow would see — status, headers, body, HTTP
version, or the httpx exception class — is compared. The corpus says, per case,
how the two must relate:

- ``same``: the same outcome for every call;
- ``stricter``: fpt raises (the pinned class) where httpx answers; allowed only
  where RFC 9112 calls the message invalid or fpt enforces a documented limit;
- ``retried``: an idempotent request on a reused connection closed before any
  answer is sent once more (RFC 9112 §9.3.1) and counted in ``FastTransport.retries``;
- ``desync``: the server sent bytes that answer no request (after a complete answer, a
  body where none is allowed, an answer while the connection was idle); httpx either hands
  them to a later call as its answer or drops them quietly. fpt raises
  :class:`~fpt.run.transport.errors.ProtocolDesync` (its kind pinned) where they are found, and so
  does fpt's wrapper of httpx's transport (:class:`~fpt.run.transport.desync_check.DesyncCheck`), call by
  call the same outcomes as the fast transport.

Never quieter: no case may let fpt answer where httpx raises, except ``retried``; and
fpt's wrapper of httpx's transport answers every other case exactly as httpx does.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import logging
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from fpt.run.context import RunContext
from fpt.run.identity import IdentityFactory
from fpt.run.transport.desync_check import DesyncCheck
from fpt.run.transport.errors import ProtocolDesync
from fpt.run.transport.fast import FastTransport
from fpt.run.user import User

Write = Callable[[bytes], None]
#: A server script: ``(request_head_and_body, connection_number, request_number_on_it, write)``.
#: It answers one request; returning ``False`` closes the connection without reading more.
Script = Callable[[bytes, int, int, Write], Awaitable[bool | None]]
Outcome = tuple[Any, ...]


@dataclass(frozen=True)
class Call:
    """One request of a case, made after ``delay`` seconds."""

    method: str = "GET"
    path: str = "/"
    json: Any = None
    delay: float = 0.0


@dataclass(frozen=True)
class Case:
    """One exchange of the corpus and how fpt's outcome must relate to httpx's."""

    name: str
    script: Script
    relation: str = "same"
    why: str = ""
    calls: tuple[Call, ...] = (Call(),)
    #: For ``stricter``: the httpx exception class fpt raises, and at which call.
    fast_error: type[Exception] | None = None
    #: Connections and requests each server must have seen (None: not checked).
    connections: int | None = None
    requests: int | None = None
    fast_kwargs: dict[str, Any] = field(default_factory=dict)
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    keepalive_expiry: float = 5.0
    tls: bool = False
    #: Connections fpt's server must have seen, where httpx legitimately opens another number.
    fast_connections: int | None = None
    #: For ``desync``: fpt's outcome of each call, pinned (``("desync", kind)`` for a desync).
    fast_expected: tuple[Outcome, ...] | None = None


def resp(status: int, body: bytes = b"", extra: bytes = b"", reason: bytes = b"OK") -> bytes:
    """A well-formed HTTP/1.1 answer with a Content-Length."""
    return b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, reason, len(body), extra, body)


def always(data: bytes) -> Script:
    """Answer every request with ``data``."""

    async def script(req: bytes, conn: int, n: int, write: Write) -> bool:
        write(data)
        return True

    return script


def once(data: bytes) -> Script:
    """Answer with ``data``, then close the connection."""

    async def script(req: bytes, conn: int, n: int, write: Write) -> bool:
        write(data)
        return False

    return script


def pieces(*parts: bytes) -> Script:
    """Answer every request with ``parts``, each in its own write a moment apart."""

    async def script(req: bytes, conn: int, n: int, write: Write) -> bool:
        for part in parts:
            write(part)
            await asyncio.sleep(0.01)
        return True

    return script


def chunked(*chunks: bytes, trailer: bytes = b"") -> bytes:
    """A chunked body, its last chunk and optional trailer fields."""
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + trailer + b"\r\n"


async def _stray_then_close(req: bytes, conn: int, n: int, write: Write) -> bool:
    # answers the first request on a connection; reads the second and closes without a word
    if n == 1:
        write(resp(200, b"first"))
        return True
    return False


async def _then_unasked(req: bytes, conn: int, n: int, write: Write) -> bool:
    # answers, then, while the connection waits, sends an answer nobody asked for
    write(resp(200, b"one"))
    await asyncio.sleep(0.05)
    write(resp(200, b"unasked"))
    return True


async def _then_408(req: bytes, conn: int, n: int, write: Write) -> bool:
    # answers, then tells the idle connection it is closed, and closes it
    write(resp(200, b"one"))
    await asyncio.sleep(0.05)
    write(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    return False


async def _redirects(req: bytes, conn: int, n: int, write: Write) -> bool:
    if req.startswith(b"GET /old "):
        write(b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")
    elif req.startswith(b"POST /old "):
        write(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")
    else:
        write(resp(200, req.split(b" ", 1)[0] + b" " + req.split(b"\r\n\r\n", 1)[1]))
    return True


async def _cookies(req: bytes, conn: int, n: int, write: Write) -> bool:
    if req.startswith(b"GET /login "):
        write(b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc123; Path=/\r\nContent-Length: 2\r\n\r\nok")
    else:  # echoes the cookie it was sent
        cookie = [line for line in req.split(b"\r\n") if line.lower().startswith(b"cookie:")]
        write(resp(200, cookie[0] if cookie else b"no cookie"))
    return True


async def _endless_head(req: bytes, conn: int, n: int, write: Write) -> bool:
    write(b"HTTP/1.1 200 OK\r\n")
    for i in range(2_000):  # 200 KiB of headers: bounded, but past both transports' limit
        write(b"X-Filler-%d: %s\r\n" % (i, b"x" * 90))
    write(b"Content-Length: 2\r\n\r\nok")
    return True


async def _head_then_get(req: bytes, conn: int, n: int, write: Write) -> bool:
    if req.startswith(b"HEAD"):
        write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    else:
        write(resp(200, b"after head"))
    return True


async def _head_without_length(req: bytes, conn: int, n: int, write: Write) -> bool:
    if req.startswith(b"HEAD"):
        write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    else:
        write(resp(200, b"after head"))
    return True


def _encoded(coding: bytes, body: bytes) -> Script:
    return always(resp(200, body, b"Content-Encoding: " + coding + b"\r\n"))


PLAIN = b'{"ok": true, "text": "' + b"compressible " * 50 + b'"}'
_deflater = zlib.compressobj(wbits=zlib.MAX_WBITS)
DEFLATED = _deflater.compress(PLAIN) + _deflater.flush()
HAS_BROTLI = importlib.util.find_spec("brotli") is not None

CASES = [
    Case("stray_second_response_500_then_200",
         always(resp(500, b'{"error": "db down"}') + resp(200, b'{"ok": true}')),
         "desync", "the first answer is the 500; the glued 200 belongs to no request (RFC 9112 §9.3)",
         calls=(Call(path="/a"), Call(path="/b")), fast_expected=(("desync", "extra_bytes"),) * 2,
         connections=2),
    Case("two_200s_glued", always(resp(200, b"one") + resp(200, b"two")),
         "desync", "only the first answer's bytes are its body (RFC 9112 §6.3)",
         calls=(Call(), Call()), fast_expected=(("desync", "extra_bytes"),) * 2, connections=2),
    Case("pipelined_extra_bytes", always(resp(200, b"fine") + b"garbage"),
         "desync", "bytes after a complete answer make its connection unusable, not the next answer",
         calls=(Call(), Call()), fast_expected=(("desync", "extra_bytes"),) * 2, connections=2),
    Case("content_length_shorter_than_body", always(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"),
         "desync", "the answer is cut at its Content-Length; the rest answers no request (RFC 9112 §6.3)",
         calls=(Call(), Call()), fast_expected=(("desync", "extra_bytes"),) * 2, connections=2),
    Case("answer_to_a_request_never_sent", _then_unasked,
         "desync", "an answer on an idle connection answers no request (RFC 9112 §9.3): httpx drops the "
         "connection quietly before its next request",
         calls=(Call(), Call(delay=0.3)),
         fast_expected=(("ok", 200, [("content-length", "3")], b"one", "HTTP/1.1"),
                        ("desync", "extra_bytes"))),
    Case("post_on_dropped_reused_connection_not_retried", _stray_then_close,
         why="a POST is not idempotent (RFC 9110 §9.2.2): never sent twice",
         calls=(Call("POST", json={"n": 1}), Call("POST", json={"n": 2})), requests=2, connections=1),
    Case("get_on_dropped_reused_connection_retried", _stray_then_close,
         "retried", "GET is idempotent and no byte of the answer came back (RFC 9112 §9.3.1)",
         calls=(Call(), Call()), requests=3, connections=2),
    Case("redirect_302_followed", _redirects, calls=(Call(path="/old"),),
         client_kwargs={"follow_redirects": True}),
    Case("redirect_307_post_resends_body", _redirects, calls=(Call("POST", "/old", json={"a": 1}),),
         client_kwargs={"follow_redirects": True}),
    Case("redirect_302_not_followed", _redirects, calls=(Call(path="/old"), Call(path="/new"))),
    Case("set_cookie_then_sent_back", _cookies, calls=(Call(path="/login"), Call(path="/me"))),
    Case("endless_head", _endless_head, why="both stop at 100 KiB of head"),
    Case("large_head_in_one_write", always(b"HTTP/1.1 200 OK\r\n" + b"".join(
        b"X-Filler-%d: %s\r\n" % (i, b"x" * 90) for i in range(1_500)) + b"Content-Length: 2\r\n\r\nok"),
         why="150 KiB of head is too large however it is read"),
    Case("head_just_under_limit", always(b"HTTP/1.1 200 OK\r\n" + b"".join(
        b"X-Filler-%d: %s\r\n" % (i, b"x" * 90) for i in range(900)) + b"Content-Length: 2\r\n\r\nok")),
    Case("body_over_max_body", always(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      + chunked(*[b"y" * 65536] * 32)),
         "stricter", "fpt bounds a body's memory (max_body, here 1 MiB); h11 has no limit",
         fast_error=httpx.RemoteProtocolError, fast_kwargs={"max_body": 1 << 20}),
    Case("head_keeps_connection_alive", _head_then_get,
         calls=(Call("HEAD"), Call(), Call("HEAD"), Call()), connections=1),
    Case("head_without_length_keeps_alive", _head_without_length,
         calls=(Call("HEAD"), Call()), connections=1),
    Case("head_answered_with_a_body", always(resp(200, b"body of a HEAD")),
         "desync", "a HEAD answer ends with its head (RFC 9112 §6.3): the body is extra",
         calls=(Call("HEAD"), Call()),
         fast_expected=(("desync", "body_not_allowed"),
                        ("ok", 200, [("content-length", "14")], b"body of a HEAD", "HTTP/1.1"))),
    Case("trailers_are_not_headers",
         always(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked(b"abc", trailer=b"X-Trailer: late\r\n")), calls=(Call(), Call()), connections=1),
    Case("http10_close_delimited", once(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close"),
         calls=(Call(), Call()), connections=2),
    Case("http10_keep_alive",
         always(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"),
         why="h11 never reuses an HTTP/1.0 connection; fpt honours its keep-alive (RFC 9112 §9.3)",
         calls=(Call(), Call()), fast_connections=1),
    Case("idle_connection_expires", always(resp(200, b"ok")), calls=(Call(), Call(delay=0.3)),
         connections=2, fast_kwargs={"keepalive_expiry": 0.15}, keepalive_expiry=0.15),
    Case("server_closes_idle_connection", once(resp(200, b"ok")), calls=(Call(), Call(delay=0.1)),
         connections=2, requests=2),
    Case("lf_only_line_endings", always(b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nok"),
         calls=(Call(), Call()), connections=1),
    Case("content_length_and_chunked",
         always(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked(b"abcdef")),
         "stricter", "both framings present: 'ought to be handled as an error' (RFC 9112 §6.3 ¶3)",
         fast_error=httpx.RemoteProtocolError),
    Case("duplicate_differing_content_length",
         always(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"),
         why="an invalid Content-Length is an unrecoverable error (RFC 9112 §6.3 ¶5)"),
    Case("duplicate_equal_content_length",
         always(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"),
         "stricter", "a repeated Content-Length may be rejected as invalid (RFC 9110 §8.6)",
         fast_error=httpx.RemoteProtocolError),
    Case("negative_content_length", always(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nab"),
         why="Content-Length is 1*DIGIT (RFC 9110 §8.6)"),
    Case("truncated_body", once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten.."),
         why="fewer bytes than Content-Length: incomplete (RFC 9112 §8)"),
    Case("truncated_chunked_body",
         once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc"),
         why="a chunked body without its last chunk is incomplete (RFC 9112 §8)"),
    Case("transfer_encoding_gzip_chunked",
         always(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunked(b"raw")),
         why="a transfer coding neither side decodes (RFC 9112 §6.1): an error, not an encoded body"),
    Case("interim_1xx_answers",
         always(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                + resp(200, b"final", b"X-A: 1\r\n")), calls=(Call(), Call()), connections=1),
    Case("no_content_204_with_body", always(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"),
         "desync", "a 204 has no body whatever its headers say (RFC 9112 §6.3 ¶1): the bytes are extra",
         calls=(Call(), Call()), fast_expected=(("desync", "body_not_allowed"),) * 2),
    Case("not_modified_304_with_body",
         always(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\nhello"),
         "desync", "a 304 has no body (RFC 9112 §6.3 ¶1): the bytes are extra",
         calls=(Call(), Call()), fast_expected=(("desync", "body_not_allowed"),) * 2),
    Case("gzip_body", _encoded(b"gzip", gzip.compress(PLAIN))),
    Case("deflate_body", _encoded(b"deflate", DEFLATED)),
    Case("status_without_reason", always(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok")),
    Case("garbage_status_line", always(b"HTTP/1.1 two hundred\r\n\r\n")),
    Case("closed_without_answer", once(b""), why="no retry: the connection was not reused",
         requests=1),
    Case("tls", always(resp(200, b"secure")), calls=(Call(), Call()), connections=1, tls=True),
    Case("obs_fold_header", always(b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 2\r\n\r\nok"),
         why="a user agent must read obs-fold as SP (RFC 9112 §5.2)", calls=(Call(), Call()), connections=1),
    Case("obs_fold_across_reads", pieces(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Long: a\r\n",
                                         b"\tb\r\n c\r\nContent-", b"Length: 2\r\n\r", b"\nok"),
         calls=(Call(), Call()), connections=1),
    Case("obs_fold_before_first_field", always(b"HTTP/1.1 200 OK\r\n X-A: b\r\nContent-Length: 2\r\n\r\nok"),
         why="a fold cannot continue the status line (RFC 9112 §5.2)"),
    Case("header_whitespace", always(b"HTTP/1.1 200 OK\r\nX-A:   spaced  \t\r\nContent-Length: 2\r\n\r\nok")),
    Case("space_before_colon", always(b"HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2\r\n\r\nok")),
    Case("unsolicited_101", always(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   b"Connection: Upgrade\r\n\r\n")),
    Case("status_999", always(b"HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok")),
    Case("status_two_digits", always(b"HTTP/1.1 42 Odd\r\nContent-Length: 2\r\n\r\nok")),
    Case("http_2_0_version", always(b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok")),
    Case("chunk_extensions", always(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"3;name=value\r\nabc\r\n0\r\n\r\n"), calls=(Call(), Call())),
    Case("chunked_lf_only", always(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"),
         "stricter", "bare LF is allowed for start and field lines only, chunk lines need CRLF "
         "(RFC 9112 §2.2, §7.1); h11 waits for a CR until the read timeout",
         fast_error=httpx.RemoteProtocolError),
    Case("bad_chunk_size", always(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")),
    Case("two_transfer_encodings", always(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                          b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"abc"))),
    Case("connection_close_then_extra", always(resp(200, b"ok", b"Connection: close\r\n") + b"junk"),
         "desync", "the connection closes, but the answer may be cut short: its bytes did not end with it",
         calls=(Call(), Call()), fast_expected=(("desync", "extra_bytes"),) * 2, connections=2),
    Case("idle_timeout_notice", _then_408,
         why="a 408 on an idle connection is the server saying it closes it (RFC 9110 §15.5.9)",
         calls=(Call(), Call(delay=0.3)), connections=2),
    Case("no_body_framing_keep_alive", once(b"HTTP/1.1 200 OK\r\n\r\nread until close"),
         calls=(Call(), Call()), connections=2),
    Case("large_body_streamed_in_many_reads",
         always(resp(200, bytes(range(256)) * 16384)), calls=(Call(), Call()), connections=1),
]
if HAS_BROTLI:
    import brotli  # type: ignore[import-untyped]

    CASES.append(Case("br_body", _encoded(b"br", brotli.compress(PLAIN))))


class Server:
    """One scripted server: reads requests, lets the case's script answer them."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        n = 0
        try:
            while True:
                req = await _read_request(reader)
                n += 1
                self.requests += 1
                if await self.script(req, conn, n, writer.write) is False:
                    await writer.drain()
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


class _Lines(logging.Handler):
    """The messages logged to it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _outcome(response_or_error: httpx.Response | Exception, detail: bool = False) -> Outcome:
    if isinstance(response_or_error, ProtocolDesync) and not detail:
        return ("desync", str(response_or_error.kind))
    if isinstance(response_or_error, Exception):
        # the public httpx class: fpt's own subclasses (BodyTooLarge...) compare as their httpx base
        cls = next(c for c in type(response_or_error).__mro__ if c.__module__.startswith("httpx"))
        if detail and isinstance(response_or_error, httpx.RequestError):
            return ("error", cls.__name__, response_or_error.request.url.raw_path)
        return ("error", cls.__name__)
    r = response_or_error
    if detail:  # what else a flow may read off an answer
        nxt = r.next_request
        return ("ok", r.status_code, r.headers.multi_items(), r.content, r.http_version, r.text,
                r.is_closed, r.is_stream_consumed, r.num_bytes_downloaded, r.elapsed.total_seconds() >= 0,
                r.request.url.raw_path, None if nxt is None else (nxt.method, nxt.url.raw_path, nxt.url.host),
                [(h.status_code, h.url.raw_path) for h in r.history], r.encoding)
    return ("ok", r.status_code, r.headers.multi_items(), r.content, r.http_version)


async def _exercise(case: Case, fast: bool, tls: tuple[ssl.SSLContext, ssl.SSLContext] | None,
                    user_client: bool | None = None, checked: bool = False
                    ) -> tuple[list[Outcome], Server, httpx.AsyncBaseTransport]:
    """The case's calls through one transport (httpx's wrapped in fpt's ``DesyncCheck`` when
    ``checked``); with ``user_client`` set, through fpt's own client (True) or httpx's (False),
    outcomes in detail."""
    server = Server(case.script)
    srv = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=tls[0] if tls else None)
    port = srv.sockets[0].getsockname()[1]
    verify: ssl.SSLContext | bool = tls[1] if tls else True
    transport: httpx.AsyncBaseTransport
    if fast:
        transport = FastTransport(ssl_context=tls[1] if tls else None, **case.fast_kwargs)
    else:
        limits = httpx.Limits(max_connections=6, max_keepalive_connections=6,
                              keepalive_expiry=case.keepalive_expiry)
        transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
        if checked:
            transport = DesyncCheck(transport)
    outcomes: list[Outcome] = []
    kwargs = dict(base_url=f"{'https' if tls else 'http'}://127.0.0.1:{port}", transport=transport,
                  trust_env=False, timeout=1.0, **case.client_kwargs)
    client: httpx.AsyncClient
    if user_client:
        client = User(IdentityFactory(1).make(0), RunContext(flow="conformance"), **kwargs).http
    else:
        client = httpx.AsyncClient(**kwargs)
    detail = user_client is not None
    logged = _Lines()
    log = logging.getLogger("httpx")
    log.addHandler(logged)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        async with client:
            for call in case.calls:
                if call.delay:
                    await asyncio.sleep(call.delay)
                else:
                    await asyncio.sleep(0.02)  # let a close or stray bytes reach the client first
                try:
                    r = await client.request(call.method, call.path, json=call.json)
                except httpx.HTTPError as exc:
                    outcomes.append(_outcome(exc, detail))
                else:
                    outcomes.append(_outcome(r, detail))
        if detail:  # httpx's request lines, as a squad that turns its logging on reads them
            outcomes.append(("logged", [line.replace(f":{port}/", ":PORT/") for line in logged.lines]))
            outcomes.append(("closed", client.is_closed))
    finally:
        log.removeHandler(logged)
        log.setLevel(level)
        srv.close()
        if server.tasks:  # each sees its connection closed by the client: let them end
            await asyncio.wait(server.tasks, timeout=1.0)
        await srv.wait_closed()
    return outcomes, server, transport


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 and a client context trusting it."""
    import trustme  # a dev dependency: imported here, so `pytest -m fpt` with only `.[demo]` collects

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fast_transport_agrees_with_httpx(case: Case, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
                                          ) -> None:
    tls = tls_contexts if case.tls else None

    async def both() -> tuple[tuple[list[Outcome], Server, httpx.AsyncBaseTransport], ...]:
        return (await _exercise(case, False, tls), await _exercise(case, True, tls))

    (want, ref_server, _), (got, fast_server, transport) = asyncio.run(both())
    assert isinstance(transport, FastTransport)
    for server in (ref_server, fast_server):
        if case.requests is not None and case.relation != "retried":
            assert server.requests == case.requests, "requests seen by the server"
        if case.connections is not None and case.relation not in ("retried", "desync"):
            assert server.connections == case.connections, "connections opened"
    if case.fast_connections is not None:
        assert fast_server.connections == case.fast_connections
    assert case.relation == "desync" or not any(o[0] == "desync" for o in got), got
    if case.relation == "same":
        assert got == want
        assert getattr(transport, "retries", 0) == 0
    elif case.relation == "stricter":
        assert case.fast_error is not None
        assert ("error", case.fast_error.__name__) in got
        assert got != want
        for fast, ref in zip(got, want, strict=True):  # each call: the same, or an error where httpx had none
            assert fast == ref or (fast[0] == "error" and ref[0] != "error") or (
                fast[0] == "error" and ref == ("error", "ReadTimeout")), (fast, ref)
    elif case.relation == "retried":
        assert want[-1] == ("error", "RemoteProtocolError")
        assert got[:-1] == want[:-1]
        assert got[-1][0] == "ok"
        assert transport.retries == 1
        assert (fast_server.requests, fast_server.connections) == (case.requests, case.connections)
    elif case.relation == "desync":
        assert got != want, "httpx hands the stray bytes to a later call, or drops them quietly"
        assert not any(o[0] == "desync" for o in want)
        assert tuple(got) == case.fast_expected
        if case.connections is not None:
            assert fast_server.connections == case.connections
    else:
        raise AssertionError(f"unknown relation {case.relation!r}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fpts_wrapper_of_httpxs_transport_finds_the_same_desyncs(
        case: Case, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """``http_transport = "httpx"``: a desync is the same error, at the same call, as on fpt's own
    transport; every other exchange is answered exactly as httpx answers it."""
    tls = tls_contexts if case.tls else None

    async def both() -> tuple[list[Outcome], list[Outcome]]:
        plain = (await _exercise(case, False, tls))[0]
        return plain, (await _exercise(case, False, tls, checked=True))[0]

    plain, checked = asyncio.run(both())
    if case.relation == "desync":
        assert tuple(checked) == case.fast_expected
    else:
        assert checked == plain


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_user_client_answers_as_httpx_client_does(
        case: Case, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """fpt's user client skips httpx's auth flow, redirect loop and body generators for plain
    requests: over the same transport, a flow sees exactly what ``httpx.AsyncClient`` gives it
    (content, text, closed state, bytes downloaded, elapsed, next request, history, the
    request an error names)."""
    tls = tls_contexts if case.tls else None

    async def both() -> tuple[list[Outcome], list[Outcome]]:
        return (await _exercise(case, True, tls, user_client=False))[0], \
            (await _exercise(case, True, tls, user_client=True))[0]

    want, got = asyncio.run(both())
    assert got == want
