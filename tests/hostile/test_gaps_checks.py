"""Red team of the data-swap checks: three ways a broken service got a green item, and their controls.

1. A squad step named ``fpt.*`` passed for one of fpt's own harness steps, which the
   "a step that answered only errors" rule leaves out: refused with a one-line error.
2. A service that renders what it returns in upper (or lower) case hid another user's
   canary from the scan, and the owner's data from the replay detector (and made the
   read-back call a write it rendered in upper case lost).
3. A cross-user probe (or replay) of an object its owner had deleted was refused with a
   404 and counted as a refusal, on a service with no authorization at all.

Each attack runs a real in-process Starlette app (the virtual profile's ASGI transport)
or a real pytest session, and asserts the item a QA engineer reads is not green; each
has a control on the service that does it right.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import fpt
from fpt.config.errors import ConfigError
from fpt.config.settings import FptConfig
from fpt.judge.dod.catalogue import FAILED, NOT_EVIDENCED, PASSED
from fpt.judge.dod.evaluate import item_judges
from fpt.run.context import RunContext
from fpt.run.detectors.canary import CanaryScanner, find_canaries
from fpt.run.detectors.probes import CrossUserProbe
from fpt.run.identity import IdentityFactory
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User
from hostile.flows import login
from hostile.services import Accounts

TESTS = str(Path(__file__).resolve().parents[1])
ROOT = str(Path(__file__).resolve().parents[2])

MODES = {
    "shout": "profiles and orders are rendered in upper case (names, notes, canaries: all of it)",
    "shout_orders": "orders (only) are rendered in upper case",
    "swap": "GET /me answers the previous caller's profile",
    "bola": "an order is answered (and deleted) for anybody who is logged in",
}


def gap_app(*modes: str) -> Starlette:
    """A token-authenticated order service (sign up, log in, profile, orders) broken as ``modes`` say."""
    for m in modes:
        assert m in MODES, m
    accounts = Accounts()
    users, who, signup, login = accounts.users, accounts.who, accounts.signup, accounts.login
    orders: dict[int, dict[str, Any]] = {}
    ids = itertools.count(1)
    state: dict[str, str] = {}

    def answer(body: Any, *, shout: bool) -> Response:
        r = JSONResponse(body)
        if shout:
            return Response(bytes(r.body).upper(), media_type="application/json")
        return r

    async def me(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        if "swap" in modes:
            email, state["prev"] = state.get("prev", email), email
        await asyncio.sleep(0.002)  # long enough for two users' profile reads to overlap
        u = users[email]
        return answer({"email": u["email"], "canary": u["canary"]}, shout="shout" in modes)

    async def create(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        body = await request.json()
        oid = next(ids)
        orders[oid] = {"id": oid, "owner": email, "note": body["note"]}
        return JSONResponse(orders[oid], status_code=201)  # the id as issued, whatever the rendering

    async def one(request: Request) -> Response:
        email = who(request)
        if email is None:
            return JSONResponse({"error": "login first"}, status_code=401)
        oid = int(request.path_params["oid"])
        order = orders.get(oid)
        if order is None or (order["owner"] != email and "bola" not in modes):
            return JSONResponse({"error": "no such order"}, status_code=404)
        if request.method == "DELETE":
            del orders[oid]
            return Response(status_code=204)
        await asyncio.sleep(0.002)
        return answer(order, shout="shout" in modes or "shout_orders" in modes)

    return Starlette(routes=[
        Route("/signup", signup, methods=["POST"]), Route("/login", login, methods=["POST"]),
        Route("/me", me), Route("/orders", create, methods=["POST"]),
        Route("/orders/{oid}", one, methods=["GET", "DELETE"]),
    ])


async def profile(user: User) -> None:
    """Read my profile (the canary scan is the only data-swap check)."""
    auth = await login(user)
    if auth is not None:
        async with user.step("me"):
            await user.http.get("/me", headers=auth)


async def profile_as_fpt_step(user: User) -> None:
    """Like :func:`profile`, in a step named as if it were one of fpt's own."""
    auth = await login(user)
    if auth is not None:
        async with user.step("fpt.me"):
            await user.http.get("/me", headers=auth)


