"""Scale events: the ``Scaler`` protocol, its adapters, and events on the run's timeline.

A scale event is ``fpt.at("20s", scaler.scale_to, 4)``. The run is split into
phases around each event: *before*, *during* (from the trigger until the fleet
reports the new size, healthy, or a timeout), and *after*. Every adapter reports
failure as :class:`ScaleError` with what was tried, so the run ends cleanly and the
continuity item is *not evidenced* rather than passed.
"""

from __future__ import annotations

import asyncio
import inspect
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from fpt.config.errors import ScaleError
from fpt.config.units import parse_duration
from fpt.evidence.continuity import ScaleEvent


@runtime_checkable
class Scaler(Protocol):
    """Something that can change and report the number of healthy replicas."""

    async def scale_to(self, n: int) -> None:
        """Ask for ``n`` replicas (returns once the request is accepted, not when done)."""
        ...

    async def replicas(self) -> int:
        """Healthy replicas serving traffic now."""
        ...


def check_size(n: object) -> int:
    """A replica count must be a whole number >= 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ScaleError(f"scale_to needs a whole number of replicas >= 1; got {n!r}")
    return n


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class CallableScaler:
    """Adapter for Python callables (sync or async): ``scale(n)`` and ``count()``."""

    def __init__(self, scale: Callable[[int], Any], count: Callable[[], Any]) -> None:
        self._scale = scale
        self._count = count

    async def scale_to(self, n: int) -> None:
        """Call the scale function."""
        await _maybe_await(self._scale(check_size(n)))

    async def replicas(self) -> int:
        """Call the count function."""
        return int(await _maybe_await(self._count()))


class CommandScaler:
    """Adapter for shell commands: ``kubectl scale deploy/x --replicas={n}``, AWS, ECS...

    ``count`` is a command printing the number of ready replicas, e.g.
    ``kubectl get deploy x -o jsonpath={.status.readyReplicas}``.
    """

    def __init__(self, scale: str, count: str, *, timeout: float | str = 60.0) -> None:
        if "{n}" not in scale:
            raise ScaleError(f"scale command must contain {{n}} for the replica count; got {scale!r}")
        self.scale_template = scale
        self.count_command = count
        self.timeout = parse_duration(timeout)

    async def _run(self, command: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            *shlex.split(command), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ScaleError(f"command timed out after {self.timeout:g}s: {command}") from None
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip()[-300:]
            raise ScaleError(f"command failed (exit {proc.returncode}): {command}: {tail}")
        return out.decode(errors="replace").strip()

    async def scale_to(self, n: int) -> None:
        """Run the scale command with ``{n}`` filled in."""
        await self._run(self.scale_template.format(n=check_size(n)))

    async def replicas(self) -> int:
        """Run the count command and read a whole number from it."""
        out = await self._run(self.count_command)
        try:
            return int(out.split()[0]) if out else 0
        except ValueError:
            raise ScaleError(f"count command printed {out[:80]!r}, not a number") from None


class ObserveScaler:
    """No trigger: fpt only watches the fleet (when the real auto-scaling policy acts)."""

    def __init__(self, count: Callable[[], Any]) -> None:
        self._count = count

    async def scale_to(self, n: int) -> None:
        """Observe mode never scales."""
        raise ScaleError("an observing scaler cannot scale; use fpt.at(..., scaler.observe)")

    async def replicas(self) -> int:
        """Count replicas."""
        return int(await _maybe_await(self._count()))


@dataclass(frozen=True)
class Event:
    """A scale action due at ``at`` seconds into the load."""

    at: float
    action: Callable[..., Any]
    args: tuple[Any, ...] = ()
    label: str = ""
    #: target replica count when the action is a scale_to (to know when it has settled)
    target: int | None = None
    settle_timeout: float = 60.0

    def describe(self) -> str:
        """``scale_to 3 at 20s``."""
        return self.label or f"{getattr(self.action, '__name__', 'action')} {' '.join(map(str, self.args))}"


def at(when: str | float, action: Callable[..., Any], *args: Any, label: str = "",
       settle_timeout: str | float = "60s") -> Event:
    """An event on the timeline: ``fpt.at("20s", scaler.scale_to, 4)``."""
    t = parse_duration(when)
    target = args[0] if getattr(action, "__name__", "") == "scale_to" and args else None
    if target is not None:
        check_size(target)
    return Event(at=t, action=action, args=tuple(args), label=label, target=target,
                 settle_timeout=parse_duration(settle_timeout))


async def fire(event: Event, scaler_of: Callable[[Event], Scaler | None], now: Callable[[], float],
               *, poll: float = 0.2) -> ScaleEvent:
    """Run one event and wait (bounded) until the fleet reports the target size."""
    label, at, target = event.describe(), now(), event.target
    before: int | None = None
    replicas_after: int | None = None
    scaler = scaler_of(event)
    try:
        if scaler is not None:
            before = await asyncio.wait_for(scaler.replicas(), event.settle_timeout)
        await asyncio.wait_for(_maybe_await(event.action(*event.args)), event.settle_timeout)
        if scaler is None or event.target is None:
            return ScaleEvent(label=label, at=at, before=before, target=target, ok=True, settled_at=now())
        deadline = now() + event.settle_timeout
        while True:
            n = await asyncio.wait_for(scaler.replicas(), event.settle_timeout)
            replicas_after = n
            if n == event.target:
                return ScaleEvent(label=label, at=at, before=before, target=target, ok=True,
                                  settled_at=now(), replicas_after=replicas_after)
            if now() >= deadline:
                error = (f"fleet did not reach {event.target} healthy replicas within "
                         f"{event.settle_timeout:g}s (last seen {n})")
                break
            await asyncio.sleep(poll)
    except ScaleError as e:
        error = str(e)
    except TimeoutError:
        error = f"scaler did not answer within {event.settle_timeout:g}s"
    except Exception as e:  # a user's scaler may raise anything; the run must still end cleanly
        error = f"{type(e).__name__}: {e}"
    return ScaleEvent(label=label, at=at, before=before, target=target, error=error,
                      replicas_after=replicas_after)


def scaler_of(event: Event) -> Scaler | None:
    """The scaler an event's action is bound to, if it is a bound ``scale_to``."""
    owner = getattr(event.action, "__self__", None)
    return owner if isinstance(owner, Scaler) else None
