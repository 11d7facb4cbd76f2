"""The perimeter: which hosts fpt may send to, enforced where a connection would be made.

A :class:`Perimeter` is the ``live_hosts`` allowlist as data: host names match
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

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from fpt.errors import FptError

if TYPE_CHECKING:
    from fpt.config import FptConfig

LOOPBACK_WORD = "loopback"
_LOOPBACK_NETS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
#: distinct hosts whose verdict is remembered; a server cannot grow the cache without bound
VERDICT_CACHE = 1024

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _normal(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


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


@dataclass(frozen=True)
class Perimeter:
    """The hosts fpt may send to (``live_hosts``); see the module docstring for the rules."""

    allowed: tuple[str, ...]
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[_Network, ...] = field(init=False, repr=False, compare=False)
    # Mutable inside a frozen value on purpose: verdicts are a pure function of
    # ``allowed``, remembered because the check runs on every request.
    _verdicts: dict[str, bool] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        names: set[str] = set()
        networks: list[_Network] = []
        for entry in self.allowed:
            e = _normal(entry)
            if e == LOOPBACK_WORD:
                names.add("localhost")
                networks.extend(_LOOPBACK_NETS)
                continue
            try:
                networks.append(ipaddress.ip_network(e, strict=False))
            except ValueError:
                if e:
                    names.add(e)
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_networks", tuple(networks))

    @classmethod
    def of(cls, hosts: Iterable[str]) -> Perimeter:
        """A perimeter admitting ``hosts`` (names, addresses, networks, ``loopback``)."""
        return cls(tuple(hosts))

    @classmethod
    def from_config(cls, cfg: FptConfig) -> Perimeter:
        """The perimeter of a run: the config's ``live_hosts``."""
        return cls(tuple(cfg.live_hosts))

    def allows(self, host: str) -> bool:
        """Whether ``host`` (a URL's host: a name or an IP literal) is inside the perimeter."""
        verdict = self._verdicts.get(host)
        if verdict is None:
            verdict = self._judge(host)
            if len(self._verdicts) >= VERDICT_CACHE:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        return verdict

    def _judge(self, host: str) -> bool:
        h = _normal(host)
        try:
            addr = ipaddress.ip_address(h)
        except ValueError:
            return bool(h) and h in self._names
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 reaches the same socket as 127.0.0.1
        return any(addr in net for net in self._networks)

    def check(self, host: str, request: httpx.Request | None = None) -> None:
        """Raise :class:`OffPerimeter` unless ``host`` is inside the perimeter."""
        if not self.allows(host):
            raise OffPerimeter(host, self.allowed, request=request)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Any httpx async transport, refusing requests whose host is outside the perimeter."""

    def __init__(self, inner: httpx.AsyncBaseTransport, perimeter: Perimeter) -> None:
        self.inner = inner
        self.perimeter = perimeter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Judge the request's host, then hand the request to the wrapped transport."""
        host = request.url.host
        if not self.perimeter.allows(host):
            raise OffPerimeter(host, self.perimeter.allowed, request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()
