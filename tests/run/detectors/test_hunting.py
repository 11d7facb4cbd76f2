"""Hunting data swaps the way they happen in production: each detector fires on the demo bug it
exists for and stays quiet on the correct demo (in-process runs of about a second each)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import fpt
from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.evidence.checks import Evidence, ReplayEvidence, merge_evidence
from fpt.judge.dod.catalogue import NOT_EVIDENCED, PASSED
from fpt.judge.dod.evaluate import item_judges
from fpt.judge.verdict import swap_kinds, swap_verdict
from fpt.report.checklist import detail
from fpt.report.hunting import hunt_lines
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User
from suites.flows import book_visit, book_visit_token, sign_in, sign_in_token


def run(flow: Callable[[User], Awaitable[None]], target: Any, *, seconds: float = 1.2, rate: float = 40,
        setup: Callable[[User], Awaitable[object]] | None = None, **cfg: Any) -> fpt.RunResult:
    """One in-process run with fpt's defaults, ``cfg`` on top."""
    config = FptConfig(profile="virtual", seed=11).with_values({"users": 20, "alone": 1, **cfg}, "test")
    r = Run(flow, cfg=config, shape=constant(rate), duration=seconds, target=target, thresholds=(),
            name="hunt", setup=setup)
    return asyncio.run(r.execute())


def token_run(bugs: tuple[str, ...] = (), **cfg: Any) -> fpt.RunResult:
    """The bearer-token flow as the suite runs it (setup, replayed writes, request ids)."""
    return run(book_visit_token, create_app(bugs=bugs), setup=sign_in_token, replay_writes=True,
               request_id_header="X-Request-ID", **cfg)


# -- overlap by design ----------------------------------------------------------------------------

def test_default_arrivals_make_every_checked_step_overlap_and_say_how() -> None:
    assert FptConfig().arrivals == "rendezvous"
    r = run(book_visit, create_app(), setup=sign_in)
    ev = r.evidence
    assert ev.arrivals == "rendezvous, groups of 4"
    assert ev.steps_without_overlap == ()
    assert {s.step for s in ev.steps if s.inspected and s.load_ok} >= {"profile", "book", "list"}
    assert swap_verdict(r) == "passes"
    assert any(line.startswith("arrivals: rendezvous, groups of 4") for line in hunt_lines(ev))


def _steps_app() -> Starlette:
    async def hit(request: Request) -> Response:
        await asyncio.sleep(0.002)
        return JSONResponse({"mine": request.query_params.get("c", "")})  # the caller's own data

    return Starlette(routes=[Route("/common", hit), Route("/rare", hit)])


async def _rare_flow(user: User) -> None:
    async with user.step("common"):
        await user.http.get("/common", params={"c": user.identity.canary})
    if user.index == 0:  # only one user ever takes this step: it cannot overlap another user's
        async with user.step("rare"):
            await user.http.get("/rare", params={"c": user.identity.canary})


def test_a_checked_step_that_never_overlapped_is_named_and_not_evidenced() -> None:
    r = run(_rare_flow, _steps_app(), replay_share=0, cache_probe_share=0, cancel_share=0)
    assert r.evidence.steps_without_overlap == ("rare",)
    assert r.evidence.step("common").overlap_pairs > 0
    assert swap_verdict(r) == "no_overlap"
    item = item_judges()["data_swap.high_traffic_virtual"]([r])
    assert item.status == NOT_EVIDENCED
    assert "rare" in detail(item)
    assert any("rare" in line and "never ran concurrently" in line for line in hunt_lines(r.evidence))


# -- replay as another user, and as nobody --------------------------------------------------------

def test_replayed_write_without_owner_check_is_an_authorization_finding_naming_both_users() -> None:
    r = token_run(("no_owner_check_write",))
    found = [f for f in r.findings.of("cross_user") if f.evidence.get("detector") == "replay"]
    assert found, dict(r.findings.counts)
    f = found[0]
    assert f.method == "PUT"
    assert f.path.startswith("/visits/")
    assert f.user.startswith("user#")
    assert f.other_user.startswith("user#")
    assert f.user != f.other_user
    assert f.verdict_kind == "authorization"
    assert r.evidence.replay.leaked > 0
    assert item_judges()["data_swap.negative_concurrency"]([r]).status == "failed"


