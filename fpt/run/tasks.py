"""Bounded waiting: the one way fpt waits for tasks and cancels what is left."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any


async def finish_within(tasks: Collection[asyncio.Future[Any]], budget: float) -> int:
    """Wait up to ``budget`` seconds for ``tasks``; cancel those still running and wait until they end.

    Returns how many were cancelled. Every task's outcome is retrieved, so none is ever
    logged as a never-retrieved exception or left pending when the loop closes.
    """
    if not tasks:
        return 0
    pending: Collection[asyncio.Future[Any]] = tasks
    if budget > 0:
        _, pending = await asyncio.wait(tasks, timeout=budget)
    for t in pending:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return len(pending)
