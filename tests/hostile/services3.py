"""Services for the round-three detector attacks: each one correct but awkward, or broken a new way.

``member_app(*modes)`` is a member service (sign up with the whole profile, log in, profile,
member pages, orders with references, posts) whose modes either refuse the way real
services do and fpt must not call a leak (``soft``, ``empty``, ``echo404``, ``echo403``), or
leak the way fpt did not see (``bola``, ``mixed``, ``sse_tail``, ``utf16*``).
``notices_app(swap)`` is a WebSocket notices channel (``swap``: some subscribers get another
member's notice). ``conn_app(cached)`` remembers the caller per keep-alive connection, as a pooling
gateway or a connection-bound auth scheme does; it needs a real server
(:func:`hostile.services.serve`), since only real connections have that state.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from hostile.services import Accounts

MODES = {
    "soft": "another member's order is refused with 200 and an error body (a soft refusal)",
    "empty": "another member's order is refused with 200 and an empty body",
    "echo404": "another member's order is refused with a 404 naming the reference that was asked for",
    "echo403": "another member's page /members/{email} is refused with a 403 naming the email",
    "bola": "orders and member pages are answered to anybody logged in",
    "mixed": "GET /me answers the caller's email, member id and canary with the previous caller's "
             "phone and address",
    "sse_tail": "GET /events streams 1.1 MiB of events, then one naming the previous caller's canary",
    "utf16": "GET /me is UTF-16 with a BOM, charset declared, carrying the previous caller's canary",
    "utf16le": "GET /me is UTF-16LE without a BOM, charset declared, carrying the previous caller's canary",
    "utf32": "GET /me is UTF-32 with a BOM and no charset, carrying the previous caller's canary",
    "utf16be": "GET /me is UTF-16BE, no BOM, no charset (detected as JSON is), with the previous caller's "
               "canary",
    "escaped": "GET /me writes every character of the previous caller's canary as a JSON \\u escape",
}
#: the fields of a profile as the service keeps it
PROFILE = ("name", "email", "phone", "address", "member_id", "canary")
ENCODINGS = {"utf16": ("utf-16", "utf-16"), "utf16le": ("utf-16-le", "utf-16le"),
             "utf32": ("utf-32", None), "utf16be": ("utf-16-be", None)}
PAD_EVENT = b"data: " + b"." * 1018 + b"\n\n"  # 1 KiB an event


def member_app(*modes: str) -> Starlette:
    """The member service with ``modes`` switched on (see :data:`MODES`)."""
    for m in modes:
        assert m in MODES, m
    accounts = Accounts(lambda n, email: f"tok-{n}-{secrets.token_hex(4)}")
    users, who, signup, login = accounts.users, accounts.who, accounts.signup, accounts.login
    orders: dict[str, dict[str, Any]] = {}
    posts: dict[int, dict[str, Any]] = {}
    ids = itertools.count(1)
    state: dict[str, str] = {}

    def previous(email: str) -> dict[str, str]:
        """The caller before this one (a value kept app-wide: the bug of the leaking modes)."""
        prev, state["prev"] = state.get("prev", email), email
        return users[prev]

    async def me(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        other = previous(email)
        await asyncio.sleep(0.002)  # long enough for two users' profile reads to overlap
        u = users[email]
        doc = {k: u[k] for k in PROFILE}
        if "mixed" in modes:
            doc.update(phone=other["phone"], address=other["address"])
        for mode, (codec, charset) in ENCODINGS.items():
            if mode in modes:
                doc["last_visitor"] = other["canary"]
                text = JSONResponse(doc).body.decode()
                declared = f"; charset={charset}" if charset else ""
                return Response(text.encode(codec), media_type=f"application/json{declared}")
        if "escaped" in modes:
            hidden = "".join(f"\\u{ord(c):04x}" for c in other["canary"])
            text = JSONResponse(doc).body.decode()[:-1] + f', "last_visitor": "{hidden}"}}'
            return Response(text.encode(), media_type="application/json")
        return JSONResponse(doc)

    async def member(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        wanted = request.path_params["email"]
        if wanted != email and "bola" not in modes:
            if "echo403" in modes:
                return JSONResponse({"error": f"{wanted} is not your member page"}, status_code=403)
            return JSONResponse({"error": "forbidden"}, status_code=403)
        u = users.get(wanted)
        if u is None:
            return JSONResponse({"error": "no such member"}, status_code=404)
        return JSONResponse({k: u[k] for k in PROFILE})

    async def create(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        body = await request.json()
        ref = f"ORD-{next(ids)}-{secrets.token_hex(3)}"
        orders[ref] = {"ref": ref, "owner": email, "note": body["note"]}
        return JSONResponse(orders[ref], status_code=201)

    async def order(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        ref = request.path_params["ref"]
        o = orders.get(ref)
        if o is not None and (o["owner"] == email or "bola" in modes):
            return JSONResponse(o)
        if "soft" in modes:
            return JSONResponse({"error": "no such order"})
        if "empty" in modes:
            return Response(b"", status_code=200)
        if "echo404" in modes:
            return JSONResponse({"error": f"no order {ref}"}, status_code=404)
        return JSONResponse({"error": "no such order"}, status_code=404)

    async def post(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        body = await request.json()
        pid = next(ids)
        posts[pid] = {"id": pid, "text": body["text"]}
        return JSONResponse(posts[pid], status_code=201)

    async def read_post(request: Request) -> Response:
        """Posts are public: anybody logged in reads any of them (declared so by the squad)."""
        if who(request) is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        p = posts.get(int(request.path_params["pid"]))
        return JSONResponse(p) if p is not None else JSONResponse({"error": "no post"}, status_code=404)

    async def events(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        mine, other = users[email]["canary"], previous(email)["canary"]
        pad = 1100 if "sse_tail" in modes else 8

        async def stream() -> AsyncIterator[bytes]:
            yield f'data: {{"member": "{mine}"}}\n\n'.encode()
            for _ in range(pad):
                yield PAD_EVENT
            if "sse_tail" in modes:
                yield f'data: {{"last_visitor": "{other}"}}\n\n'.encode()

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[
        Route("/signup", signup, methods=["POST"]), Route("/login", login, methods=["POST"]),
        Route("/me", me), Route("/members/{email}", member),
        Route("/orders", create, methods=["POST"]), Route("/orders/{ref}", order),
        Route("/posts", post, methods=["POST"]), Route("/posts/{pid:int}", read_post),
        Route("/events", events),
    ])


def conn_app(cached: bool) -> Starlette:
    """A profile service; ``cached``: the caller is remembered per connection (its first token wins)."""
    accounts = Accounts(lambda n, email: f"tok-{n}-{secrets.token_hex(4)}")
    users, who, signup, login = accounts.users, accounts.who, accounts.signup, accounts.login
    by_connection: dict[tuple[str, int], str] = {}

    async def me(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        if cached:
            client = request.client
            key = (client.host, client.port) if client is not None else ("", 0)
            email = by_connection.setdefault(key, email)
        u = users[email]
        return JSONResponse({k: u[k] for k in PROFILE})

    return Starlette(routes=[
        Route("/signup", signup, methods=["POST"]), Route("/login", login, methods=["POST"]),
        Route("/me", me),
    ])


#: notices the channel sends each subscriber (the last one is another member's when ``swap``)
NOTICES = 3


def notices_app(swap: bool) -> Starlette:
    """Sign-up, log-in and a WebSocket ``/notices`` channel: after the subscriber's ``subscribe``, it
    sends :data:`NOTICES` notices, each naming its member (email and canary). ``swap``: the last one is
    the previous subscriber's (a notice fan-out keyed without the member, kept app-wide)."""
    accounts = Accounts(lambda n, email: f"tok-{n}-{secrets.token_hex(4)}")
    users, who, signup, login = accounts.users, accounts.who, accounts.signup, accounts.login
    state: dict[str, str] = {}

    async def notices(websocket: WebSocket) -> None:
        email = who(websocket)  # type: ignore[arg-type]  # a WebSocket has the headers a Request has
        if email is None:
            await websocket.close(code=4401)
            return
        await websocket.accept()
        try:
            await websocket.receive_json()  # {"subscribe": ...}
            prev, state["prev"] = state.get("prev", email), email
            await asyncio.sleep(0.002)  # long enough for two members' subscriptions to overlap
            for i in range(NOTICES):
                member = users[prev] if swap and i == NOTICES - 1 else users[email]
                await websocket.send_json({"to": member["email"], "canary": member["canary"],
                                           "text": f"notice {i + 1} of {NOTICES}"})
            await websocket.receive_text()  # until the subscriber closes
        except WebSocketDisconnect:
            pass  # the subscriber left (its iteration ended with the run): not the service's error

    return Starlette(routes=[
        Route("/signup", signup, methods=["POST"]), Route("/login", login, methods=["POST"]),
        WebSocketRoute("/notices", notices),
    ])
