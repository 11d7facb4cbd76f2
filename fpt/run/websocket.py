"""WebSocket channels of a user (``user.ws(url)``): the handshake is a request, every message an answer.

A channel that pushes notices, chat or live prices is where a service can deliver one member's
data to another, so every byte a user receives on it is scanned, or counted as not scanned,
exactly like a body: each message received is shown to the run's observers (the canary and
personal-data scan, the session watch) as an ``httpx.Response`` holding the message, with the
handshake's request (its path and ``x-fpt-request`` id name the channel in a finding). A message
larger than ``stream_scan_limit`` is scanned up to it and the rest counted as unscanned, so the
scan marks it truncated and the data-swap items cannot pass on it.

The client is httpx-ws (a well-kept library that plugs into httpx), over a ``UserClient`` of the
user's own: the handshake goes through ``UserClient.send``, so it is stamped with the request id,
counted as one of the user's requests (the "iteration sent no request" rule and the request
metrics), timed under the request deadline and tallied in its step, with the user's cookies,
default headers and auth. The connection itself cannot use fpt's fast transport (it has no
network stream to hand over after the ``101``): a channel to a URL target is made by httpx's own
transport (httpcore), one connection per channel, inside the same
:class:`~fpt.run.perimeter.GuardedTransport` and perimeter as the user's client; an in-process
ASGI target gets httpx-ws's ``ASGIWebSocketTransport`` around the same app.

Every wait is bounded: a receive or a send waits at most the run's request deadline (or less,
when the flow says so), so a silent server fails the step with a timeout instead of hanging the
iteration; the channel is closed whenever the ``async with`` block is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from fpt.config.errors import ConfigError
from fpt.config.redact import url as redact_url
from fpt.evidence.routes import route_template
from fpt.run.client import UserClient
from fpt.run.context import NO_STEP, NOT_LOAD
from fpt.run.perimeter import GuardedTransport

if TYPE_CHECKING:
    from httpx_ws import AsyncWebSocketSession

    from fpt.run.user import User

#: messages one ``async for`` over a channel yields at most (every loop is bounded in count)
MAX_MESSAGES = 100_000
#: the method name the per-route table gives a channel's messages received, and sent
RECEIVED, SENT = "WS", "WS-SEND"


class WebSocket:
    """One user's open WebSocket channel: each message received is timed, tallied and scanned like a body.

    Sending is counted on the channel (``sent``, ``sent_bytes``) and in the per-route table
    (``WS-SEND /path``), not as a request: a send has no answer, its time is only the time to hand
    the frame to the socket, so as requests they would pull the request percentiles toward zero
    without measuring the service. The handshake is the channel's request.
    """

    def __init__(self, user: User, session: AsyncWebSocketSession, request: httpx.Request) -> None:
        self._user = user
        self._session = session
        self._request = request
        self._path = request.url.path
        #: the step a message is timed as when the flow is in none: named after the channel
        self._own_step = f"ws {route_template(redact_url(self._path))}"
        self.received = 0
        self.received_bytes = 0
        self.sent = 0
        self.sent_bytes = 0
        ctx = user.ctx
        # When the wait for the next message began (the handshake's end, then the last message):
        # the span the message was on its way, for the overlap with other users' answers.
        self._since = time.perf_counter()
        self._starts = ctx.request_starts

    @property
    def response(self) -> httpx.Response | None:
        """The handshake's answer (``101 Switching Protocols``)."""
        return self._session.response

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server accepted, if any."""
        return self._session.subprotocol

    # -- receiving -----------------------------------------------------------------------------------------

    async def receive(self, within: float | None = None) -> str | bytes:
        """The next message, text or bytes, within ``within`` seconds (at most the request deadline).

        Named ``within``, not ``timeout``: the wait is fpt's to bound and record (a timeout is a failure
        of the step); an ``asyncio.timeout`` around it would cancel it unrecorded.
        """
        return await self._receive(within)

    async def receive_text(self, within: float | None = None) -> str:
        """The next message, which must be text."""
        data = await self._receive(within)
        if not isinstance(data, str):
            raise TypeError(f"user.ws: expected a text message on {self._path}, got {len(data)} bytes")
        return data

    async def receive_bytes(self, within: float | None = None) -> bytes:
        """The next message, which must be bytes."""
        data = await self._receive(within)
        if not isinstance(data, bytes):
            raise TypeError(f"user.ws: expected a bytes message on {self._path}, got text")
        return data

    async def receive_json(self, within: float | None = None) -> Any:
        """The next message (text or bytes) parsed as JSON."""
        return json.loads(await self._receive(within))

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self.messages()

    async def messages(self, limit: int = MAX_MESSAGES, within: float | None = None
                       ) -> AsyncIterator[str | bytes]:
        """Each message until the server closes the channel, at most ``limit`` of them.

        A wait past ``within`` seconds (at most the request deadline) is a timeout of the step, raised.
        """
        from httpx_ws import WebSocketDisconnect

        for _ in range(limit):
            try:
                data = await self._receive(within)
            except WebSocketDisconnect:
                return
            yield data

    async def _receive(self, within: float | None) -> str | bytes:
        import wsproto.events
        from httpx_ws import WebSocketDisconnect, WebSocketNetworkError

        user = self._user
        limit = user.ctx.request_deadline if within is None else min(within, user.ctx.request_deadline)
        start = time.perf_counter()
        try:
            event = await self._session.receive(limit)
        except TimeoutError:
            self._failed(start, "timeout", f"no message within {limit:g}s")
            raise httpx.ReadTimeout(f"user.ws: no message on {self._path} within {limit:g}s",
                                    request=self._request) from None
        except WebSocketDisconnect:
            raise  # the server ended the channel: the flow decides whether that is a failure
        except WebSocketNetworkError as exc:
            self._failed(start, "read", f"the connection broke: {exc!r}")
            raise
        if not isinstance(event, wsproto.events.Message):
            self._failed(start, "protocol", f"unexpected event {type(event).__name__}")
            raise httpx.RemoteProtocolError(f"user.ws: unexpected {type(event).__name__} on {self._path}",
                                            request=self._request)
        data: str | bytes = event.data
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
        self._answered(start, raw)
        return data

    def _in_step(self) -> bool:
        return self._user.current_step != NO_STEP

    def _timed(self, method: str, start: float, error: str | None) -> float:
        """Time one message: in the per-route table; one received outside any step, as a step of its own."""
        user = self._user
        ctx = user.ctx
        end = time.perf_counter()
        us = (end - start) * 1e6
        ctx.metrics.endpoint(method, self._path, us, error)
        if self._in_step():
            # Inside the flow's step the message is part of that transaction, timed with it as a whole.
            if error:
                user._step_error = user._step_error or error
            return end
        if method == RECEIVED:  # a message received outside any step is a transaction of its own
            ctx.metrics.step(self._own_step, end - ctx.t0, us, error)
        if error:
            user._iteration_error = user._iteration_error or error
        return end

    def _failed(self, start: float, error: str, why: str) -> None:
        user = self._user
        end = self._timed(RECEIVED, start, error)
        step = user.current_step if self._in_step() else self._own_step
        user.ctx.metrics.failure(step, error, f"{RECEIVED} {redact_url(self._path)}: {why}"[:200],
                                 round(end - user.ctx.t0, 3))

    def _answered(self, start: float, raw: bytes) -> None:
        """Count one message received like an answer and show it to the observers like a body."""
        user = self._user
        ctx = user.ctx
        end = self._timed(RECEIVED, start, None)
        self.received += 1
        self.received_bytes += len(raw)
        step = user.current_step if self._in_step() else self._own_step
        concurrent = ctx.inflight_requests > 0 or ctx.request_starts != self._starts
        tally = ctx.recorder.tally(step)
        tally.responses += 1
        tally.ok += 1
        if not user.probing and ctx.phase not in NOT_LOAD:
            tally.load_ok += 1
            tally.overlap.add(self._since, end, user.identity.index)
        self._since, self._starts = end, ctx.request_starts
        user.last_request, user.last_concurrent = self._request, concurrent
        user._tally, user._tally_ok = tally, True
        if not ctx.observers:
            return
        room = ctx.stream_scan_limit
        seen = _as_body(raw[:room], self._request,
                        {"fpt.streamed": True, "fpt.unscanned": max(0, len(raw) - room),
                         "fpt.concurrent": concurrent, "fpt.step": step, "fpt.websocket": True})
        prev, user.current_step = user.current_step, step
        try:
            for observe in ctx.observers:
                observe(user, self._request, seen)
        finally:
            user.current_step = prev

    # -- sending -------------------------------------------------------------------------------------------

    async def send_text(self, data: str) -> None:
        """Send a text message (within the request deadline)."""
        await self._send(data, len(data.encode("utf-8", "replace")))

    async def send_bytes(self, data: bytes) -> None:
        """Send a bytes message (within the request deadline)."""
        await self._send(bytes(data), len(data))

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as a JSON text message."""
        await self.send_text(json.dumps(data))

    async def _send(self, data: str | bytes, nbytes: int) -> None:
        import wsproto.events

        user = self._user
        if user.parked:  # its iteration was abandoned: it sends nothing more (fpt.run.bounds)
            from fpt.run.bounds import park

            await park()
        event = (wsproto.events.TextMessage(data=data) if isinstance(data, str)
                 else wsproto.events.BytesMessage(data=data))
        limit = user.ctx.request_deadline
        start = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                await self._session.send(event)
        except TimeoutError:
            self._timed(SENT, start, "timeout")
            raise httpx.WriteTimeout(f"user.ws: a message to {self._path} not sent within {limit:g}s",
                                     request=self._request) from None
        except Exception:
            self._timed(SENT, start, "read")
            raise
        self._timed(SENT, start, None)
        self.sent += 1
        self.sent_bytes += nbytes

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the channel now (leaving the ``async with`` block closes it too)."""
        await self._session.close(code, reason)


class _Read(httpx.AsyncByteStream):
    """The stream of a response whose content is already there (nothing left to read)."""


_READ = _Read()


def _as_body(content: bytes, request: httpx.Request, extensions: dict[str, Any]) -> httpx.Response:
    """A message as the read answer the observers take; its content set as ``UserClient`` sets a whole
    body's (``httpx.Response(content=...)`` reads it through a decoder again: 5x the cost, per message)."""
    response = httpx.Response(200, stream=_READ, request=request, extensions=extensions)
    response._content = content
    response.is_stream_consumed = response.is_closed = True
    return response