async def order_and_read(user: User) -> None:
    """Read my profile, write an order, read it back (no ownership check: the detectors judge)."""
    auth = await login(user)
    if auth is None:
        return
    async with user.step("me"):
        await user.http.get("/me", headers=auth)
    async with user.step("order"):
        r = await user.http.post("/orders", json={"note": f"order {user.identity.canary}"}, headers=auth)
        if r.status_code == 201:
            user.ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])
    async with user.step("read"):
        if user.ledger.entries:
            await user.http.get(user.ledger.entries[-1].url, headers=auth)


async def order_and_cancel(user: User) -> None:
    """Read my profile, write an order and cancel (delete) it at once."""
    auth = await login(user)
    if auth is None:
        return
    async with user.step("me"):
        await user.http.get("/me", headers=auth)
    async with user.step("order"):
        r = await user.http.post("/orders", json={"note": f"order {user.identity.canary}"}, headers=auth)
    if r.status_code == 201:
        url = f"/orders/{r.json()['id']}"
        user.ledger.add("order", url, note=r.json()["note"])
        async with user.step("cancel", expect_status={204}):
            await user.http.delete(url, headers=auth)


def run(flow: Callable[[User], Awaitable[None]], *modes: str, seconds: float = 1.2,
        **cfg: Any) -> fpt.RunResult:
    """One in-process run of ``flow`` against ``gap_app(*modes)``, with ``cfg`` over fpt's defaults."""
    config = FptConfig(profile="virtual", seed=11).with_values(
        {"users": 8, "alone": 0, "arrivals": "rendezvous", "burst": 4, **cfg}, "test")
    r = Run(flow, cfg=config, shape=constant(60), duration=seconds, target=gap_app(*modes), thresholds=(),
            name="gap")
    return asyncio.run(r.execute())


def judge(name: str, r: fpt.RunResult) -> Any:
    """One checklist item for one run."""
    return item_judges()[name]([r])


# -- 1. a squad step cannot pass for one of fpt's own --------------------------------------------------------

def test_a_squad_step_named_like_fpts_own_is_refused() -> None:
    """``fpt.me`` would be left out of "a step that answered only errors" like ``fpt.probe`` is."""
    with pytest.raises(ConfigError, match=r"step must not start with 'fpt\.'.*got 'fpt\.me'"):
        run(profile_as_fpt_step, alone=1)


@pytest.mark.parametrize("name", ["fpt.probe", "fpt.", "@flow", "*", "(flow)", "(requests)"])
def test_names_fpt_keeps_for_its_own_rows_and_series_are_refused(name: str) -> None:
    """``@flow`` and ``*`` are the per-second series of iterations and requests that stairs and spikes
    are judged on: a step by that name would be mixed into them."""
    ctx, users = _users(lambda r: httpx.Response(200))
    with pytest.raises(ConfigError, match="any other name is allowed"):
        users[0].step(name)
    assert ctx.misuse is not None