def test_replay_on_the_correct_service_is_refused_or_answered_with_the_replayers_own_data() -> None:
    r = token_run(probe_share=0)
    rp = r.evidence.replay
    assert dict(r.findings.counts) == {}
    assert rp.enabled
    assert rp.tried > 0
    assert rp.leaked == rp.anon_leaked == 0
    assert rp.denied > 0
    assert rp.own > 0
    assert rp.anon_denied == rp.anon_tried
    assert {"GET", "PUT"} <= set(rp.methods)
    # With probes off, replays alone evidence the negative item.
    assert item_judges()["data_swap.negative_concurrency"]([r]).status == PASSED


def test_writes_are_replayed_only_when_the_squad_opts_in() -> None:
    r = run(book_visit_token, create_app(bugs=("no_owner_check_write",)), setup=sign_in_token)
    assert "PUT" not in r.evidence.replay.methods
    assert not r.findings.counts.get("cross_user")


# -- same URL, another user: the cache probe ------------------------------------------------------

def test_unkeyed_cache_is_caught_by_the_cache_probe_as_cache_shared_state() -> None:
    r = run(book_visit, create_app(bugs=("unkeyed_cache",)), setup=sign_in)
    probe = [f for f in r.findings.of("data_swap") if f.evidence.get("detector") == "cache_probe"]
    assert probe, dict(r.findings.counts)
    assert probe[0].verdict_kind == "cache_shared_state"
    assert probe[0].path == "/me"
    assert probe[0].user != probe[0].other_user
    assert r.evidence.cache.leaked > 0
    assert r.evidence.cache.storable > 0  # "Cache-Control: public" on an authenticated answer
    assert "cache_shared_state" in swap_kinds(r)


def test_cache_probe_is_quiet_on_the_correct_service() -> None:
    r = run(book_visit, create_app(), setup=sign_in)
    c = r.evidence.cache
    assert dict(r.findings.counts) == {}
    assert c.enabled
    assert c.clean > 0
    assert c.leaked == 0
    assert c.storable == 0  # the correct demo marks member answers private, no-store


# -- the detectors' rate per step ----------------------------------------------------------------

