"""pytest-xdist: `--dist each` shares the load, the controller merges exactly."""

from __future__ import annotations

import json

import pytest

from fpt.judge.thresholds import measure

APP = '''
import fpt
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def hello(request):
    return JSONResponse({"hello": "world"})

app = Starlette(routes=[Route("/", hello)])
CANARIES = set()

async def flow(user):
    CANARIES.add(user.identity.canary)
    async with user.step("hello"):
        r = await user.http.get("/")
        fpt.check(r.status_code == 200, "refused")
'''

TEST = '''
import json, os
import xapp
from xapp import app, flow

def test_load(fpt_load):
    r = fpt_load(flow, profile="virtual", target=app, rate=40, users=8, duration=1, alone=0)
    out = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"users-{out}.json", "w") as fh:
        json.dump({"first": r.first_user, "users": r.users, "started": r.engine.started,
                   "canaries": sorted(xapp.CANARIES)}, fh)
'''


@pytest.fixture
def xdist_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(xapp=APP, test_x=TEST)
    pytester.syspathinsert()
    return pytester


def test_dist_each_splits_rate_and_users_and_merges(xdist_project: pytest.Pytester) -> None:
    res = xdist_project.runpytest_subprocess("-n", "2", "--dist", "each", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=2)
    parts = [json.loads((xdist_project.path / f"users-gw{i}.json").read_text()) for i in (0, 1)]
    assert sorted((p["first"], p["users"]) for p in parts) == [(0, 4), (4, 4)]  # disjoint slices
    assert sum(p["started"] for p in parts) == 40
    canaries = [set(p["canaries"]) for p in parts]
    assert [len(c) for c in canaries] == [4, 4]  # every user of each slice ran ...
    assert not canaries[0] & canaries[1]  # ... and no canary belongs to two workers
    # one merged summary: 40 iterations at 40/s with 8 users
    res.stdout.fnmatch_lines([
        "*fpt summary*",
        "test_x.py::test_load — flow flow * merged from 2 xdist workers (gw*,gw*)",
        # the whole run's shape, not one worker's share (20/s)
        "*rate 40.00/s achieved of 40.00/s (40/s, *), 40 iterations, 0 dropped, 0 cancelled, 8 users*",
        "*in flight peak between * and * (largest worker's peak; sum of the workers' peaks*",
        "*hello*40*",
        "*overlapping pairs of different users (counted within each xdist worker)*",
    ])
    assert res.stdout.str().count("test_x.py::test_load — flow") == 1
    # One checklist for the whole session, written by the controller, counting the merged run.
    dod = json.loads((xdist_project.path / "fpt-report" / "fpt-dod.json").read_text())
    assert len(dod["runs"]) == 1
    assert dod["runs"][0]["iterations"] == 40
    assert dod["tests"]["passed"] == 1  # one test, run on both workers, counted once
    assert dod["runs"][0]["shape"] == "40/s"
    assert "1 FPT tests ran" in res.stdout.str()
    assert dod["incomplete"] == []


def test_merged_percentiles_equal_direct_computation() -> None:
    import random

    from fpt.config.hist import Histogram
    from fpt.config.thresholds import parse_threshold
    from fpt.evidence.engine import EngineStats
    from fpt.evidence.findings import FindingLog
    from fpt.evidence.metrics import Metrics
    from fpt.evidence.result import RunResult
    from fpt.judge.merge import merge_results

    rng = random.Random(2)
    whole = Metrics()
    parts = []
    for w in range(3):
        m = Metrics()
        for _ in range(1000):
            lat = rng.lognormvariate(9, 0.7)
            t = rng.uniform(0, 5)
            m.step("s", t, lat, None)
            whole.step("s", t, lat, None)
            m.iteration(t, lat, None)
            whole.iteration(t, lat, None)
        m.failure("s", "HTTP 503", "GET /x", 1.0 + w)
        m.targets = {0: 200.0, 1: 200.0}
        engine = EngineStats(planned=1000, started=1000, completed=1000, crashed=0, dropped_no_user=0,
                             dropped_cap=0, cancelled=0, window=5, elapsed=5.1, peak_inflight=3,
                             mean_inflight=1.0, overlapped_starts=10, lateness=Histogram())
        r = RunResult(name="t", flow="f", profile="virtual", target="x", shape="200/s", target_rate=200,
                      duration=5, users=4, seed=1, arrivals="uniform", engine=engine, metrics=m,
                      findings=FindingLog(), worker=f"gw{w}", first_user=4 * w)
        parts.append(RunResult.from_dict(json.loads(json.dumps(r.to_dict()))))
    th = parse_threshold("s:p90<10s")
    parts = [p.__class__(**{**p.__dict__, "thresholds": (measure(p, th),)}) for p in parts]
    merged = merge_results(parts)
    assert merged.engine.started == 3000
    assert merged.users == 12
    assert merged.target_rate == 600
    assert merged.achieved_rate == 600
    # Peaks of workers need not coincide: the largest is a lower bound, the sum an upper one.
    assert (merged.engine.peak_inflight, merged.engine.peak_inflight_sum) == (3, 9)
    for p in (50, 90, 99):
        assert merged.metrics.steps["s"].hist.percentile(p) == whole.steps["s"].hist.percentile(p)
    assert merged.thresholds[0].measured == whole.steps["s"].hist.percentile(90) / 1000
    # failures add up and keep the earliest sighting; the target per second is the workers' sum
    assert merged.metrics.failures == {("s", "HTTP 503", "GET /x"): [3, 1.0]}
    assert merged.metrics.targets == {0: 600.0, 1: 600.0}


