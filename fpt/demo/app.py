"""The demo service: appointment booking for health-plan members (synthetic data only).

Correct by default. Four switchable bugs, each written the way such bugs really
get into services, prove that fpt's data-swap checks catch what they claim:

- ``shared_cache``: ``GET /me`` responses cached for a second, keyed by path only
  (a performance fix that forgot the user).
- ``request_global``: the current member kept in an app-wide attribute while the
  handler awaits its database call (a "request context" that is not per request).
- ``no_owner_check``: ``GET /visits/{id}`` loads the visit by id and never checks
  whose it is (broken object-level authorization).
- ``leaky_listing``: ``GET /visits`` merges the front desk's recent bookings with
  an ``or`` where an ``and`` was meant, listing other members' booked visits.
- ``stale_connection``: the one backend connection every request shares keeps going
  after a request was cancelled between sending its command and reading the reply,
  so each later request reads the reply of the one before it (redis-py asyncio, 2023).
  It shows when the server cancels the handler of a request whose client gave up (as
  in-process ASGI does; uvicorn lets the handler finish).
- ``no_owner_check_write``: ``PUT /visits/{id}`` reschedules any member's visit and
  answers with it (broken object-level authorization on a write).
- ``unkeyed_cache``: ``GET /me`` says ``Cache-Control: public, max-age=5``, so the edge
  cache in front of the app (keyed by path, as edge caches are) serves one member's
  profile to everyone for five seconds (Steam 2015, Klarna 2021): no concurrency needed.

Every answer echoes ``X-Request-ID`` (from the backend reply that served it, when one
did), and member answers say ``Cache-Control: private, no-store`` unless a bug says
otherwise.

Bugs only stress, spike, soak and volume runs catch are in :mod:`fpt.demo.strain`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fpt.demo import strain
from fpt.demo.store import MemoryStore, Pipe, RedisStore, Store

BUGS = ("shared_cache", "request_global", "no_owner_check", "leaky_listing", "stale_connection",
        "no_owner_check_write", "unkeyed_cache", *strain.STRAIN_BUGS)
SESSIONS = ("memory", "redis", "replica-memory")
MEMBER_FIELDS = ("email", "password", "name", "phone", "birth_date", "member_id", "address", "canary")
MAX_FIELD = 1000
CACHE_TTL = 1.0
EDGE_TTL = 5.0
#: where the member lookup left the id of the backend reply it read (echoed as X-Request-ID)
REPLY_TAG = "demo.reply_tag"


def parse_bugs(bugs: Iterable[str] | str | None) -> frozenset[str]:
    """Bug names from an iterable or a comma-separated string; unknown names are an error."""
    if bugs is None:
        bugs = os.environ.get("FPT_DEMO_BUGS", "")
    if isinstance(bugs, str):
        bugs = [b.strip() for b in bugs.split(",")]
    chosen = frozenset(b for b in bugs if b)
    unknown = sorted(chosen - set(BUGS))
    if unknown:
        raise ValueError(f"unknown demo bug {unknown[0]!r}; allowed: {', '.join(BUGS)}")
    return chosen


class ServedBy:
    """ASGI middleware: every response names the replica that served it."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.header = (b"x-served-by", replica.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the header to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with)