def _ws_transport(client: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport:
    """The transport a channel to ``url`` is made on, judged by the same perimeter as ``client``'s."""
    base = client._transport_for_url(url)  # private, but the one answer to "which transport for this URL"
    if isinstance(base, GuardedTransport):
        return GuardedTransport(httpx.AsyncHTTPTransport(verify=_ssl_of(base.inner) or True), base.perimeter)
    if isinstance(base, httpx.ASGITransport):
        from httpx_ws.transport import ASGIWebSocketTransport

        # Like the user's client: an exception in the app is the channel's end, not a crash here.
        return ASGIWebSocketTransport(app=base.app, raise_app_exceptions=False, root_path=base.root_path,
                                      client=base.client)
    if isinstance(base, httpx.AsyncHTTPTransport):  # a User made by hand with a base URL
        return httpx.AsyncHTTPTransport()
    raise ConfigError("target", type(base).__name__,
                      "be a base URL or an in-process ASGI app to open a WebSocket with user.ws (another "
                      "httpx transport cannot hand over a connection)")


def _ssl_of(inner: httpx.AsyncBaseTransport) -> Any:
    """The SSL context of the user's transport, reused: a new one costs about 20 ms."""
    from fpt.run.transport.desync_check import DesyncCheck
    from fpt.run.transport.fast import FastTransport

    if isinstance(inner, FastTransport):
        return inner._ssl
    if isinstance(inner, DesyncCheck):
        inner = inner.inner
    return getattr(getattr(inner, "_pool", None), "_ssl_context", None)


def _as_http(url: httpx.URL) -> httpx.URL:
    """``ws://`` and ``wss://`` as the ``http://`` and ``https://`` the handshake is sent to."""
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme)
    return url.copy_with(scheme=scheme) if scheme else url


