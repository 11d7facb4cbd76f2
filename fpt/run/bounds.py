"""Every wait on a squad's code ends: cancelled work gets a fixed bound to stop, then it is abandoned.

A flow whose polling loop swallows every exception (a bare ``except:`` around an ``await``)
swallows the cancellation too: ``asyncio.wait_for``, ``gather`` after ``cancel()`` and
``asyncio.Runner``'s close would each wait for it forever, and the session would never end.
Here a cancelled task gets :data:`STOP_BOUND` seconds to stop; a task still running then is
*abandoned*: left behind, counted by the caller as a failed iteration ("did not stop"), and
the loop that ran it is closed without waiting for it.

Abandoned tasks are never freed: freed while suspended, their coroutine would be closed,
and a loop that swallows ``GeneratorExit`` too would run again, at a random point of a later
test or, at interpreter exit, spin forever once module globals are gone. So each one gets a
reference nothing ever releases (:func:`_keep`), and its user is *parked* (its requests wait
forever): after the stop bound it sends nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

STOP_BOUND = 5.0
"""Seconds a cancelled task gets to stop before it is abandoned (after duration and grace)."""

#: tasks that refused to stop, kept alive with the process (see the module docstring)
_ABANDONED: list[asyncio.Task[Any]] = []


async def stop_within(tasks: Iterable[asyncio.Future[Any]], bound: float = STOP_BOUND) -> int:
    """Cancel ``tasks`` and wait at most ``bound`` seconds for them to stop; return how many did not.

    Those are abandoned: still scheduled on their loop, never awaited again by fpt.
    """
    pending = [t for t in tasks if not t.done()]
    for t in pending:
        t.cancel()
    if not pending:
        return 0
    _, stuck = await asyncio.wait(pending, timeout=bound)
    for t in stuck:
        if isinstance(t, asyncio.Task):
            _keep(t)
    for t in pending:
        if t.done() and not t.cancelled():
            t.exception()  # retrieved: a stopped task's error is the caller's business, never logged
    return len(stuck)


def _keep(task: asyncio.Task[Any]) -> None:
    """Keep ``task`` (and its coroutine) alive until the process is gone, interpreter exit included.

    A module-level list is not enough: at exit it is cleared while other modules' globals are
    already gone. One reference taken at the C level and never given back is.
    """
    import ctypes

    _ABANDONED.append(task)
    try:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(task))
    except AttributeError:  # not CPython: the list is what there is
        pass


async def run_within(make: Callable[[], Awaitable[T]], seconds: float,
                     bound: float = STOP_BOUND) -> tuple[bool, int, T | None]:
    """``make()`` as a task for at most ``seconds``; then cancelled, with ``bound`` to stop.

    Returns (finished in time, 1 if it was abandoned else 0, its result when finished).
    An exception it raised in time is raised here.
    """
    task = asyncio.ensure_future(make())
    done, _ = await asyncio.wait({task}, timeout=max(seconds, 0.0))
    if done:
        return True, 0, task.result()
    return False, await stop_within([task], bound), None


class _Yield:
    """One bare yield: what ``asyncio.sleep(0)`` does, without needing a running loop."""

    def __await__(self) -> Any:
        yield


async def park() -> None:
    """Wait forever (an abandoned user's request): cancelled, it raises; with no loop left
    (the coroutine finalized at exit), it yields once so that ``close()`` ends instead of
    re-entering a loop that swallows every exception."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        await _Yield()
        return
    await loop.create_future()


def close_loop(loop: asyncio.AbstractEventLoop, bound: float = STOP_BOUND) -> int:
    """Close ``loop`` as ``asyncio.Runner`` does, but never wait more than ``bound`` for its tasks.

    Returns how many tasks were abandoned. A Ctrl-C meanwhile ends the wait at once.
    """
    if loop.is_closed():
        return 0
    stuck = 0
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done() and t not in _ABANDONED]
        if tasks:
            stuck = loop.run_until_complete(stop_within(tasks, bound))
        with contextlib.suppress(TimeoutError):
            loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), bound))
        if not stuck:
            with contextlib.suppress(TimeoutError):
                loop.run_until_complete(asyncio.wait_for(loop.shutdown_default_executor(), bound))
    finally:
        # Whatever ends the wait (a second Ctrl-C included), a task still pending now is never
        # resumed again: keep it from being finalized.
        for t in asyncio.all_tasks(loop):
            if not t.done() and t not in _ABANDONED:
                _keep(t)
        loop.close()
    return stuck


async def finish_within(tasks: Collection[asyncio.Future[Any]], budget: float) -> tuple[int, int]:
    """Wait up to ``budget`` seconds for ``tasks``; cancel those still running and give them
    :data:`STOP_BOUND` to stop. Returns (cancelled, abandoned): the one way fpt waits for tasks.

    Every finished task's outcome is retrieved, so none is ever logged as never retrieved.
    """
    if not tasks:
        return 0, 0
    pending: Collection[asyncio.Future[Any]] = tasks
    if budget > 0:
        _, pending = await asyncio.wait(tasks, timeout=budget)
    abandoned = await stop_within(pending)
    for t in tasks:
        if t.done() and not t.cancelled():
            t.exception()
    return len(pending), abandoned
