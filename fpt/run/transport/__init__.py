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
answer never join its body, and they are a :class:`~.errors.ProtocolDesync` (typed by
:class:`~.errors.Desync`): raised for that answer when they came with it, and for the user's
next request when they came while the connection waited, which is then closed. Heads
are limited to :data:`~.wire.MAX_HEAD` bytes (httpcore's limit) and bodies to
``max_body`` bytes, streamed ones included unless the request lifts it with the
``fpt.max_body`` extension (``None``: no limit). Where it answers differently from
httpx's own transport it is stricter (an error for a message RFC 9112 calls
invalid), never quieter, the counted retry aside:
``tests/run/transport/test_conformance.py`` runs both against the same hostile servers.

What it does not do: HTTP/2, proxies (see :func:`~.fast.proxy_in_env`), Unix sockets —
choose ``http_transport = "httpx"`` for those; fpt wraps httpx's transport in
:class:`~.desync_check.DesyncCheck`, which finds the same desyncs there.

Why a desync is an error, never a quiet close: bytes after a complete answer (a 204,
304 or HEAD answer with a body, a Content-Length shorter than the body, a second answer
glued to the first, an answer to a request never sent) are how answers reach the wrong
request — and so the wrong user — behind proxies and pooling gateways (RFC 9112 §9.3,
§11.2). The user's answer may be cut short or not be its own: the step fails with the
error kind ``protocol``.

One job a module:

- :mod:`.wire`: one HTTP/1.1 connection (an ``asyncio.Protocol`` feeding llhttp) that reads
  one answer at a time, and the bytes of a request;
- :mod:`.pool`: one user's connections: a few per origin, idle ones kept and expired, lent to
  the shared-connection detector;
- :mod:`.fast`: :class:`~.fast.FastTransport`, the httpx transport on that pool, and its
  streamed response bodies;
- :mod:`.errors`: what the transport raises beyond httpx's own errors, and how a desync is
  typed and worded;
- :mod:`.desync_check`: :class:`~.desync_check.DesyncCheck`, the same desync checks around
  httpx's own transport.
"""