def test_a_squad_step_named_like_fpts_own_fails_the_test_in_one_line(pytester: pytest.Pytester,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """As a squad runs it (straight into the load, a flow that swallows every exception): the test
    fails with the one line naming the step, no traceback."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT]))
    pytester.makepyfile(test_named=textwrap.dedent("""
        from hostile.services import orders_app

        async def flow(user):
            try:
                async with user.step("fpt.login"):
                    await user.http.get("/me")
            except Exception:
                pass

        def test_named(fpt_load):
            fpt_load(flow, profile="virtual", target=orders_app(), users=2, rate=2, duration="2s", alone=0)
    """))
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*fpt: step must not start with 'fpt.'*got 'fpt.login'*"])
    assert "Traceback" not in res.stdout.str()
    assert "fpt/user.py" not in res.stdout.str()


def test_fpts_own_steps_still_run_and_other_names_are_free() -> None:
    """Control: the probes' harness step still runs; names that merely start with ``fpt`` are the squad's."""
    async def flow(user: User) -> None:
        async with user.step("fptx"), user.step("fpt"):
            await order_and_read(user)

    r = run(flow)
    assert r.evidence.probes.tried > 0
    assert r.evidence.probes.denied > 0
    assert r.findings.total == 0, r.findings.counts


# -- 2. a canary in another case is still a canary ----------------------------------------------------------

def _users(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[RunContext, list[User]]:
    ctx = RunContext(flow="f")
    factory = IdentityFactory(5)
    users = [User(factory.make(i), ctx, base_url="http://t", transport=httpx.MockTransport(handler))
             for i in range(3)]
    return ctx, users


@pytest.mark.parametrize("case", [str.upper, str.title, str.swapcase], ids=["upper", "title", "swapcase"])
def test_a_foreign_canary_in_another_case_is_a_finding_naming_its_owner(case: Callable[[str], str]) -> None:
    holder: dict[str, str] = {}
    ctx, users = _users(lambda r: httpx.Response(200, text=holder["body"],
                                                 headers={"x-last": case(holder["other"])}))
    ctx.observers.append(CanaryScanner(ctx.owners))
    me, other = users[0].identity.canary, users[1].identity.canary
    holder.update(body=case(f'{{"name": "{me}", "friend": "{users[2].identity.canary}"}}'), other=other)

    async def main() -> None:
        async with users[0].step("me"):
            await users[0].http.get("/me")

    asyncio.run(main())
    assert ctx.findings.counts == {"foreign_canary": 1}
    f = ctx.findings.examples[0]
    assert f.user == "user#0"
    assert "user#1" in f.message
    assert "user#2" in f.message
    assert f.other_user in ("user#1", "user#2")
    assert sorted(f.evidence["canaries"]) == sorted([other, users[2].identity.canary])
    assert find_canaries(case(me).encode()) == [me]


def test_a_service_that_shouts_a_swapped_profile_fails_the_swap_item() -> None:
    """``GET /me`` answers the previous caller's profile, all in upper case."""
    r = run(profile, "shout", "swap", probe_share=0, replay_share=0, cache_probe_share=0, cancel_share=0)
    assert r.findings.counts.get("foreign_canary", 0) > 0, r.findings.counts
    f = r.findings.of("foreign_canary")[0]
    assert f.other_user.startswith("user#")
    assert f.other_user != f.user
    assert judge("data_swap.high_traffic_virtual", r).status == FAILED


def test_a_service_that_shouts_the_callers_own_profile_is_inspected_and_quiet() -> None:
    """Control: the caller's own canary in upper case is its own, and evidence the answer was looked at."""
    r = run(profile, "shout", probe_share=0, replay_share=0, cache_probe_share=0, cancel_share=0)
    assert r.findings.total == 0, r.findings.counts
    assert r.evidence.step("me").scanned > 0
    assert judge("data_swap.high_traffic_virtual", r).status == PASSED


def test_an_order_shouted_to_anybody_is_a_replayed_leak_not_the_replayers_own_data() -> None:
    """No authorization on orders, orders rendered in upper case: a replay as another user gets the
    owner's order; before, it did not recognise the owner's data and counted it the replayer's own."""
    r = run(order_and_read, "shout_orders", "bola", probe_share=0, replay_share=0.5, cache_probe_share=0,
            cancel_share=0, hunt_max_rate=0)
    assert r.evidence.replay.leaked > 0, r.evidence.replay
    assert r.findings.counts.get("cross_user", 0) > 0
    assert judge("data_swap.negative_concurrency", r).status == FAILED


def test_a_shouting_service_with_authorization_is_still_evidenced_by_replays() -> None:
    """Control: the replayer's working credentials are recognised in upper case too (the replays prove)."""
    r = run(order_and_read, "shout", probe_share=0, replay_share=0.5, cache_probe_share=0, cancel_share=0,
            hunt_max_rate=0)
    assert r.findings.total == 0, r.findings.counts
    assert r.evidence.replay.denied > 0, r.evidence.replay
    assert judge("data_swap.negative_concurrency", r).status == PASSED


# -- 3. a refusal of an object that is gone proves nothing --------------------------------------------------

def test_deleted_orders_refused_with_404_do_not_pass_the_negative_item() -> None:
    """No authorization at all, but every order is cancelled right after it is written: probes and
    replays of those orders get 404 (there is nothing left to read), which is no refusal."""
    r = run(order_and_cancel, "bola", probe_share=1.0, replay_share=0.5, replay_writes=True,
            cache_probe_share=0, cancel_share=0, hunt_max_rate=0)
    assert "DELETE" in r.evidence.replay.methods
    assert r.evidence.replay.denied == 0, r.evidence.replay
    assert r.evidence.probes.denied == 0, r.evidence.probes
    assert judge("data_swap.negative_concurrency", r).status == NOT_EVIDENCED


def test_deleted_orders_on_a_correct_service_are_not_evidence_either() -> None:
    """Same flow, with authorization: the refusals of deleted orders still prove nothing (honest: not
    evidenced), while the replays of the profile are answered with the replayer's own."""
    r = run(order_and_cancel, probe_share=1.0, replay_share=0.5, replay_writes=True, cache_probe_share=0,
            cancel_share=0, hunt_max_rate=0)
    assert r.findings.total == 0, r.findings.counts
    assert r.evidence.replay.own > 0
    assert judge("data_swap.negative_concurrency", r).status == NOT_EVIDENCED


def test_orders_kept_on_a_correct_service_are_refused_and_pass() -> None:
    """Control: the owner still reads its order, so a refusal of another user is a refusal."""
    r = run(order_and_read, probe_share=1.0, replay_share=0.5, cache_probe_share=0, cancel_share=0,
            hunt_max_rate=0)
    assert r.findings.total == 0, r.findings.counts
    assert r.evidence.probes.denied > 0, r.evidence.probes
    assert r.evidence.replay.denied > 0, r.evidence.replay
    assert judge("data_swap.negative_concurrency", r).status == PASSED


def _probe_after(delete: bool) -> dict[str, int]:
    """users[1] writes an order (and deletes it when ``delete``); users[0], with an order of its own,
    probes it on a service without authorization."""
    ctx = RunContext(flow="f")
    factory = IdentityFactory(5)
    transport = httpx.ASGITransport(app=gap_app("bola"))
    users = [User(factory.make(i), ctx, base_url="http://t", transport=transport) for i in range(2)]

    async def main() -> None:
        for u in users:
            auth = await login(u)
            assert auth is not None
            async with u.step("order"):
                r = await u.http.post("/orders", json={"note": f"order {u.identity.canary}"}, headers=auth)
            u.ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])
        if delete:
            async with users[1].step("cancel", expect_status={204}):
                await users[1].http.delete(users[1].ledger.entries[0].url, headers=users[1].state["auth"])
        await CrossUserProbe(ctx, share=1.0, seed=1).maybe_probe(users[0])
        await asyncio.gather(*(u.aclose() for u in users))

    asyncio.run(main())
    return ctx.recorder.probe_counts


