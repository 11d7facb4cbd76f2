"""One user's connection pool: a few connections per origin (like a browser), idle ones
expiring, one lent at a time to the shared-connection detector."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import httpx

from fpt.run.transport.wire import _Connection

#: Connections one user may have open at once (like a browser), idle ones included.
MAX_CONNECTIONS = 6
#: Seconds an idle connection may wait for its next request (httpcore's default).
KEEPALIVE_EXPIRY = 5.0


class ConnectionPool:
    """One user's HTTP/1.1 connections: at most :data:`MAX_CONNECTIONS`, idle ones kept per origin."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 keepalive_expiry: float | None = KEEPALIVE_EXPIRY) -> None:
        self._ssl = ssl_context
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open = 0
        self._slots: list[asyncio.Future[None]] = []
        self._closed = False

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
        gateway would send it; :meth:`FastTransport.send_on` sends it and closes the connection after.
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
