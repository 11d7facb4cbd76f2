"""Session continuity across scale events, proof that traffic moved, and read-back.

Observers watch every response: an unexpected 401/403 or a redirect to a login
page, or a session cookie lost or replaced outside a login step, is a ``session``
finding naming the user, the phase and the event. The replica that served each
response (a header such as ``X-Served-By``) shows whether the event moved traffic:
a scale-out that no user reached, or a scale-in that drained nobody's replica, is
not evidence. After the run every acknowledged write is read back by its owner.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict

import httpx

from fpt.config.redact import url as redact_url
from fpt.run.bounds import finish_within
from fpt.run.context import LedgerEntry, RunContext
from fpt.run.detectors.canary import carries
from fpt.run.user import User

READBACK_STEP = "fpt.readback"
SESSION_NAME = re.compile(r"sess|sid|auth|token", re.I)


class SessionWatch:
    """Observer: unexpected logouts and session cookies lost or replaced."""

    def __init__(self, *, cookie: str = "", login_steps: tuple[str, ...] = ("login",),
                 served_by: str = "x-served-by") -> None:
        self.cookie = cookie
        self.login_steps = tuple(s.lower() for s in login_steps)
        self.served_by = served_by.lower()
        self._last: dict[int, str] = {}
        self.replica_of: dict[int, str] = {}
        #: phase -> replica -> responses served
        self.served: dict[str, Counter[str]] = defaultdict(Counter)
        #: replica -> run seconds it first / last answered
        self.first_seen: dict[str, float] = {}
        self.last_seen: dict[str, float] = {}
        self.last_any = 0.0
        self.user_moves = 0

    def _session_cookie(self, user: User) -> tuple[str, str] | None:
        for c in user.http.cookies.jar:
            if (self.cookie and c.name == self.cookie) or (not self.cookie and SESSION_NAME.search(c.name)):
                return c.name, c.value or ""
        return None

    def _in_login(self, user: User) -> bool:
        step = user.current_step.lower()
        return any(s in step for s in self.login_steps)

    def __call__(self, user: User, request: httpx.Request, response: httpx.Response) -> None:
        """Judge one response for session continuity and note its replica."""
        replica = response.headers.get(self.served_by)
        phase = user.ctx.phase or "load"
        if replica:
            now = user.ctx.now()
            self.served[phase][replica] += 1
            self.first_seen.setdefault(replica, now)
            self.last_seen[replica] = now
            self.last_any = now
            prev = self.replica_of.get(user.index)
            if prev is not None and prev != replica:
                self.user_moves += 1
            self.replica_of[user.index] = replica
        if user.probing or self._in_login(user):
            current = self._session_cookie(user)
            if current:
                self._last[user.index] = current[1]
            return
        had = self._last.get(user.index)
        current = self._session_cookie(user)
        status = response.status_code
        location = response.headers.get("location", "")
        path = redact_url(request.url.path)
        to_login = 300 <= status < 400 and "login" in location.lower()
        if had is not None and (status in (401, 403) or to_login):
            user.fail("session", f"logged out: {request.method} answered {status}"
                      + (f" redirecting to {redact_url(location)}" if location else ""),
                      method=request.method, path=path, evidence={"replica": replica or ""})
        elif had is not None and current is None:
            user.fail("session", "session cookie lost", method=request.method, path=path,
                      evidence={"replica": replica or ""})
        elif had is not None and current is not None and current[1] != had:
            user.fail("session", "session cookie replaced outside a login step", method=request.method,
                      path=path, evidence={"replica": replica or ""})
        if current is not None:
            self._last[user.index] = current[1]


async def read_back(entries: list[LedgerEntry], users: dict[int, User], ctx: RunContext, *,
                    concurrency: int = 16, budget: float = 60.0, not_kept: int = 0) -> dict[str, int]:
    """Every acknowledged write, read back by its owner: lost writes are ``data_loss`` findings.

    ``not_kept`` writes were acknowledged but not kept for read-back (``RunContext.writes_dropped``):
    counted as ``not_kept`` and within ``skipped`` (not made), never as read back.
    """
    counts = {"tried": 0, "ok": 0, "lost": 0, "errors": 0, "skipped": not_kept, "not_kept": not_kept}
    sem = asyncio.Semaphore(concurrency)

    async def one(entry: LedgerEntry) -> None:
        user = users.get(entry.owner)
        if user is None:
            counts["skipped"] += 1
            return
        async with sem:
            counts["tried"] += 1
            try:
                async with user._harness_step(READBACK_STEP, expect_status=range(100, 600)):
                    r = await user.http.get(entry.url)
            except httpx.HTTPError as e:
                counts["errors"] += 1
                user.fail("functional", f"read-back of {entry.kind} failed: {type(e).__name__}",
                          path=redact_url(entry.url), step=READBACK_STEP)
                return
        held = set(carries(r.content, [str(v) for v in entry.fields.values()]))  # in any case
        missing = [k for k, v in entry.fields.items() if str(v) and str(v) not in held]
        if r.status_code in (404, 410) or (r.status_code < 300 and missing):
            counts["lost"] += 1
            user.fail("data_loss", f"acknowledged {entry.kind} not found on read-back"
                      + (f" (fields {', '.join(missing)} missing)" if r.status_code < 300 else ""),
                      method="GET", path=redact_url(entry.url), evidence={"status": r.status_code},
                      step=READBACK_STEP)
        elif r.status_code >= 300:
            counts["errors"] += 1
            user.fail("functional", f"read-back of {entry.kind} answered {r.status_code}",
                      method="GET", path=redact_url(entry.url), step=READBACK_STEP)
        else:
            counts["ok"] += 1

    cancelled, _ = await finish_within([asyncio.ensure_future(one(e)) for e in entries], budget)
    counts["skipped"] += cancelled
    return counts
