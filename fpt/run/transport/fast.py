"""fpt's httpx transport: each user's requests sent on its own pool, answers streamed as they
arrive (what it does and does not do: :mod:`fpt.run.transport`)."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator

import httpx

from fpt.run.transport.pool import KEEPALIVE_EXPIRY, ConnectionPool
from fpt.run.transport.wire import MAX_BODY, _body, _Connection, _head

#: Methods that may be sent again on a fresh connection (RFC 9110 §9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


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


class FastTransport(ConnectionPool, httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive transport of one user (see :mod:`fpt.run.transport`)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 keepalive_expiry: float | None = KEEPALIVE_EXPIRY, max_body: int | None = MAX_BODY) -> None:
        super().__init__(ssl_context=ssl_context, keepalive_expiry=keepalive_expiry)
        self._max_body = max_body
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
