"""Business flows of the demo appointment service, written as a squad would write its own."""

from __future__ import annotations

import fpt


async def sign_in(user: fpt.User) -> bool:
    """Sign the member up once, then log in once; the session cookie stays on ``user.http``."""
    if not user.state.get("signed_up"):
        async with user.step("signup", expect_status={201, 409}):
            body = {**user.identity.profile(), "password": user.identity.password}
            r = await user.http.post("/signup", json=body)
        user.state["signed_up"] = r.status_code in (201, 409)
    if not user.state.get("logged_in"):
        async with user.step("login"):
            r = await user.http.post("/login", json=user.identity.credentials)
            fpt.check(r.status_code == 200, f"login refused ({r.status_code})")
        user.state["logged_in"] = r.status_code == 200
    return bool(user.state.get("logged_in"))


async def book_visit(user: fpt.User) -> None:
    """Log in, read the profile, book a visit, list visits, cancel the oldest of many."""
    if not await sign_in(user):
        return
    async with user.step("profile"):
        r = await user.http.get("/me")
        user.expect_owner(r, "member.email", "member.member_id", "member.canary")
    async with user.step("book"):
        r = await user.http.post("/visits", json={"note": f"check-up {user.identity.canary}"})
        if fpt.check(r.status_code == 201, f"booking refused ({r.status_code})"):
            visit = r.json()
            user.expect_owner(visit, member_id=user.identity.member_id)
            user.ledger.add("visit", f"/visits/{visit['id']}", note=visit["note"])
    async with user.step("list"):
        r = await user.http.get("/visits")
        for visit in r.json().get("visits", []):
            user.expect_owner(visit, member_id=user.identity.member_id)
    if len(user.ledger) > 3:
        oldest = user.ledger.entries[len(user.ledger) - 4]
        async with user.step("cancel"):
            r = await user.http.delete(oldest.url)
            fpt.check(r.status_code == 200, f"cancel refused ({r.status_code})")


async def sign_in_token(user: fpt.User) -> bool:
    """Sign up once, then log in once for a bearer token kept in ``user.state`` (no cookie kept)."""
    if not user.state.get("signed_up"):
        async with user.step("signup", expect_status={201, 409}):
            body = {**user.identity.profile(), "password": user.identity.password}
            r = await user.http.post("/signup", json=body)
        user.state["signed_up"] = r.status_code in (201, 409)
    if not user.state.get("token"):
        async with user.step("login"):
            r = await user.http.post("/login", json=user.identity.credentials)
            if fpt.check(r.status_code == 200, f"login refused ({r.status_code})"):
                user.state["token"] = r.json()["token"]
        user.http.cookies.clear()  # this client authenticates per request, never by cookie
    return bool(user.state.get("token"))


async def book_visit_token(user: fpt.User) -> None:
    """The mobile app's flow: every call carries ``Authorization: Bearer``, never a cookie.

    Reads the profile, books a visit, reschedules it (PUT) and lists the visits, checking
    at each answer that the data is this member's.
    """
    if not await sign_in_token(user):
        return
    auth = {"authorization": f"Bearer {user.state['token']}"}
    async with user.step("profile"):
        r = await user.http.get("/me", headers=auth)
        user.expect_owner(r, "member.email", "member.member_id", "member.canary")
    async with user.step("book"):
        r = await user.http.post("/visits", json={"note": f"follow-up {user.identity.canary}"}, headers=auth)
        if not fpt.check(r.status_code == 201, f"booking refused ({r.status_code})"):
            return
        visit = r.json()
        user.expect_owner(visit, member_id=user.identity.member_id)
        user.ledger.add("visit", f"/visits/{visit['id']}", note=visit["note"])
    async with user.step("reschedule"):
        r = await user.http.put(f"/visits/{visit['id']}", json={"date": "2031-02-03"}, headers=auth)
        if fpt.check(r.status_code == 200, f"reschedule refused ({r.status_code})"):
            user.expect_owner(r, member_id=user.identity.member_id)
    async with user.step("list"):
        r = await user.http.get("/visits", headers=auth)
        for visit in r.json().get("visits", []):
            user.expect_owner(visit, member_id=user.identity.member_id)


async def book_with_input(user: fpt.User, note: object) -> None:
    """Negative flow: book a visit with a generated note; it must be booked or refused cleanly."""
    if not await sign_in(user):
        return
    async with user.step("book-boundary", expect_status={201, 400, 422}):
        r = await user.http.post("/visits", json={"note": note})
        if r.status_code == 201:
            fpt.check(r.json().get("note") == note, "booked note differs from the one sent")
        else:
            fpt.check(bool(r.json().get("error")), f"refusal {r.status_code} without a message")


async def read_foreign_visit(user: fpt.User, visit_id: int) -> None:
    """Negative flow: read visit ids that are not this member's; never see another member's data."""
    if not await sign_in(user):
        return
    if "mine" not in user.state:
        async with user.step("list"):
            r = await user.http.get("/visits")
        user.state["mine"] = {v["id"] for v in r.json().get("visits", [])}
    if visit_id in user.state["mine"]:
        return
    async with user.step("read-foreign", expect_status={404}):
        r = await user.http.get(f"/visits/{visit_id}")
        fpt.check(r.status_code == 404, f"visit {visit_id} of another member answered {r.status_code}")


def eligible(member_id: str) -> bool:
    """The eligibility rule the demo's downstream applies (member ids ending 13 are not covered)."""
    return not member_id.endswith("13")


async def book_with_eligibility(user: fpt.User) -> None:
    """Book a visit through the eligibility check; retry once when eligibility is unavailable."""
    if not await sign_in(user):
        return
    mine = user.identity.member_id
    for attempt in ("book", "book-retry"):
        async with user.step(attempt, expect_status={201, 403, 502}):
            r = await user.http.post("/visits", json={"note": f"eligible {user.identity.canary}"})
        if r.status_code != 502:  # 502: eligibility unavailable, handled by one retry
            break
    if r.status_code == 403:
        fpt.check(not eligible(mine), f"eligible member refused ({r.json().get('error')})")
    elif r.status_code == 201:
        fpt.check(eligible(mine), "a member who is not eligible was booked")
        visit = r.json()
        user.expect_owner(visit, member_id=mine)
        user.ledger.add("visit", f"/visits/{visit['id']}", note=visit["note"])
    else:
        fpt.check(False, "eligibility still unavailable after one retry")