class EdgeCache:
    """ASGI middleware: an edge cache keyed by path (as edge caches are) that stores only answers
    marked ``Cache-Control: public``; echoes ``X-Request-ID``; marks other answers private."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cache: dict[str, tuple[float, Message, list[Message]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve from the cache, or call the app and keep what it marks public."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        path = scope["path"]
        if scope["method"] == "GET":
            hit = self.cache.get(path)
            if hit is not None and time.monotonic() - hit[0] < EDGE_TTL:
                age = str(int(time.monotonic() - hit[0])).encode()
                start = {**hit[1], "headers": [*hit[1]["headers"], (b"age", age)]}
                for message in (start, *hit[2]):
                    await send(message)
                return
        kept: list[Message] = []
        start_msg: Message | None = None

        async def send_with(message: Message) -> None:
            nonlocal start_msg
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"private, no-store"))
                tag = scope.get(REPLY_TAG, rid)
                if tag is not None and b"x-request-id" not in names:
                    headers.append((b"x-request-id", tag if isinstance(tag, bytes) else str(tag).encode()))
                message = {**message, "headers": headers}
                cc = dict(headers).get(b"cache-control", b"")
                if scope["method"] == "GET" and b"public" in cc:
                    start_msg = message
            elif start_msg is not None:
                kept.append(message)
                if not message.get("more_body"):
                    self.cache[path] = (time.monotonic(), start_msg, kept)
            await send(message)

        await self.app(scope, receive, send_with)


def error(status: int, message: str) -> JSONResponse:
    """A JSON error body with a message."""
    return JSONResponse({"error": message}, status_code=status)


def public(member: dict[str, Any]) -> dict[str, Any]:
    """A member without the password."""
    return {k: v for k, v in member.items() if k != "password"}


class Booking:
    """The handlers, with their store, downstream client and bug switches."""

    def __init__(self, store: Store, bugs: frozenset[str], eligibility_url: str | None,
                 eligibility_transport: httpx.AsyncBaseTransport | None) -> None:
        self.store = store
        self.bugs = bugs
        self.eligibility_url = eligibility_url
        self.eligibility_transport = eligibility_transport
        self._client: httpx.AsyncClient | None = None
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self.current_member: dict[str, Any] | None = None  # only the request_global bug uses it
        # The one backend connection every member lookup goes through (pipelined, replies in order).
        self.pipe = Pipe(reset_on_cancel="stale_connection" not in bugs)

    @property
    def client(self) -> httpx.AsyncClient:
        """The downstream client, made on first use (ASGITransport runs no lifespan)."""
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.eligibility_transport, timeout=2.0)
        return self._client

    async def close(self) -> None:
        """Release the downstream client and the store."""
        if self._client is not None:
            await self._client.aclose()
        await self.store.close()

    async def member_of(self, request: Request) -> dict[str, Any] | None:
        """The logged-in member of this request, from ``Authorization: Bearer`` or the session cookie."""
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get("session")
        if not token:
            return None

        async def lookup() -> dict[str, Any] | None:
            mid = await self.store.session(token)
            return await self.store.member(mid) if mid else None

        tag, member = await self.pipe.call(request.headers.get("x-request-id"), lookup)
        request.scope[REPLY_TAG] = tag
        return member  # type: ignore[no-any-return]

    async def body(self, request: Request) -> dict[str, Any] | Response:
        """The JSON object body, or a 400 response."""
        try:
            data = await request.json()
        except ValueError:
            return error(400, "body must be JSON")
        if not isinstance(data, dict):
            return error(400, "body must be a JSON object")
        return data

    async def health(self, request: Request) -> Response:
        """Liveness for the load balancer."""
        return JSONResponse({"status": "ok"})

    async def openapi(self, request: Request) -> Response:
        """The service's OpenAPI document (``fpt_load.openapi`` hunts every route from it)."""
        from fpt.demo.openapi import DOCUMENT

        return JSONResponse(DOCUMENT)

    async def signup(self, request: Request) -> Response:
        """Create a member."""
        data = await self.body(request)
        if isinstance(data, Response):
            return data
        for name in MEMBER_FIELDS:
            value = data.get(name)
            if not isinstance(value, str) or not value.strip():
                return error(422, f"{name} is required and must be a non-empty string")
            if len(value) > MAX_FIELD:
                return error(422, f"{name} must be at most {MAX_FIELD} characters")
        member = {k: data[k] for k in MEMBER_FIELDS}
        await asyncio.sleep(0.001)  # hashing the password off the event loop, as a real service would
        if not await self.store.add_member(member):
            return error(409, "a member with this email or id exists")
        return JSONResponse(public(member), status_code=201)

    async def login(self, request: Request) -> Response:
        """Open a session for valid credentials."""
        data = await self.body(request)
        if isinstance(data, Response):
            return data
        email, password = data.get("email"), data.get("password")
        member = await self.store.member_by_email(email) if isinstance(email, str) else None
        await asyncio.sleep(0.001)  # checking the password hash off the event loop
        if member is None or not isinstance(password, str) or \
                not secrets.compare_digest(member["password"], password):
            return error(401, "invalid credentials")
        token = secrets.token_urlsafe(24)
        await self.store.set_session(token, member["member_id"])
        response = JSONResponse({"member_id": member["member_id"], "token": token})
        response.set_cookie("session", token, httponly=True, path="/", samesite="lax")
        return response

    async def logout(self, request: Request) -> Response:
        """Close the session."""
        token = request.cookies.get("session")
        if token:
            await self.store.drop_session(token)
        response = JSONResponse({"ok": True})
        response.delete_cookie("session", path="/")
        return response

    async def audit(self, request: Request) -> None:
        """The profile read's audit-log write: a short wait on I/O, as a real write would be."""
        await asyncio.sleep(0.002)

    async def me(self, request: Request) -> Response:
        """The logged-in member's profile."""
        if "shared_cache" in self.bugs:
            hit = self._cache.get(request.url.path)
            if hit and time.monotonic() - hit[0] < CACHE_TTL:
                return JSONResponse(hit[1])
        if "request_global" in self.bugs:
            self.current_member = await self.member_of(request)
            await self.audit(request)
            member = self.current_member
        else:
            member = await self.member_of(request)
            await self.audit(request)
        if member is None:
            return error(401, "login required")
        body = {"member": public(member)}
        if "shared_cache" in self.bugs:
            self._cache[request.url.path] = (time.monotonic(), body)
        if "unkeyed_cache" in self.bugs:
            # "The profile changes rarely": cacheable by anyone for five seconds.
            return JSONResponse(body, headers={"cache-control": f"public, max-age={EDGE_TTL:g}"})
        return JSONResponse(body)

    async def visits(self, request: Request) -> Response:
        """List (GET) or book (POST) the member's visits."""
        member = await self.member_of(request)
        if member is None:
            return error(401, "login required")
        mid = member["member_id"]
        if request.method == "GET":
            mine = await self.store.visits_of(mid)
            if "leaky_listing" in self.bugs and mine:
                # Meant: this member's *and* booked; written with `or`.
                recent = await self.store.recent_visits(50)
                seen = {v["id"] for v in mine}
                mine += [v for v in recent if (v["member_id"] == mid or v["status"] == "booked")
                         and v["id"] not in seen]
            return JSONResponse({"visits": mine})
        data = await self.body(request)
        if isinstance(data, Response):
            return data
        note, date = data.get("note"), data.get("date", "2030-01-01")
        if not isinstance(note, str) or not note.strip() or len(note) > MAX_FIELD:
            return error(422, f"note must be 1 to {MAX_FIELD} characters")
        if not isinstance(date, str) or len(date) != 10:
            return error(422, "date must look like YYYY-MM-DD")
        if self.eligibility_url:
            try:
                r = await self.client.get(f"{self.eligibility_url}/eligibility/{mid}")
                r.raise_for_status()
                eligible = bool(r.json().get("eligible"))
            except (httpx.HTTPError, ValueError):
                return error(502, "eligibility unavailable")
            if not eligible:
                return error(403, "not eligible")
        visit = await self.store.add_visit({"member_id": mid, "note": note, "date": date,
                                            "status": "booked"})
        return JSONResponse(visit, status_code=201)

    async def visit(self, request: Request) -> Response:
        """Read (GET), reschedule (PUT) or cancel (DELETE) one visit."""
        member = await self.member_of(request)
        if member is None:
            return error(401, "login required")
        try:
            vid = int(request.path_params["id"])
        except ValueError:
            return error(404, "not found")
        visit = await self.store.visit(vid)
        owned = visit is not None and visit["member_id"] == member["member_id"]
        unchecked = (request.method == "GET" and "no_owner_check" in self.bugs) or \
            (request.method == "PUT" and "no_owner_check_write" in self.bugs)
        if visit is None or (not owned and not unchecked):
            return error(404, "not found")
        if request.method == "PUT":
            data = await self.body(request)
            if isinstance(data, Response):
                return data
            date = data.get("date")
            if not isinstance(date, str) or len(date) != 10:
                return error(422, "date must look like YYYY-MM-DD")
            visit = {**visit, "date": date}
            await self.store.save_visit(visit)
        if request.method == "DELETE":
            visit = {**visit, "status": "cancelled"}
            await self.store.save_visit(visit)
        return JSONResponse(visit)


