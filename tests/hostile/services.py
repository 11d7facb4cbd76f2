"""Misbehaving services for the hostile tests: real servers on 127.0.0.1, each broken one way.

``orders_app(mode)`` is a small token-authenticated order service (sign up, log in, write
an order, read it back) whose read endpoint misbehaves as ``mode`` says; ``serve(app)``
runs any ASGI app under a real uvicorn server in a thread; ``drip_server()`` is a raw
asyncio server that answers one byte every 100 ms and never finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


class Accounts:
    """Sign-up and log-in of the hostile services: users by email, a bearer token per log-in.

    ``token(n, email)`` makes the n-th token; ``query`` also takes ``?token=`` as credentials.
    """

    def __init__(self, token: Callable[[int, str], str] = lambda n, email: f"tok{n}", *,
                 query: bool = False) -> None:
        self.users: dict[str, dict[str, str]] = {}
        self.tokens: dict[str, str] = {}
        self._token = token
        self._query = query

    def who(self, request: Request) -> str | None:
        """The logged-in caller's email, or None."""
        token = (self._query and request.query_params.get("token")) or \
            request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return self.tokens.get(token) if token else None

    async def signup(self, request: Request) -> Response:
        body = await request.json()
        self.users[body["email"]] = body
        return JSONResponse({"ok": True}, status_code=201)

    async def login(self, request: Request) -> Response:
        body = await request.json()
        u = self.users.get(body.get("email", ""))
        if u is None or u["password"] != body.get("password"):
            return JSONResponse({"error": "bad credentials"}, status_code=401)
        token = self._token(len(self.tokens), body["email"])
        self.tokens[token] = body["email"]
        return JSONResponse({"token": token})  # as issued: the flow sends it back as it is


MODES = ("correct", "bola", "no_owner_data", "error", "hang", "always_500", "swap_me", "cache_me")


def orders_app(mode: str = "correct") -> Starlette:
    """The order service; ``mode`` breaks it (see :data:`MODES`)."""
    assert mode in MODES, mode
    accounts = Accounts(lambda n, email: f"tok-{n}-{email}")
    users, who, signup, login = accounts.users, accounts.who, accounts.signup, accounts.login
    orders: dict[int, dict[str, Any]] = {}
    ids = itertools.count(1)
    last: dict[str, Any] = {}

    async def me(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        if mode == "always_500":
            return JSONResponse({"error": "db down"}, status_code=500)
        if mode == "swap_me":  # answers with the previous caller's profile
            prev, last["me"] = last.get("me", email), email
            email = prev
        if mode == "cache_me":  # the first answer is cached for everybody
            email = last.setdefault("cached", email)
        u = users[email]
        return JSONResponse({"email": u["email"], "canary": u["canary"]})

    async def create(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        if mode == "always_500":
            return JSONResponse({"error": "db down"}, status_code=500)
        body = await request.json()
        oid = next(ids)
        orders[oid] = {"id": oid, "owner": email, "note": body["note"]}
        last["note"] = body["note"]
        return JSONResponse(orders[oid], status_code=201)

    async def read(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        order = orders.get(int(request.path_params["oid"]))
        if order is None:
            return JSONResponse({"error": "no such order"}, status_code=404)
        mine = order["owner"] == email
        if mode == "hang":
            await asyncio.sleep(3600)
        if mine or mode == "bola":
            return JSONResponse(order)
        if mode == "no_owner_data":
            return JSONResponse({"id": order["id"]})
        if mode == "error":
            return JSONResponse({"error": "boom"}, status_code=500)
        return JSONResponse({"error": "no such order"}, status_code=404)

    async def feed(request: Request) -> Response:
        """Streams the last note anybody wrote (a shared global: a swap in every answer)."""
        note = last.get("note", "")

        async def body() -> Any:
            yield b'{"latest": "'
            yield note.encode()
            yield b'"}'

        return StreamingResponse(body(), media_type="application/json")

    return Starlette(routes=[
        Route("/signup", signup, methods=["POST"]), Route("/login", login, methods=["POST"]),
        Route("/me", me), Route("/orders", create, methods=["POST"]), Route("/orders/{oid}", read),
        Route("/feed", feed),
    ])


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` under a real uvicorn server on 127.0.0.1 in a thread; yields its base URL.

    Shutdown waits at most a second for requests still in flight (a hanging one is cut off).
    """
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the hostile service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def drip_server(seconds: float = 20.0) -> Iterator[str]:
    """A raw server that sends a head promising 1000 bytes, then one byte per 100 ms (stops by itself)."""
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: list[asyncio.Event] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n")
        end = time.monotonic() + seconds
        with contextlib.suppress(ConnectionError):
            while time.monotonic() < end and not (stop and stop[0].is_set()):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.1)
        writer.close()

    async def main() -> None:
        stop.append(asyncio.Event())
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with server:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop[0].wait(), seconds + 5)
            await asyncio.sleep(0.3)  # handlers see the stop and return before the loop ends

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        if not thread.is_alive():
            # Closed here, not by the garbage collector in whichever test runs next (its
            # ResourceWarning would fail that test).
            loop.close()


def ctrl_c_reaches(cmd: list[str]) -> list[str]:
    """``cmd`` started with SIGINT at its default disposition, as from a terminal.

    A process started in the background by a non-interactive shell (``pytest tests &``, a CI
    script's job) ignores SIGINT, and its children inherit that: Python then installs no
    KeyboardInterrupt handler and a Ctrl-C sent to them does nothing. A test that sends
    Ctrl-C to a child session must not depend on how the suite itself was started.
    """
    reset = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             "os.execv(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", reset, *cmd]


def signal_state(pid: int) -> str:
    """What a process that did not end on a signal was doing: its signal masks and its threads' states
    (read from /proc, so a timeout says more than that it timed out)."""
    from pathlib import Path

    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        masks = ("SigBlk", "SigIgn", "SigCgt")
        sig = " ".join(line.replace("\t", "") for line in status if line.startswith(masks))
        threads = []
        for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
            stat = (task / "stat").read_text()
            wchan = (task / "wchan").read_text() if (task / "wchan").exists() else ""
            threads.append(f"{task.name}:{stat[stat.rindex(')') + 2]}:{wchan}")
        return f"{sig}; threads {', '.join(threads)}"
    except OSError as e:
        return f"(no /proc view: {e})"
