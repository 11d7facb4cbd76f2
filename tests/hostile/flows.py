"""Flows against the hostile order service, written the way squads write them."""

from __future__ import annotations

import asyncio
import time

import fpt


async def login(user: fpt.User) -> dict[str, str] | None:
    """Sign up and log in once; the token goes in a header *per request* (not a client default)."""
    if "auth" not in user.state:
        async with user.step("signup", expect_status={201}):
            await user.http.post("/signup", json={**user.identity.credentials,
                                                  "canary": user.identity.canary})
        async with user.step("login"):
            r = await user.http.post("/login", json=user.identity.credentials)
        if r.status_code != 200:
            return None
        user.state["token"] = r.json()["token"]
        user.state["auth"] = {"authorization": f"Bearer {user.state['token']}"}
    auth: dict[str, str] = user.state["auth"]
    return auth


async def order(user: fpt.User) -> None:
    """Log in, read my profile (ownership checked), write an order and read it back."""
    auth = await login(user)
    if auth is None:
        return
    async with user.step("me"):
        r = await user.http.get("/me", headers=auth)
        if r.status_code == 200:
            user.expect_owner(r, "email", "canary")
    async with user.step("order"):
        r = await user.http.post("/orders", json={"note": f"order {user.identity.canary}"}, headers=auth)
        if r.status_code == 201:
            user.ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])
    async with user.step("read"):
        if user.ledger.entries:
            await user.http.get(user.ledger.entries[-1].url, headers=auth)


async def me_unchecked(user: fpt.User) -> None:
    """Reads the profile without any ownership check (relies on the canary scan alone)."""
    auth = await login(user)
    if auth is None:
        return
    async with user.step("me"):
        await user.http.get("/me", headers=auth)


async def stream_feed(user: fpt.User) -> None:
    """Writes an order, then reads the feed as a stream."""
    auth = await login(user)
    if auth is None:
        return
    async with user.step("order"):
        await user.http.post("/orders", json={"note": f"order {user.identity.canary}"}, headers=auth)
    async with user.step("feed"):
        async with user.http.stream("GET", "/feed", headers=auth) as r:
            async for _ in r.aiter_bytes():
                pass


async def hangs(user: fpt.User) -> None:
    """Never returns."""
    async with user.step("wait"):
        await asyncio.sleep(3600)


async def blocks_the_loop(user: fpt.User) -> None:
    """Blocks the event loop (a synchronous client or a CPU-heavy step in a flow)."""
    async with user.step("block"):
        time.sleep(1.5)  # noqa: ASYNC251 - the point: a flow that blocks the loop


async def get_root(user: fpt.User) -> None:
    """One GET of /."""
    async with user.step("get"):
        await user.http.get("/")