def _unwrapped(exc: BaseException) -> BaseException:
    """The one exception inside nested one-member groups (httpx-ws's task group wraps what escapes)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


@contextlib.asynccontextmanager
async def connect(user: User, url: str | httpx.URL, *, headers: Mapping[str, str] | None = None,
                  params: Any = None, subprotocols: list[str] | None = None,
                  keepalive: float | None = 20.0) -> AsyncIterator[WebSocket]:
    """Open a WebSocket channel as ``user`` (see the module docstring); closed when the block is left."""
    from httpx_ws import AsyncWebSocketSession, aconnect_ws

    own = user.http
    target = _as_http(own._merge_url(url))
    # A client of the channel's own (its transport can hand the connection over), built from the user's:
    # its cookies, default headers, auth, timeout and event hooks (a hook that signs each request
    # signs the handshake too) as they are now.
    client = UserClient(user, base_url=own.base_url, headers=own.headers, cookies=own.cookies,
                        auth=own.auth, timeout=own.timeout, event_hooks=own.event_hooks,
                        transport=_ws_transport(own, target))
    try:
        async with client, aconnect_ws(str(target), client, headers=dict(headers or {}), params=params,
                                       subprotocols=subprotocols, keepalive_ping_interval_seconds=keepalive,
                                       keepalive_ping_timeout_seconds=keepalive,
                                       session_class=AsyncWebSocketSession) as session:
            handshake = session.response
            assert handshake is not None  # httpx-ws always keeps it
            own.cookies.extract_cookies(handshake)  # a cookie set by the handshake is the user's
            yield WebSocket(user, session, handshake.request)
    except BaseExceptionGroup as group:
        inner = _unwrapped(group)
        if inner is group:
            raise
        raise inner from None
