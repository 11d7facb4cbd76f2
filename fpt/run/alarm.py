"""A Python SIGALRM handler (pytest-timeout's ``signal`` method) ends a run on any event loop.

pytest-timeout's signal method arms ``SIGALRM`` and raises ``pytest.fail("Timeout")`` from the
handler. On asyncio's own loop the exception escapes ``select()`` and unwinds the loop without
cancelling its tasks; on uvloop the handler runs inside the loop's C code, which logs the
exception and carries on: the run goes on to its end and the test passes. So while a run lasts
fpt routes ``SIGALRM`` through the loop (``loop.add_signal_handler``, which asyncio and uvloop
both implement with a wake-up fd), calls the handler there, and when it raises, cancels the run's
task and raises the handler's exception from the run once it has unwound (users closed, no task
left behind). The test then fails with pytest-timeout's message, and a failed FPT test fails the
checklist.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import TracebackType
from typing import Any


class AlarmInterrupts:
    """``async with AlarmInterrupts():`` around a run: SIGALRM's Python handler may end it."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._original: Any = None

    async def __aenter__(self) -> AlarmInterrupts:
        sigalrm = getattr(signal, "SIGALRM", None)
        if sigalrm is None or threading.current_thread() is not threading.main_thread():
            return self
        original = signal.getsignal(sigalrm)
        if not callable(original):  # SIG_DFL, SIG_IGN, or set from C: nothing of Python's to call
            return self
        task = asyncio.current_task()
        if task is None:
            return self
        loop = task.get_loop()

        def fire() -> None:
            try:
                original(sigalrm, None)
            except BaseException as e:  # pytest.fail's exception is a BaseException
                if self.error is None:
                    self.error = e
                    task.cancel()

        try:
            loop.add_signal_handler(sigalrm, fire)
        except (NotImplementedError, RuntimeError, ValueError):  # a loop without signal support
            return self
        self._task, self._loop, self._original = task, loop, original
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        __tracebackhide__ = True  # the test's failure shows pytest-timeout's message, not this frame
        if self._loop is None or self._task is None:
            return
        sigalrm = signal.SIGALRM
        self._loop.remove_signal_handler(sigalrm)
        signal.signal(sigalrm, self._original)  # the handler the test had (pytest-timeout's)
        if self.error is not None:
            if et is asyncio.CancelledError:
                self._task.uncancel()
            raise self.error.with_traceback(None) from None
