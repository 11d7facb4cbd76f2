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

:func:`process_perimeter` is the second line, for every other client in the process while
a run lasts (a flow's own ``httpx`` client, the in-process app's downstream calls, respx's
pass-through): a Python audit hook judges each ``socket.connect`` by its address, refuses
it with :class:`OffPerimeter` and keeps the refusal, which the run reports as a
``perimeter`` finding naming the host.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from fpt.config.errors import FptError
from fpt.config.hosts import Perimeter
from fpt.run.current import current_user


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


# -- the whole process, while a run lasts --------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Refusal:
    """A connect the process perimeter refused: to where, and from which user and step, if any."""

    host: str
    port: int
    user: str = ""
    step: str = ""


#: refusals kept per guard (the rest are counted)
MAX_REFUSALS = 200
#: seconds between two resolutions of the perimeter's names, on a miss
RESOLVE_EVERY = 5.0


class ProcessGuard:
    """One run's perimeter over every connect in the process; refusals are kept for the run."""

    def __init__(self, perimeter: Perimeter) -> None:
        self.perimeter = perimeter
        self.refusals: list[Refusal] = []
        self.refused = 0
        self._lock = threading.Lock()
        #: addresses the perimeter's names resolved to (a name is allowed; so is where it leads)
        self._resolved: frozenset[str] = frozenset()
        self._resolved_at = -RESOLVE_EVERY
        self._names = tuple(n for n in perimeter._names if n != "localhost")

    def allows(self, host: str) -> bool:
        """Whether a connect to ``host`` (an address, or a name) is inside the perimeter."""
        if self.perimeter.allows(host):
            return True
        if not self._names:
            return False
        if host in self._resolved:
            return True
        now = time.monotonic()
        if now - self._resolved_at >= RESOLVE_EVERY:  # bounded: one resolution per few seconds, on a miss
            self._resolved_at = now
            self._resolved = frozenset(_addresses(self._names))
        return host in self._resolved

    def refuse(self, host: str, port: int) -> None:
        """Keep one refusal (who asked, when a flow did)."""
        user = current_user()
        refusal = Refusal(host=host, port=port, user=user.identity.label if user is not None else "",
                          step=user.current_step if user is not None else "")
        with self._lock:
            self.refused += 1
            if len(self.refusals) < MAX_REFUSALS:
                self.refusals.append(refusal)


def _addresses(names: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    token = _RESOLVING.set(True)  # our own lookups are not judged
    try:
        for name in names:
            try:
                out.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
            except OSError:
                continue
    finally:
        _RESOLVING.reset(token)
    return out


#: guards of the runs under way, innermost last; the hook reads it without a lock (a list read is atomic)
_GUARDS: list[ProcessGuard] = []
_HOOK_LOCK = threading.Lock()
_HOOKED = False
_RESOLVING: contextvars.ContextVar[bool] = contextvars.ContextVar("fpt_resolving", default=False)
#: set in a task whose connects are not the load's (a scaler's own control-plane calls)
EXEMPT: contextvars.ContextVar[bool] = contextvars.ContextVar("fpt_perimeter_exempt", default=False)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited event of the process, run or not: one list check when no run is under way.
    if _GUARDS and event == "socket.connect":
        _judge_connect(args)


def _judge_connect(args: tuple[Any, ...]) -> None:
    address = args[1] if len(args) > 1 else None
    if not isinstance(address, tuple) or len(address) < 2:
        return  # a Unix socket or another family without a network address
    host, port = address[0], address[1]
    if isinstance(host, bytes):
        host = host.decode("latin-1")
    if not isinstance(host, str) or not isinstance(port, int):
        return
    for guard in list(_GUARDS):
        if not guard.allows(host):
            if EXEMPT.get() or _RESOLVING.get():
                return
            guard.refuse(host, port)
            raise OffPerimeter(host, guard.perimeter.allowed)


@contextlib.contextmanager
def process_perimeter(perimeter: Perimeter) -> Iterator[ProcessGuard]:
    """While the block runs, every ``socket.connect`` in the process to a host outside ``perimeter``
    is refused (:class:`OffPerimeter`) and kept in the guard.

    Whatever the client: a flow's own second ``httpx`` client, the in-process app's downstream
    calls, respx's pass-through. A Python audit hook (``sys.addaudithook``) is installed once per
    process (it cannot be removed); with no run under way it costs one list check per audited
    event. Runs may nest or overlap in threads: a connect must be allowed by every run's perimeter.
    """
    global _HOOKED
    with _HOOK_LOCK:
        if not _HOOKED:
            sys.addaudithook(_audit)
            _HOOKED = True
    guard = ProcessGuard(perimeter)
    _GUARDS.append(guard)
    try:
        yield guard
    finally:
        _GUARDS.remove(guard)
