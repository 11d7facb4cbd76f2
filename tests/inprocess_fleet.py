"""An in-process fleet of replicas behind a round-robin router, for scale-event tests.

Sessions are shared (the correct setup) or kept per replica (the classic bug); every
response names the replica that served it in ``x-served-by``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import fpt


class Fleet:
    """N replicas behind a round-robin router; sessions shared (correct) or per replica (bug)."""

    def __init__(self, *, shared_sessions: bool) -> None:
        self.shared = shared_sessions
        self.sessions: dict[str, str] = {}
        self.replica_sessions: dict[str, dict[str, str]] = {}
        self.data: dict[str, list[str]] = {}
        self.names: list[str] = []
        self._next = itertools.count(1)
        self._rr = itertools.count()
        self.scale(1)

    def scale(self, n: int) -> None:
        while len(self.names) < n:
            name = f"r{next(self._next)}"
            self.names.append(name)
            self.replica_sessions[name] = {}
        while len(self.names) > n:
            gone = self.names.pop(0)  # drain the oldest: its users must move
            self.replica_sessions.pop(gone)

    def store(self, replica: str) -> dict[str, str]:
        return self.sessions if self.shared else self.replica_sessions[replica]

    def app(self) -> Starlette:
        async def login(request: Request) -> Response:
            await asyncio.sleep(0)  # a real replica waits on I/O: requests released together overlap
            replica = self.pick()
            body = await request.json()
            token = secrets.token_hex(8)
            self.store(replica)[token] = body["email"]
            r = JSONResponse({"ok": True}, headers={"x-served-by": replica})
            r.set_cookie("session", token)
            return r

        async def notes(request: Request) -> Response:
            await asyncio.sleep(0)  # a real replica waits on I/O: requests released together overlap
            replica = self.pick()
            who = self.store(replica).get(request.cookies.get("session", ""))
            if who is None:
                return JSONResponse({"error": "login required"}, status_code=401,
                                    headers={"x-served-by": replica})
            if request.method == "POST":
                self.data.setdefault(who, []).append((await request.json())["note"])
                return JSONResponse({"id": len(self.data[who])}, status_code=201,
                                    headers={"x-served-by": replica})
            return JSONResponse({"notes": self.data.get(who, [])}, headers={"x-served-by": replica})

        return Starlette(routes=[Route("/login", login, methods=["POST"]),
                                 Route("/notes", notes, methods=["GET", "POST"])])

    def pick(self) -> str:
        return self.names[next(self._rr) % len(self.names)]


async def flow(user: fpt.User) -> None:
    if not user.state.get("in"):
        async with user.step("login"):
            await user.http.post("/login", json={"email": user.identity.email})
        user.state["in"] = True
    async with user.step("write", expect_status={201, 401}):
        r = await user.http.post("/notes", json={"note": user.identity.canary + str(user.iterations)})
        if r.status_code == 201:
            user.ledger.add("note", "/notes", note=user.identity.canary + str(user.iterations))