def test_killed_worker_marks_the_run_incomplete(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(xapp=APP, test_k='''
        import os
        from xapp import app, flow

        def test_load(fpt_load):
            fpt_load(flow, profile="virtual", target=app, rate=20, users=4, duration=0.5, alone=0)
            if os.environ.get("PYTEST_XDIST_WORKER") == "gw1":
                os._exit(1)
    ''')
    pytester.syspathinsert()
    res = pytester.runpytest_subprocess("-n", "2", "--dist", "each", "-p", "no:cacheprovider")
    assert res.ret != 0
    res.stdout.fnmatch_lines(["INCOMPLETE: worker gw1 went down*", "*DoD squad: FAILED*"])
    dod = json.loads((pytester.path / "fpt-report" / "fpt-dod.json").read_text())
    assert dod["verdict"] == "failed"
    assert any(r.startswith("incomplete: worker gw1 went down") for r in dod["reasons"])


def test_default_distribution_runs_tests_apart_and_merges_one_checklist(pytester: pytest.Pytester) -> None:
    """Plain ``-n 2``: different FPT tests on different workers, one checklist with both runs."""
    pytester.makepyfile(xapp=APP, test_two='''
        import os
        from xapp import app, flow

        def _run(fpt_load, rate):
            r = fpt_load(flow, profile="virtual", target=app, rate=rate, users=4, duration=1, alone=0)
            with open(f"ran-{rate}.txt", "w") as fh:
                fh.write(os.environ["PYTEST_XDIST_WORKER"])

        def test_a(fpt_load):
            _run(fpt_load, 20)

        def test_b(fpt_load):
            _run(fpt_load, 30)
    ''')
    pytester.syspathinsert()
    res = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=2)
    assert {(pytester.path / f"ran-{r}.txt").read_text() for r in (20, 30)} == {"gw0", "gw1"}
    dod = json.loads((pytester.path / "fpt-report" / "fpt-dod.json").read_text())
    assert sorted(r["iterations"] for r in dod["runs"]) == [20, 30]  # not merged: different tests
    assert dod["tests"]["passed"] == 2
    assert dod["incomplete"] == []
    assert res.stdout.str().count("DoD squad:") == 1


def test_live_view_of_workers_reaches_the_terminal(xdist_project: pytest.Pytester) -> None:
    """Worker output never reaches the terminal: the controller shows each worker's progress line."""
    xdist_project.makepyfile(test_slow='''
        from xapp import app, flow

        def test_slow(fpt_load):
            fpt_load(flow, profile="virtual", target=app, rate=8, users=4, duration=5, alone=1)
    ''')
    res = xdist_project.runpytest_subprocess("-n", "2", "--dist", "each", "-p", "no:cacheprovider",
                                             "test_slow.py")
    res.assert_outcomes(passed=2)
    for worker in ("gw0", "gw1"):
        res.stdout.fnmatch_lines([
            f"[[]{worker}[]] fpt test_slow.py::test_slow  alone  0s/5s  *",
            f"[[]{worker}[]] fpt test_slow.py::test_slow  done  5s/5s  *.*/s of 4.0/s  *",
        ], consecutive=False)
    quiet = xdist_project.runpytest_subprocess("-n", "2", "-q", "-p", "no:cacheprovider", "test_x.py")
    assert "[gw0] fpt " not in quiet.stdout.str()


LEAKY_APP = '''
import fpt
from fpt.run.identity import IdentityFactory
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

PEOPLE = IdentityFactory(1)

async def me(request):
    # The member's own email and canary, and the phone of the member four places on: a user of
    # the other worker's slice under --dist each (a service both workers share would do this).
    i = int(request.query_params["i"])
    own, other = PEOPLE.make(i), PEOPLE.make((i + 4) % 8)
    return JSONResponse({"email": own.email, "canary": own.canary, "phone": other.phone})

app = Starlette(routes=[Route("/me", me)])

async def flow(user):
    async with user.step("me"):
        r = await user.http.get("/me", params={"i": user.identity.index})
        fpt.check(r.status_code == 200, "refused")
'''

LEAKY_TEST = '''
import json, os
from leaky import app, flow

def test_load(fpt_load):
    r = fpt_load(flow, profile="virtual", target=app, rate=40, users=8, duration=1, alone=0, check=False)
    out = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"found-{out}.json", "w") as fh:
        json.dump(sorted({f.evidence.get("detector", "") + ":" + ",".join(f.evidence.get("fields", []))
                          for f in r.findings.examples if f.kind == "data_swap"}), fh)
'''


def test_dist_each_finds_personal_data_of_the_other_workers_users(pytester: pytest.Pytester) -> None:
    """Under --dist each every worker knows the other slices' users: their phone in an answer is a swap."""
    pytester.makepyfile(leaky=LEAKY_APP, test_leaky=LEAKY_TEST)
    pytester.syspathinsert()
    res = pytester.runpytest_subprocess("-n", "2", "--dist", "each", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=2)
    found = [json.loads((pytester.path / f"found-gw{i}.json").read_text()) for i in (0, 1)]
    # each worker saw the other slice's phone as that member's (replays asking again find it too)
    assert ["personal_data:phone" in f for f in found] == [True, True]
