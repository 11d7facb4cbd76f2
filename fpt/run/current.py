"""The user whose iteration runs in this task: set by the runner, read by checks and the perimeter."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpt.run.user import User

_current: contextvars.ContextVar[User | None] = contextvars.ContextVar("fpt_user", default=None)


def current_user() -> User | None:
    """The user whose iteration is running in this task, if any (the process perimeter names it)."""
    return _current.get()


def set_current(user: User | None) -> contextvars.Token[User | None]:
    """Make ``user`` current for this task (the runner does this per iteration)."""
    return _current.set(user)


def reset_current(token: contextvars.Token[User | None]) -> None:
    """Undo :func:`set_current`."""
    _current.reset(token)
