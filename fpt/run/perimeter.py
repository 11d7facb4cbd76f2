"""The perimeter enforced where a connection would be made.

A :class:`~fpt.config.hosts.Perimeter` is the ``live_hosts`` allowlist as data: host names match
exactly (case and a trailing dot aside), IP literals match by address, so
``127.0.0.1`` admits ``http://127.0.0.1:8000`` but not ``http://127.0.0.2``;
``loopback`` stands for 127.0.0.0/8, ::1 and ``localhost``, and an entry such as
``10.1.0.0/16`` admits a network. Names are never resolved: a name is allowed
because it is listed, not because of what DNS says today.

:class:`GuardedTransport` wraps any httpx async transport and judges each
request's URL host before handing it on. httpx calls the transport once per
request and once per redirect hop, and every user's client, cross-user probe and
read-back sends through it, so nothing reaches a socket unjudged: a refused
request raises :class:`OffPerimeter` and sends nothing.
"""

from __future__ import annotations

import httpx

from fpt.config.errors import FptError
from fpt.config.hosts import Perimeter


class OffPerimeter(FptError, httpx.TransportError):
    """A request to a host outside the perimeter was refused before any connection."""

    def __init__(self, host: str, allowed: tuple[str, ...], *, request: httpx.Request | None = None
                 ) -> None:
        self.host = host
        self.allowed = allowed
        super().__init__(
            f"fpt: refused to send to {host!r}: not an allowed live host (allowed: "
            f"{', '.join(allowed) or 'none'}); add it to live_hosts in [tool.fpt] if it is yours "
            "to load-test", request=request)

    def __reduce__(self) -> tuple[type[OffPerimeter], tuple[str, tuple[str, ...]]]:
        return type(self), (self.host, self.allowed)


def check(perimeter: Perimeter, host: str, request: httpx.Request | None = None) -> None:
    """Raise :class:`OffPerimeter` unless ``host`` is inside ``perimeter``."""
    if not perimeter.allows(host):
        raise OffPerimeter(host, perimeter.allowed, request=request)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Any httpx async transport, refusing requests whose host is outside the perimeter."""

    def __init__(self, inner: httpx.AsyncBaseTransport, perimeter: Perimeter) -> None:
        self.inner = inner
        self.perimeter = perimeter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Judge the request's host, then hand the request to the wrapped transport."""
        check(self.perimeter, request.url.host, request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()
