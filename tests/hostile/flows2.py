"""Flows against :func:`hostile.services2.shop_app`, written the way squads write them."""

from __future__ import annotations

import asyncio
import contextlib

import fpt
from hostile.flows import login


async def _login(user: fpt.User) -> str | None:
    """Sign up and log in once (:func:`hostile.flows.login`); the bare token, for flows that carry it
    themselves."""
    if await login(user) is None:
        return None
    token: str = user.state["token"]
    return token


async def shop(user: fpt.User) -> None:
    """Log in, read my profile (the canary scan looks at it), write an order, read it back."""
    token = await _login(user)
    if token is None:
        return
    auth = {"authorization": f"Bearer {token}"}
    async with user.step("me"):
        await user.http.get("/me", headers=auth)
    async with user.step("order"):
        r = await user.http.post("/orders", json={"note": f"order {user.identity.canary}"}, headers=auth)
        if r.status_code == 201:
            user.ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])
    async with user.step("read"):
        if user.ledger.entries:
            await user.http.get(user.ledger.entries[-1].url, headers=auth)


async def shop_patient(user: fpt.User) -> None:
    """Like :func:`shop`, but gives up on a slow profile after 300 ms and carries on (its own timeout)."""
    token = await _login(user)
    if token is None:
        return
    auth = {"authorization": f"Bearer {token}"}
    async with user.step("me"):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.3):
                await user.http.get("/me", headers=auth)
    async with user.step("order"):
        r = await user.http.post("/orders", json={"note": f"order {user.identity.canary}"}, headers=auth)
        if r.status_code == 201:
            user.ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])


async def shop_query_token(user: fpt.User) -> None:
    """The token travels as ``?token=``; even users buy (write orders), odd users only browse."""
    token = await _login(user)
    if token is None:
        return
    async with user.step("me"):
        await user.http.get("/me", params={"token": token})
    if user.index % 2 == 0:
        async with user.step("order"):
            r = await user.http.post("/orders", params={"token": token},
                                     json={"note": f"order {user.identity.canary}"})
            if r.status_code == 201:
                user.ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])


async def shop_profile(user: fpt.User) -> None:
    """Log in and read my profile; nothing else (the canary scan is the only data-swap check)."""
    token = await _login(user)
    if token is None:
        return
    async with user.step("me"):
        await user.http.get("/me", headers={"authorization": f"Bearer {token}"})


async def shop_browse(user: fpt.User) -> None:
    """Token in a header; even users buy (write orders), odd users only read their profile; every
    iteration ends on the public catalog (read without the token: anybody may)."""
    token = await _login(user)
    if token is None:
        return
    auth = {"authorization": f"Bearer {token}"}
    async with user.step("me"):
        await user.http.get("/me", headers=auth)
    if user.index % 2 == 0:
        async with user.step("order"):
            r = await user.http.post("/orders", json={"note": f"order {user.identity.canary}"}, headers=auth)
            if r.status_code == 201:
                user.ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])
    async with user.step("catalog"):
        await user.http.get("/catalog")


async def shop_sloppy(user: fpt.User) -> None:
    """Like :func:`shop_profile`, with a bare ``except:`` around the read (it also swallows the
    cancellation fpt sends when the grace runs out)."""
    token = await _login(user)
    if token is None:
        return
    async with user.step("me"):
        try:
            await user.http.get("/me", headers={"authorization": f"Bearer {token}"})
        except:  # noqa: E722 - the point: squads write this
            pass