def create_app(*, bugs: Iterable[str] | str | None = None, sessions: str = "memory",
               redis_url: str | None = None, eligibility_url: str | None = None,
               eligibility_transport: httpx.AsyncBaseTransport | None = None,
               replica: str = "r1") -> Starlette:
    """The booking service; ``bugs=None`` reads ``FPT_DEMO_BUGS``."""
    chosen = parse_bugs(bugs)
    if sessions not in SESSIONS:
        raise ValueError(f"sessions must be one of {', '.join(SESSIONS)}; got {sessions!r}")
    store: Store
    if sessions == "memory":
        store = MemoryStore()
    else:
        if not redis_url:
            raise ValueError(f"sessions={sessions!r} needs redis_url")
        store = RedisStore(redis_url, sessions_in_memory=sessions == "replica-memory")
    booking = Booking(store, chosen, eligibility_url, eligibility_transport)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await booking.close()

    app = Starlette(
        routes=[
            Route("/health", booking.health),
            Route("/openapi.json", booking.openapi),
            Route("/signup", booking.signup, methods=["POST"]),
            Route("/login", booking.login, methods=["POST"]),
            Route("/logout", booking.logout, methods=["POST"]),
            Route("/me", booking.me),
            Route("/visits", booking.visits, methods=["GET", "POST"]),
            Route("/visits/{id}", booking.visit, methods=["GET", "PUT", "DELETE"]),
            *strain.routes(booking, chosen),
        ],
        middleware=[Middleware(ServedBy, replica=replica), Middleware(EdgeCache),
                    Middleware(strain.Strain, bugs=chosen)],
        lifespan=lifespan,
    )
    app.state.booking = booking
    return app


def create_app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from ``FPT_DEMO_*`` variables."""
    return create_app(
        bugs=os.environ.get("FPT_DEMO_BUGS", ""),
        sessions=os.environ.get("FPT_DEMO_SESSIONS", "memory"),
        redis_url=os.environ.get("FPT_DEMO_REDIS_URL") or None,
        eligibility_url=os.environ.get("FPT_DEMO_ELIGIBILITY_URL") or None,
        replica=os.environ.get("FPT_DEMO_REPLICA", "r1"),
    )
