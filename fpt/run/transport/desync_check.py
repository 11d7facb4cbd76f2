"""httpx's own transport, wrapped so that it is never quieter about a desync than fpt's."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx

from fpt.run.transport.errors import _IDLE_TIMEOUT, Desync, ProtocolDesync, _what, desync_message


class DesyncCheck(httpx.AsyncBaseTransport):
    """httpx's own transport (httpcore + h11), never quieter about desyncs than fpt's.

    httpcore keeps bytes that came after an answer in h11's buffer and reads them as the
    next answer on that connection: a later request, maybe another step's, gets a stale
    answer and calls it a success. This wrapper looks at that buffer when each answer
    ends, and before a request sent while none is in flight (every connection idle) it
    peeks at the plain-TCP connections earlier answers left; bytes in either are a
    :class:`ProtocolDesync` and the connection is closed, never reused, as with
    :class:`FastTransport`. The buffer is reached through httpcore's internals (pinned by
    ``tests/run/transport/test_conformance.py``); where they are not found (a proxy, HTTP/2)
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