def test_a_probe_of_an_order_its_owner_deleted_is_unproven_not_denied() -> None:
    counts = _probe_after(delete=True)
    assert counts["tried"] == 1
    assert counts["denied"] == 0
    assert counts["unproven"] == 1


def test_a_probe_of_a_live_order_without_authorization_leaks() -> None:
    """Control of the probe above: the same service, the order not deleted."""
    counts = _probe_after(delete=False)
    assert counts["leaked"] == 1


@pytest.mark.parametrize(("modes", "lost"), [(("shout_orders",), 0), (("shout_orders", "bola"), 1)],
                         ids=["kept", "deleted"])
def test_read_back_finds_a_write_rendered_in_upper_case(modes: tuple[str, ...], lost: int) -> None:
    """The owner's read-back of its order, rendered in upper case, still holds the note it wrote (not
    lost); an order deleted (by another user: ``bola``) is lost all the same."""
    from fpt.run.detectors.continuity import read_back

    ctx = RunContext(flow="f")
    transport = httpx.ASGITransport(app=gap_app(*modes))
    factory = IdentityFactory(5)
    users = [User(factory.make(i), ctx, base_url="http://t", transport=transport) for i in range(2)]

    async def main() -> dict[str, int]:
        for u in users:
            auth = await login(u)
            assert auth is not None
            u.http.headers.update(auth)  # the read-back sends what the client sends by default
        async with users[0].step("order"):
            r = await users[0].http.post("/orders", json={"note": f"order {users[0].identity.canary}"})
        users[0].ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])
        if lost:
            async with users[1].step("cancel", expect_status={204}):
                await users[1].http.delete(users[0].ledger.entries[0].url)
        counts = await read_back(list(ctx.writes), {u.index: u for u in users}, ctx)
        await asyncio.gather(*(u.aclose() for u in users))
        return counts

    counts = asyncio.run(main())
    assert (counts["ok"], counts["lost"]) == (1 - lost, lost), counts
    assert ctx.findings.counts.get("data_loss", 0) == lost
