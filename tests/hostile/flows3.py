"""Flows against :mod:`hostile.services3`, written the way squads write them."""

from __future__ import annotations

import fpt


async def signin(user: fpt.User) -> dict[str, str] | None:
    """Sign up once with the whole profile, log in once; the token goes in a header per request."""
    if "auth" not in user.state:
        async with user.step("signup", expect_status={201}):
            await user.http.post("/signup", json={**user.identity.profile(),
                                                  "password": user.identity.password})
        async with user.step("login"):
            r = await user.http.post("/login", json=user.identity.credentials)
        if r.status_code != 200:
            return None
        user.state["auth"] = {"authorization": f"Bearer {r.json()['token']}"}
    auth: dict[str, str] = user.state["auth"]
    return auth


async def profile(user: fpt.User) -> None:
    """Read my profile; ownership checked on email, member id and canary (not phone nor address)."""
    auth = await signin(user)
    if auth is None:
        return
    async with user.step("me"):
        r = await user.http.get("/me", headers=auth)
        if r.status_code == 200:
            user.expect_owner(r, "email", "member_id", "canary")


async def members(user: fpt.User) -> None:
    """My profile, my member page and an order of mine (both in the ledger: probes try them)."""
    auth = await signin(user)
    if auth is None:
        return
    await profile(user)
    page = f"/members/{user.identity.email}"
    async with user.step("page"):
        r = await user.http.get(page, headers=auth)
    if r.status_code == 200 and not any(e.kind == "member" for e in user.ledger):
        user.ledger.add("member", page, email=user.identity.email)
    async with user.step("order"):
        r = await user.http.post("/orders", json={"note": f"order {user.identity.canary}"}, headers=auth)
    if r.status_code == 201:
        user.ledger.add("order", f"/orders/{r.json()['ref']}", ref=r.json()["ref"], note=r.json()["note"])
    async with user.step("read"):
        orders = [e for e in user.ledger if e.kind == "order"]
        if orders:
            await user.http.get(orders[-1].url, headers=auth)


async def posting(user: fpt.User) -> None:
    """Write a post (public by design: it carries my canary), then read it."""
    auth = await signin(user)
    if auth is None:
        return
    await profile(user)
    async with user.step("post"):
        r = await user.http.post("/posts", json={"text": f"hello from {user.identity.canary}"}, headers=auth)
    if r.status_code == 201:
        user.ledger.add("post", f"/posts/{r.json()['id']}", text=r.json()["text"])
    async with user.step("posts"):
        if user.ledger.entries:
            await user.http.get(user.ledger.entries[-1].url, headers=auth)


async def events(user: fpt.User) -> None:
    """Read my profile, then my event stream to its end (server-sent events)."""
    auth = await signin(user)
    if auth is None:
        return
    await profile(user)
    async with user.step("events"), user.http.stream("GET", "/events", headers=auth) as r:
        async for _ in r.aiter_bytes():
            pass


async def notices(user: fpt.User) -> None:
    """Subscribe to my notices over a WebSocket and read them (each one scanned like a body)."""
    auth = await signin(user)
    if auth is None:
        return
    async with user.step("notices"), user.ws("/notices", headers=auth) as ws:
        await ws.send_json({"subscribe": "notices"})
        for _ in range(3):
            await ws.receive_json()
