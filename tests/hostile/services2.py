"""More misbehaving services for the red-team tests: each breaks the verdict a new way.

``shop_app(*modes)`` is a small order service like :func:`hostile.services.orders_app`,
but the caller's token may travel in a header (``authorization: Bearer``) or in a query
parameter (``?token=``), and each mode breaks it one more way (see :data:`MODES`).
:func:`hostile.services.serve` runs it under a real uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostile.services import Accounts

MODES = {
    "bola": "an order is answered to anybody who is logged in (authorization bug)",
    "hang_some": "every 4th GET /me never answers",
    "header_leak": "GET /me answers the caller's profile, with the previous caller's canary in X-Last-User",
    "tail_leak": "GET /me pads its answer past 1 MiB, then names the previous caller's canary",
    "empty_me": "GET /me answers 200 with an empty body",
    "me_flaky": "every 2nd GET /me is a 500",
    "probe_500": "reading another user's order is a 500 (only 1 in 5 is refused cleanly)",
}
PAD = 1 << 20
#: how long a hanging answer hangs (far past every client deadline of the tests, bounded all the same)
HANG_S = 20.0


def shop_app(*modes: str) -> Starlette:
    """The order service with ``modes`` switched on."""
    for m in modes:
        assert m in MODES, m
    accounts = Accounts(query=True)
    users, who, signup, login = accounts.users, accounts.who, accounts.signup, accounts.login
    orders: dict[int, dict[str, Any]] = {}
    ids = itertools.count(1)
    state: dict[str, Any] = {"me_calls": 0, "foreign": 0}

    async def me(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        state["me_calls"] += 1
        if "hang_some" in modes and state["me_calls"] % 4 == 0:
            await asyncio.sleep(HANG_S)
        if "me_flaky" in modes and state["me_calls"] % 2 == 0:
            return JSONResponse({"error": "db down"}, status_code=500)
        if "empty_me" in modes:
            return Response(b"", status_code=200)
        u = users[email]
        prev = state.get("prev", email)
        state["prev"] = email
        if "header_leak" in modes:
            return JSONResponse({"email": u["email"], "canary": u["canary"]},
                                headers={"x-last-user": users[prev]["canary"]})
        if "tail_leak" in modes:
            head = f'{{"email": "{u["email"]}", "canary": "{u["canary"]}", "pad": "'
            body = head + " " * PAD + f'", "last_user": "{users[prev]["canary"]}"}}'
            return Response(body.encode(), media_type="application/json")
        return JSONResponse({"email": u["email"], "canary": u["canary"]})

    async def create(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        body = await request.json()
        oid = next(ids)
        orders[oid] = {"id": oid, "owner": email, "note": body["note"]}
        return JSONResponse(orders[oid], status_code=201)

    async def read(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        order = orders.get(int(request.path_params["oid"]))
        if order is None:
            return JSONResponse({"error": "no such order"}, status_code=404)
        if order["owner"] == email or "bola" in modes:
            return JSONResponse(order)
        if "probe_500" in modes:
            state["foreign"] += 1
            if state["foreign"] % 5:
                return JSONResponse({"error": "KeyError: owner"}, status_code=500)
        return JSONResponse({"error": "no such order"}, status_code=404)

    async def catalog(request: Request) -> Response:
        """Public: anybody may read it, logged in or not."""
        return JSONResponse({"items": ["tea", "coffee"]})

    return Starlette(routes=[
        Route("/signup", signup, methods=["POST"]), Route("/login", login, methods=["POST"]),
        Route("/catalog", catalog), Route("/me", me), Route("/orders", create, methods=["POST"]),
        Route("/orders/{oid}", read),
    ])
