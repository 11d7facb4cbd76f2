"""The demo service under strain: switchable bugs that only the other kinds of load test catch.

Correct by default. Four bugs (``FPT_DEMO_BUGS``), each the way such bugs get into
real services:

- ``degrade_over_rate``: no admission control that degrades gracefully: above
  ``FPT_DEMO_CAPACITY`` requests a second (default 25) the excess is answered
  ``503`` after a stall; below it again, service is normal (it recovers).
- ``no_recovery``: the same overload, but it trips a latch nobody resets (a
  circuit that never closes): once overloaded, every request is a ``503``.
- ``leak``: every request keeps a 64 KiB buffer in an app-wide list (a "debug
  history" that is never trimmed): the service's memory grows with traffic.
- ``volume_scan``: ``GET /records/latest`` reads every record of every member and
  filters afterwards (a missing index), paying a per-record read cost; the
  correct route reads only the member's own latest records.

The records routes are a member's activity log: ``POST /records`` imports
``count`` synthetic records at once (the bulk import a squad seeds volume with),
``GET /records/latest`` lists the member's ten latest.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

STRAIN_BUGS = ("degrade_over_rate", "no_recovery", "leak", "volume_scan")
DEFAULT_CAPACITY = 25.0
"""Requests per second the overload bugs take before they degrade."""
OVERLOAD_STALL = 0.05
"""How long an overloaded request waits before its 503 (a queue timing out, shortened)."""
LEAK_BYTES = 64 * 1024
ROW_READ_COST = 20e-6
"""Seconds one record read costs the scanning query (a row fetched from storage)."""
LATEST = 10
MAX_IMPORT = 10_000


def capacity() -> float:
    """Requests a second before overload, from ``FPT_DEMO_CAPACITY``."""
    raw = os.environ.get("FPT_DEMO_CAPACITY", "")
    return float(raw) if raw else DEFAULT_CAPACITY


class Strain:
    """ASGI middleware carrying the overload and leak bugs (a pass-through without them)."""

    def __init__(self, app: ASGIApp, bugs: frozenset[str], capacity: float | None = None) -> None:
        self.app = app
        self.bugs = bugs
        self.capacity = capacity if capacity is not None else globals()["capacity"]()
        self.overload = bool({"degrade_over_rate", "no_recovery"} & bugs)
        self.arrivals: deque[float] = deque()
        self.tripped = False
        self.kept: list[bytearray] = []  # the leak bug's never-trimmed history

    def _overloaded(self) -> bool:
        now = time.monotonic()
        self.arrivals.append(now)
        while self.arrivals and self.arrivals[0] <= now - 1.0:
            self.arrivals.popleft()
        over = len(self.arrivals) > self.capacity
        if over and "no_recovery" in self.bugs:
            self.tripped = True
        return over or self.tripped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse when overloaded (with the bugs on), keep a buffer (leak), else pass through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "leak" in self.bugs:
            self.kept.append(bytearray(LEAK_BYTES))
        if self.overload and self._overloaded():
            await asyncio.sleep(OVERLOAD_STALL)
            await JSONResponse({"error": "overloaded"}, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Members(Protocol):
    """What the records routes need of the booking service: who is logged in."""

    async def member_of(self, request: Request) -> dict[str, Any] | None:
        """The logged-in member of this request."""


class Records:
    """A member's activity log: bulk import, and the latest few."""

    def __init__(self, members: Members, bugs: frozenset[str]) -> None:
        self.members = members
        self.scan = "volume_scan" in bugs
        self.by_member: dict[str, list[dict[str, Any]]] = {}  # the index
        self.all: list[dict[str, Any]] = []  # insertion order, every member
        self._next = 1

    async def add(self, request: Request) -> Response:
        """Import ``count`` synthetic records for the logged-in member."""
        member = await self.members.member_of(request)
        if member is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        try:
            data = await request.json()
            count = data["count"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "body must be {\"count\": n}"}, status_code=400)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_IMPORT:
            return JSONResponse({"error": f"count must be 1 to {MAX_IMPORT}"}, status_code=422)
        mid = member["member_id"]
        mine = self.by_member.setdefault(mid, [])
        for _ in range(count):
            record = {"id": self._next, "member_id": mid, "kind": "note", "text": f"imported {self._next}"}
            self._next += 1
            mine.append(record)
            self.all.append(record)
        return JSONResponse({"imported": count, "total": len(mine)}, status_code=201)

    async def latest(self, request: Request) -> Response:
        """The member's ten latest records."""
        member = await self.members.member_of(request)
        if member is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        mid = member["member_id"]
        if self.scan:
            # Meant: the member's index. Written: every row, filtered afterwards.
            await asyncio.sleep(len(self.all) * ROW_READ_COST)
            rows = [r for r in self.all if r["member_id"] == mid][-LATEST:]
        else:
            rows = self.by_member.get(mid, [])[-LATEST:]
        return JSONResponse({"records": rows})


def routes(members: Members, bugs: frozenset[str]) -> list[Route]:
    """The records routes for the booking app."""
    records = Records(members, bugs)
    return [Route("/records", records.add, methods=["POST"]),
            Route("/records/latest", records.latest, methods=["GET"])]
