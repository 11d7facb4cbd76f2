"""A WSGI app (Flask) in-process in the virtual profile at 50/s, through a2wsgi (issue 21, item 7).

The app keeps members in memory and, with ``bug=True``, the member of the request in a module-wide
variable across a short wait (a thread-unsafe "current user", as a Flask app with a global instead
of ``flask.g`` has): under a threaded server two requests swap members. The check must catch it
and stay quiet on the correct app.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import fpt
from fpt.config.settings import FptConfig
from fpt.judge.verdict import swap_verdict
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.wsgi import as_asgi, is_wsgi


def make_app(*, bug: bool) -> Any:
    """Members: POST /signup, POST /login (a signed session cookie), GET /me."""
    # Here, not at import: `pytest -m fpt` in a venv with only the demo extra collects this module.
    flask = pytest.importorskip("flask")
    app = flask.Flask("members")
    app.secret_key = "test-only-not-a-secret"
    members: dict[str, dict[str, str]] = {}
    current: dict[str, Any] = {}  # the bug: one "current member" for every thread

    @app.post("/signup")
    def signup() -> Any:
        body = flask.request.get_json()
        if body["username"] in members:
            return {"error": "already exists"}, 409
        members[body["username"]] = body
        return {"username": body["username"]}, 201

    @app.post("/login")
    def login() -> Any:
        body = flask.request.get_json()
        member = members.get(body["username"])
        if member is None or member["password"] != body["password"]:
            return {"error": "bad credentials"}, 401
        flask.session["username"] = body["username"]
        return {"ok": True}

    @app.get("/me")
    def me() -> Any:
        name = flask.session.get("username")
        if name is None:
            return {"error": "log in"}, 401
        member = members[name]
        if bug:
            current["member"] = member
            time.sleep(0.003)  # a lookup elsewhere; another thread sets `current` meanwhile
            member = current["member"]
        return {"username": member["username"], "email": member["email"], "canary": member["canary"]}

    return app


async def sign_in(user: fpt.User) -> None:
    """Once per user: sign up (409: already there) and log in, outside the measured window."""
    me = user.identity
    r = await user.http.post("/signup", json={"username": me.username, "password": me.password,
                                              "email": me.email, "canary": me.canary})
    fpt.check(r.status_code in (201, 409), f"signup refused ({r.status_code})")
    r = await user.http.post("/login", json={"username": me.username, "password": me.password})
    fpt.check(r.status_code == 200, f"login refused ({r.status_code})")


async def profile(user: fpt.User) -> None:
    if not user.state.get("in"):
        await sign_in(user)
        user.state["in"] = True
    async with user.step("me"):
        r = await user.http.get("/me")
        user.expect_owner(r, "username", "email", "canary")


def run(app: Any) -> fpt.RunResult:
    cfg = FptConfig(users=20, profile="virtual", arrivals="rendezvous", burst=10, alone=2, seed=11,
                    probe_share=0.0)
    return asyncio.run(Run(profile, cfg=cfg, shape=constant(50), duration=2.0, target=app, thresholds=(),
                           name="flask").execute())


def test_flask_is_wsgi_and_starlette_is_not() -> None:
    from fpt.demo import create_app

    assert is_wsgi(make_app(bug=False))
    assert not is_wsgi(create_app())
    assert as_asgi(create_app()) is not None


def test_flask_in_process_at_50_per_second_catches_its_swap() -> None:
    r = run(make_app(bug=True))
    assert r.engine.started == 100  # 50/s for 2 s, none dropped
    assert r.achieved_rate >= 0.95 * 50
    swaps = r.findings.counts.get("data_swap", 0) + r.findings.counts.get("foreign_canary", 0)
    assert swaps > 0, dict(r.findings.counts)
    assert swap_verdict(r) == "concurrency"


def test_flask_in_process_correct_app_stays_quiet() -> None:
    r = run(make_app(bug=False))
    assert r.engine.started == 100
    assert dict(r.findings.counts) == {}
    assert swap_verdict(r) == "passes"
    assert r.evidence.step("me").owner_checked > 0


def test_username_is_unique_and_stable() -> None:
    from fpt.run.identity import IdentityFactory

    f = IdentityFactory(5)
    names = {f.make(i).username for i in range(200)}
    assert len(names) == 200
    assert f.make(3).username == IdentityFactory(5).make(3).username
    assert f.make(3).username.endswith("_3")