class _Clock:
    """A clock the test moves by hand (``Hunter.allow`` reads ``time.perf_counter``)."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


def test_hunt_max_rate_lets_each_detector_act_that_often_per_step_and_counts_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fpt.run.context import RunContext
    from fpt.run.detectors import replay

    clock = _Clock()
    monkeypatch.setattr(replay, "time", clock)
    ctx = RunContext(flow="f")
    hunter = replay.Hunter(ctx, seed=1, replay_share=1.0, max_rate=5)
    allowed = sum(hunter.allow("replay", "list") for _ in range(50))  # a burst: one second's worth
    assert allowed == 5
    assert sum(hunter.allow("cache", "list") for _ in range(50)) == 5  # each detector its own
    assert sum(hunter.allow("replay", "book") for _ in range(50)) == 5  # each step its own
    clock.now += 0.4  # 2 tokens back
    assert sum(hunter.allow("replay", "list") for _ in range(50)) == 2
    clock.now += 10.0  # never more than one second's worth
    assert sum(hunter.allow("replay", "list") for _ in range(50)) == 5
    assert ctx.recorder.replay["capped"] == 45 + 45 + 48 + 45
    assert ctx.recorder.cache["capped"] == 45
    unlimited = replay.Hunter(RunContext(flow="f"), seed=1, replay_share=1.0, max_rate=0)
    assert all(unlimited.allow("replay", "list") for _ in range(500))


def test_capped_detectors_stay_bounded_and_still_catch_the_bugs() -> None:
    seconds, cap = 1.5, 3
    r = run(book_visit, create_app(bugs=("unkeyed_cache",)), setup=sign_in, seconds=seconds, rate=120,
            replay_share=0.5, cache_probe_share=0.5, cancel_share=0.2, hunt_max_rate=cap)
    ev = r.evidence
    steps = {s.step for s in ev.steps}
    bound = len(steps) * (cap * (seconds + FptConfig().grace) + cap)  # per step: a full bucket, then the rate
    assert min(ev.replay.capped, ev.cache.capped, ev.cancel.capped) > 0
    assert max(ev.replay.tried, ev.cache.tried, ev.cancel.tried) <= bound
    assert any(f.evidence.get("detector") == "cache_probe" for f in r.findings.of("data_swap"))
    assert "passed over at hunt_max_rate" in " ".join(hunt_lines(ev))
    free = run(book_visit, create_app(), setup=sign_in, seconds=seconds, rate=120, replay_share=0.5,
               cache_probe_share=0.5, cancel_share=0.2, hunt_max_rate=0)
    assert free.evidence.replay.capped == free.evidence.cache.capped == free.evidence.cancel.capped == 0
    assert free.evidence.cache.tried > ev.cache.tried


# -- cancellation under load ----------------------------------------------------------------------

def test_a_reply_left_behind_by_a_cancelled_request_shows_on_the_next_users() -> None:
    r = run(book_visit, create_app(bugs=("stale_connection",)), setup=sign_in, seconds=1.5)
    assert r.evidence.cancel.cancelled > 0
    swaps = r.findings.of("data_swap") + r.findings.of("foreign_canary")
    assert swaps, dict(r.findings.counts)
    assert any(f.user != f.other_user and f.other_user.startswith("user#") for f in swaps)


def test_cancelled_requests_are_counted_as_such_never_as_errors() -> None:
    r = run(book_visit, create_app(), setup=sign_in, cancel_share=0.3, replay_share=0,
            cache_probe_share=0)
    k = r.evidence.cancel
    assert k.enabled
    assert k.tried > 0
    assert k.cancelled > 0
    assert k.retried_ok == k.cancelled
    assert k.retry_failed == 0
    assert dict(r.findings.counts) == {}
    assert r.metrics.requests.failed == 0
    assert r.engine.started == r.engine.completed
    assert r.metrics.flow.failed == 0


# -- request/response pairing ---------------------------------------------------------------------

def test_an_answer_carrying_another_requests_id_is_a_swap() -> None:
    r = token_run(("stale_connection",), seconds=1.5)
    p = r.evidence.pairing
    assert p.enabled
    assert p.header == "X-Request-ID"
    assert p.mismatched > 0
    assert any("id of another request" in f.message for f in r.findings.of("data_swap"))


def test_pairing_is_quiet_when_every_answer_carries_its_own_id() -> None:
    r = token_run(replay_share=0, cache_probe_share=0)
    p = r.evidence.pairing
    assert p.checked > 0
    assert p.mismatched == 0
    assert p.missing == 0
    assert dict(r.findings.counts) == {}


# -- legitimate sharing ---------------------------------------------------------------------------

def _board_app() -> Starlette:
    """Members post their canary on a public board; everyone reads the whole board."""
    posts: list[str] = []

    async def post(request: Request) -> Response:
        posts.append((await request.json())["canary"])
        await asyncio.sleep(0.001)
        return JSONResponse({"ok": True}, status_code=201)

    async def board(request: Request) -> Response:
        await asyncio.sleep(0.002)
        return JSONResponse({"posts": posts[-20:]})

    return Starlette(routes=[Route("/posts", post, methods=["POST"]), Route("/board", board)])


async def _board_flow(user: User) -> None:
    async with user.step("post", expect_status={201}):
        await user.http.post("/posts", json={"canary": user.identity.canary})
    async with user.step("board"):
        await user.http.get("/board")


async def _board_flow_declared(user: User) -> None:
    async with user.step("post", expect_status={201}):
        await user.http.post("/posts", json={"canary": user.identity.canary})
    async with user.step("board", shared=True):
        await user.http.get("/board")


@pytest.mark.parametrize("declare", ["none", "shared_steps", "shared_paths", "step(shared=True)"])
def test_declared_sharing_is_not_a_finding_and_undeclared_sharing_is(declare: str) -> None:
    cfg: dict[str, Any] = {"replay_share": 0.3, "cache_probe_share": 0.3}
    flow = _board_flow
    if declare == "shared_steps":
        cfg["shared_steps"] = "board"
    elif declare == "shared_paths":
        cfg["shared_paths"] = "^/board$"
    elif declare == "step(shared=True)":
        flow = _board_flow_declared
    r = run(flow, _board_app(), **cfg)
    if declare == "none":
        assert r.findings.counts.get("foreign_canary", 0) > 0
        return
    assert dict(r.findings.counts) == {}, r.findings.examples[:2]
    assert r.evidence.scan.shared > 0
    assert r.evidence.replay.leaked == 0
    assert r.evidence.cache.leaked == 0


# -- per-user setup outside the measured window, unique identities --------------------------------

def test_setup_runs_once_per_user_before_the_clock_and_is_not_measured() -> None:
    calls: list[int] = []

    async def setup(user: User) -> bool:
        calls.append(user.index)
        return await sign_in(user)

    r = run(book_visit, create_app(), setup=setup, users=10)
    assert sorted(c for c in calls if c < 10) == list(range(10))
    su = r.evidence.setup
    assert su.enabled
    assert su.users == 10
    assert su.ok == 10
    assert su.failed == 0
    assert "signup" not in r.metrics.steps
    assert "login" not in r.metrics.steps


def test_a_failing_setup_is_a_functional_finding_of_setup() -> None:
    async def setup(user: User) -> None:
        if user.index % 2:
            raise RuntimeError("no invitation code")
        await sign_in(user)

    r = run(book_visit, create_app(), setup=setup, users=4, alone=0)
    assert r.evidence.setup.failed == 2
    assert r.evidence.setup.ok == 2
    assert any(f.step == "setup" for f in r.findings.of("functional"))


def test_unique_identities_differ_per_run_and_a_nonce_reproduces_them() -> None:
    def canaries(**cfg: Any) -> tuple[int, str]:
        config = FptConfig(profile="virtual", users=2, seed=3).with_values(cfg, "test")
        r = Run(book_visit, cfg=config, shape=constant(1), duration=1, target=create_app(), thresholds=(),
                name="ids")
        return r.nonce, r.user(0).identity.canary

    plain = canaries()
    first, second = canaries(unique_identities=True), canaries(unique_identities=True)
    assert plain[0] == 0
    assert first[0]
    assert second[0]
    assert first[1] != second[1] != plain[1]
    assert canaries(unique_identities=True, identity_nonce=first[0]) == first


# -- evidence ---------------------------------------------------------------------------------------

def test_hunting_evidence_round_trips_and_merges() -> None:
    e = Evidence(replay=ReplayEvidence(enabled=True, tried=3, denied=2, own=1, methods={"GET": 3}),
                 arrivals="rendezvous, groups of 4")
    again = Evidence.from_dict(e.to_dict())
    assert again == e
    both = merge_evidence([e, again])
    assert both.replay.tried == 6
    assert both.replay.methods == {"GET": 6}
    assert both.arrivals == "rendezvous, groups of 4"
    assert Evidence.from_dict({k: v for k, v in e.to_dict().items() if k not in ("replay", "cache")}).replay \
        == ReplayEvidence()


def test_unique_identities_set_for_the_session_draw_one_nonce_for_every_run() -> None:
    from fpt.config.settings import build

    cfg = build(pyproject={"unique_identities": True}, ini={}, environ={}, cli={})
    assert cfg.identity_nonce > 0
    again = build(pyproject={"unique_identities": True, "identity_nonce": cfg.identity_nonce}, ini={},
                  environ={}, cli={})
    assert again.identity_nonce == cfg.identity_nonce
    runs = [Run(book_visit, cfg=cfg, shape=constant(1), duration=1, target=create_app(), thresholds=(),
                name=f"run{i}") for i in range(2)]
    assert runs[0].nonce == runs[1].nonce == cfg.identity_nonce


SUITE = '''
from fpt.demo import create_app
from suites.flows import book_visit_token, sign_in_token

def test_mobile(fpt_load):
    r = fpt_load(book_visit_token, setup=sign_in_token, profile="virtual", target=create_app(), users=10,
                 rate=20, duration=1, alone=1)
    assert r.evidence.setup.ok == 10
    assert r.evidence.cancel.enabled is False
    assert r.evidence.replay.enabled and r.evidence.pairing.header == "X-Request-ID"
'''


def test_keys_and_setup_as_a_squad_uses_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mobile=SUITE)
    pytester.makepyprojecttoml('[tool.fpt]\nrequest_id_header = "X-Request-ID"\nshared_steps = ["inbox"]\n')
    res = pytester.runpytest("--fpt-cancel-share=0", "--fpt-replay-writes", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["*arrivals: rendezvous, groups of 4*", "*hunting: replay * as another user*"])
    bad = pytester.runpytest("--fpt-replay-share=2", "-p", "no:cacheprovider")
    bad.stderr.fnmatch_lines(["*replay_share*fraction between 0 and 1*"])
