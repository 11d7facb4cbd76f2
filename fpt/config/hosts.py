"""The hosts fpt may send to (live_hosts): names, addresses, networks, the word loopback."""


from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

LOOPBACK_WORD = "loopback"


_LOOPBACK_NETS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


#: distinct hosts whose verdict is remembered; a server cannot grow the cache without bound
VERDICT_CACHE = 1024


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _normal(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


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
