"""Stress, spike, soak and volume, judged: each fires on a demo service with the bug, quiet on a correct one.

The stair and recovery logic is tested on hand-built per-second metrics (no clock,
no HTTP); the verdicts end to end against the demo service (in-process for stress,
spike and volume, a real uvicorn process for the service's memory).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import fpt
from fpt.config.errors import ConfigError
from fpt.config.settings import FptConfig
from fpt.config.thresholds import parse_threshold, parse_thresholds
from fpt.demo import create_app
from fpt.demo.server import Server, serve
from fpt.evidence.metrics import Metrics
from fpt.evidence.result import RunResult
from fpt.judge.dod.evaluate import evaluate
from fpt.judge.loadtypes import judge_stress, spike_errors_ok, spike_evidenced, spike_passed, stairs
from fpt.judge.loadtypes import recovered as came_back
from fpt.judge.merge import merge_results
from fpt.judge.thresholds import measure
from fpt.load import LoadRunner
from fpt.report.checklist import detail
from fpt.report.loadtypes import breach_words, first_step_words
from fpt.report.problems import failures
from fpt.report.thresholds import threshold_words
from fpt.run.runner import Run
from fpt.run.shapes import constant
from suites.flows import sign_in

# The data-swap hunting detectors send requests of their own: off here, where the demo's capacity
# (25 requests a second) is what the stress and spike verdicts measure.
FAST: dict[str, Any] = {"profile": "virtual", "alone": 0, "probe_share": 0, "check": False,
                        "replay_share": 0, "cache_probe_share": 0, "cancel_share": 0,
                        "connection_share": 0}


async def health(user: fpt.User) -> None:
    """One request per iteration: the overload bugs count requests."""
    async with user.step("health"):
        await user.http.get("/health")


def run(flow: Any, cfg: FptConfig | None = None, **kwargs: Any) -> tuple[RunResult, list[RunResult]]:
    recorded: list[RunResult] = []
    runner = LoadRunner(cfg or FptConfig(), name="t", marker={}, record=recorded.append)
    return runner(flow, **kwargs), recorded


def item(results: Sequence[RunResult], name: str) -> tuple[str, str]:
    outcome = evaluate(results, level="release").item(name)
    return outcome.status, detail(outcome)


# -- the stair logic, on plain data -----------------------------------------------------------------


def seconds(m: Metrics, sec: int, n: int, latency_ms: float, errors: int = 0) -> None:
    for k in range(n):
        m.iteration(sec + (k + 0.5) / n, latency_ms * 1000, "http" if k < errors else None)


TH = parse_thresholds(["p90<100ms", "errors<5%"])


def test_stairs_stop_at_the_first_broken_one_and_say_how() -> None:
    m = Metrics()
    seconds(m, 0, 10, 5)
    seconds(m, 1, 20, 5)
    seconds(m, 2, 30, 400, errors=6)  # latency and errors break together
    seconds(m, 3, 40, 5)  # never judged: the run stopped at the broken stair
    steps = stairs(m, [10, 20, 30, 40], 1.0, TH, until=4)
    assert [s.rate for s in steps] == [10, 20, 30]
    assert [bool(s.broke) for s in steps] == [False, False, True]
    assert any(h.startswith("latency: p90<100ms") for h in map(breach_words, steps[2].broke))
    assert any(h.startswith("errors: errors<5% measured 20.00%") for h in map(breach_words, steps[2].broke))
    # Iterations short of the rate are drops, when throughput is a threshold.
    m2 = Metrics()
    seconds(m2, 0, 10, 5)
    seconds(m2, 1, 8, 5)
    dropped = stairs(m2, [10, 20], 1.0, parse_thresholds(["throughput>=90%"]), until=2)
    assert tuple(map(breach_words, dropped[-1].broke)) == ("drops: throughput>=90% measured 40.00%",)


@pytest.mark.parametrize(("recovery", "after", "recovered"), [
    ([400, 400, 5, 5, 5, 5], 2.0, True),   # two bad seconds, then back: within 3s
    ([400, 400, 400, 400, 5, 5], 4.0, False),  # back, but after the limit
    ([400] * 6, None, False),  # never back
])
def test_recovery_is_the_first_run_of_good_seconds(recovery: list[float], after: float | None,
                                                   recovered: bool) -> None:
    m = Metrics()
    seconds(m, 0, 10, 5)
    seconds(m, 1, 20, 500)
    for k, latency in enumerate(recovery):
        seconds(m, 2 + k, 10, latency)
    ev = judge_stress(m, stairs(m, [10, 20], 1.0, TH, until=2), TH, recovery_rate=10, recovery_start=2.0,
                      recovery_end=8.0, recovery_within=3.0)
    assert (ev.held_rate, ev.broke_rate, ev.recovered_after, came_back(ev)) == (10, 20, after, recovered)
    assert StressRoundTrip.same(ev)


def test_a_break_without_a_watched_recovery_shows_nothing() -> None:
    m = Metrics()
    seconds(m, 0, 10, 500)
    ev = judge_stress(m, stairs(m, [10, 20], 1.0, TH, until=1), TH, recovery_rate=5, recovery_start=1.0,
                      recovery_end=4.0, recovery_within=3.0)
    assert ev.held_rate is None
    assert ev.broke_rate == 10
    assert came_back(ev) is None  # the window finished nothing: not a pass, not a fail
    status, detail = item([_result(stress=ev)], "performance.stress_recovery")
    assert status == "not_evidenced"
    assert "recovery not observed" in detail


def test_the_run_stops_at_the_first_broken_stair_on_its_tick() -> None:
    # The tick-driven decision on plain data: no clock, no HTTP (the flow never runs).
    r = Run(health, cfg=FptConfig(alone=0), shape=fpt.step_up(10, 10, "2s", steps=4), duration=8,
            target=create_app(), thresholds=TH, name="t", step_every=2.0)
    seconds(r.ctx.metrics, 0, 10, 5)
    seconds(r.ctx.metrics, 1, 10, 5)
    seconds(r.ctx.metrics, 2, 20, 5)
    seconds(r.ctx.metrics, 3, 20, 300)  # the second stair's p90 breaks over its two seconds
    r._check_stair(1.5)
    assert (r._stair_checked, r._broke_at) == (0, None)  # the first stair has not finished
    r._check_stair(2.01)
    assert (r._stair_checked, r._broke_at) == (1, None)
    r._check_stair(4.0)
    assert (r._stair_checked, r._broke_at) == (2, 20.0)
    assert r._stop()
    r._check_stair(8.0)
    assert r._stair_checked == 2  # nothing judged after the break
    assert r.stair_rates() == [10, 20, 30, 40]


def test_a_stair_where_nothing_came_back_broke() -> None:
    m = Metrics()
    seconds(m, 0, 10, 5)  # the second stair hangs: nothing finishes in it
    steps = stairs(m, [10, 20], 1.0, TH, until=2)
    assert tuple(map(breach_words, steps[-1].broke)) == ("drops: no iteration finished within the stair",)


def test_a_service_that_exited_shows_no_memory_trend() -> None:
    from fpt.evidence.resources import ResourceSample, ResourceSeries

    samples = tuple(ResourceSample(t=float(t), rss_bytes=50_000_000 + t) for t in range(90))
    gone = ResourceSeries(source="pid:9", samples=(*samples, ResourceSample(t=90.0)), gone_at=90.0)
    r = dataclasses.replace(_result(), resources=(gone,))
    outcome = measure(r, parse_threshold("service_rss_growth<10%"))
    assert outcome.measured is None
    assert "pid:9 exited at 90s" in threshold_words(outcome)
    flat = dataclasses.replace(gone, samples=samples, gone_at=None)
    assert measure(dataclasses.replace(r, resources=(flat,)),
                   parse_threshold("service_rss_growth<10%")).passed


class StressRoundTrip:
    @staticmethod
    def same(ev: Any) -> bool:
        from fpt.evidence.loadtypes import StressEvidence

        return bool(StressEvidence.from_dict(json.loads(json.dumps(ev.to_dict()))) == ev)


def _result(**load: Any) -> RunResult:
    from fpt.config.hist import Histogram
    from fpt.evidence.engine import EngineStats
    from fpt.evidence.findings import FindingLog
    from fpt.evidence.loadtypes import LoadEvidence

    engine = EngineStats(planned=1, started=1, completed=1, crashed=0, dropped_no_user=0, dropped_cap=0,
                         cancelled=0, dropped_late=0, window=1.0, elapsed=1.0, peak_inflight=1,
                         mean_inflight=1.0, overlapped_starts=0, lateness=Histogram())
    return RunResult(name="t", flow="f", profile="virtual", target="x", shape="s", target_rate=1.0,
                     duration=1.0, users=1, seed=1, arrivals="uniform", engine=engine, metrics=Metrics(),
                     findings=FindingLog(), load=LoadEvidence(**load))


# -- stress and spike against the demo --------------------------------------------------------------


@pytest.mark.parametrize(("bugs", "recovered", "status"), [
    (["degrade_over_rate"], True, "passed"),
    (["no_recovery"], False, "failed"),
    ([], None, "not_evidenced"),  # held every stair: no breaking point, nothing to recover from
])
def test_stress_breaks_then_judges_recovery(bugs: list[str], recovered: bool | None, status: str) -> None:
    # The demo's overload bugs take 25 requests a second: the stair at 30/s breaks.
    r, _ = run(health, target=create_app(bugs=bugs), users=20, rate=fpt.step_up(10, 10, "1s", steps=4),
               thresholds=["p90<100ms", "errors<1%"], recovery_within="2s", **FAST)
    stress = r.load.stress
    assert stress is not None
    assert came_back(stress) is recovered
    if bugs:
        # 25 requests a second: the 30/s stair breaks (on a busy machine a burst may break 20/s)
        assert stress.broke_rate in (20, 30)
        assert stress.held_rate == stress.broke_rate - 10
        assert any(h.startswith("errors:") for h in map(breach_words, stress.how))
        assert stress.first_step is not None
        assert first_step_words(stress.first_step).startswith("health: ")  # the step that broke, named
        assert stress.recovery_rate == stress.held_rate
        assert stress.recovery_iterations > 0
    else:
        assert stress.broke_rate is None
        assert [s.rate for s in stress.stairs] == [10, 20, 30, 40]
    # The thresholds speak for the stairs that held; recovery decides the run.
    assert all(t.passed for t in r.thresholds), r.thresholds
    assert bool(failures(r)) is (recovered is False)
    # Merged from two workers (`--dist each`), the thresholds are judged again the same way.
    merged = merge_results([r, dataclasses.replace(r, worker="gw1")])
    assert all(t.passed for t in merged.thresholds), merged.thresholds
    assert merged.load.stress is not None
    assert came_back(merged.load.stress) is recovered
    assert item([r], "performance.stress_recovery")[0] == status


@pytest.mark.parametrize(("bugs", "passed"), [(["no_recovery"], False), ([], True)])
def test_spike_judges_errors_during_and_the_way_back(bugs: list[str], passed: bool) -> None:
    r, _ = run(health, target=create_app(bugs=bugs), users=30, rate=fpt.spike(10, 40, at="1s", hold="1s",
                                                                              after="3s"),
               thresholds=["errors<1%"], recovery_within="2s", **FAST)
    spike = r.load.spike
    assert spike is not None
    assert spike_evidenced(spike)
    assert spike_passed(spike) is passed
    if not passed:
        assert not spike_errors_ok(spike)
        assert spike.back_after is None
        assert any("NOT back to baseline" in f for f in failures(r))
    assert item([r], "performance.spike")[0] == ("passed" if passed else "failed")


# -- soak: the service's own memory, under uvicorn --------------------------------------------------


@pytest.fixture(params=[["leak"], []], ids=["leak", "clean"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with serve(bugs=request.param) as s:
        yield s


def test_soak_judges_the_service_memory_not_fpts(server: Server) -> None:
    leaking = "leak" in server.env["FPT_DEMO_BUGS"]
    # Compressed time: 150 requests a second for 5 s (the leak keeps 64 KiB a request).
    r, _ = run(health, target=server.base_url, profile="live", allow_rate=True, rate=150, duration="5s",
               users=20, alone=0, probe_share=0, thresholds=["service_rss_growth<10%"], soak_min_span="3s",
               service_pid=server.pid, check=False)
    sources = [s.source for s in r.resources]
    assert sources == [f"pid:{server.pid}", "fpt"]
    service, own = r.resources
    assert len(service.samples) >= 4
    assert service.rss_end
    assert own.rss_end
    (outcome,) = [t for t in r.thresholds if t.expr == "service_rss_growth<10%"]
    assert outcome.measured is not None
    assert outcome.passed is not leaking, threshold_words(outcome)
    status, _ = item([r], "performance.soak_memory")
    assert status == ("failed" if leaking else "passed")
    # The same samples, judged against a longer minimum span: not evidenced, never passed.
    short = dataclasses.replace(r, thresholds=(), load=dataclasses.replace(r.load, soak_min_span=60.0))
    status, detail = item([short], "performance.soak_memory")
    assert status == "not_evidenced"
    assert "under soak_min_span (60s)" in detail
    assert measure(short, parse_threshold("service_rss_growth<10%")).measured is None
    # Across workers the one service is one series, each second counted once.
    merged = merge_results([r, dataclasses.replace(r, worker="gw1")])
    assert [len(s.samples) for s in merged.resources] == [len(s.samples) for s in r.resources]
    back = RunResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.resources == r.resources
    assert back.load == r.load


def test_no_service_sampled_is_not_evidenced() -> None:
    r, _ = run(health, target=create_app(), users=5, rate=20, duration="1s", **FAST)
    assert [s.source for s in r.resources] == ["fpt"]  # fpt's own process is always watched
    status, detail = item([r], "performance.soak_memory")
    assert status == "not_evidenced"
    assert detail.startswith("no run sampled the service's memory")


def test_a_remote_service_is_sampled_through_its_metrics_url() -> None:
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    registry = CollectorRegistry()
    rss = Gauge("svc_rss", "rss", registry=registry)
    rss.set(100 * 2**20)
    httpd, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{httpd.server_port}/metrics"
    try:
        # Session-level keys, as from [tool.fpt]: the squad names the endpoint and its metric.
        cfg = FptConfig(metrics_url=url, metrics_rss="svc_rss")
        r, _ = run(health, cfg, target=create_app(), users=5, rate=20, duration="3s",
                   thresholds=["service_rss_growth<10%"], soak_min_span="1s", **FAST)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
    service = r.resources[0]
    assert service.source == url
    assert service.rss_end == 100 * 2**20
    assert service.cpu_mean is None  # no CPU counter on that page: unknown, not zero
    growth = next(t for t in r.thresholds if t.expr == "service_rss_growth<10%")
    assert growth.measured == pytest.approx(0.0)
    assert growth.passed


def test_a_metrics_url_off_the_perimeter_is_refused_before_the_run() -> None:
    cfg = FptConfig(metrics_url="http://user:secret@metrics.example.com/metrics", alone=0)
    with pytest.raises(ConfigError, match=r"metrics_url must point at an allowed host") as caught:
        run(health, cfg, target=create_app(), **FAST)
    assert "secret" not in str(caught.value)
    # The runner refuses it too, whoever builds a Run without the config's validation.
    with pytest.raises(ConfigError, match=r"resources scrape URL.*allowlist"):
        Run(health, cfg=cfg, shape=constant(1), duration=1, target=create_app(), thresholds=(), name="t")


# -- volume --------------------------------------------------------------------------------------------


async def seed_records(user: fpt.User, n: int) -> None:
    """The squad's seeding: log in, then bulk-import n records."""
    assert await sign_in(user)
    r = await user.http.post("/records", json={"count": n})
    assert r.status_code == 201, r.text


async def latest(user: fpt.User) -> None:
    if not await sign_in(user):
        return
    async with user.step("latest"):
        r = await user.http.get("/records/latest")
        fpt.check(r.status_code == 200, f"latest refused ({r.status_code})")


@pytest.mark.parametrize(("bugs", "status"), [(["volume_scan"], "failed"), ([], "passed")])
def test_volume_growth_per_step(bugs: list[str], status: str) -> None:
    # The scan bug grows p90 by 1,500-2,300% here (a 20us read per record of 5,000); the correct
    # service by -40..+3% idle and up to 103% on a busy 2-core machine (p90 of a sub-10ms answer
    # is noise there). 400% sits 4x above the worst noise seen and 4x below the bug.
    r, recorded = run(latest, target=create_app(bugs=bugs), users=10, rate=20, duration="2s",
                      thresholds=["errors<1%", "latest:volume_p90_growth<400%"],
                      seed_volume=(seed_records, [0, 500]), **FAST)
    vol = r.load.volume
    assert vol is not None
    assert [(s.volume, s.seeded_users, s.seed_failures) for s in vol.steps] == [
        (0, 0, 0), (500, 10, 0)]
    assert len(recorded) == 2  # each volume's run is recorded
    growth = r.thresholds[-1]
    assert growth.measured is not None
    assert growth.passed is (status == "passed"), threshold_words(growth)
    assert item(recorded, "performance.volume")[0] == status


def test_a_failed_seeding_shows_no_volume_growth() -> None:
    async def broken_seed(user: fpt.User, n: int) -> None:
        raise RuntimeError("bulk import is down")

    r, recorded = run(latest, target=create_app(), users=3, rate=10, duration="1s",
                      thresholds=["volume_p90_growth<50%"], seed_volume=(broken_seed, [0, 10]), **FAST)
    growth = next(t for t in r.thresholds if t.expr == "volume_p90_growth<50%")
    assert growth.measured is None
    assert "seeding 10 failed for 3 users, e.g. " in threshold_words(growth)
    assert "RuntimeError: bulk import is down" in threshold_words(growth)
    assert item(recorded, "performance.volume")[0] == "not_evidenced"


def test_bad_volume_and_growth_thresholds_are_refused() -> None:
    with pytest.raises(ConfigError, match="seed_volume"):
        run(latest, target=create_app(), seed_volume=(seed_records, [100, 0]), **FAST)
    for bad in ("service_rss_growth<10", "login:service_rss_growth<10%", "volume_p90_growth<50ms"):
        with pytest.raises(ValueError, match="ratios need %"):
            parse_threshold(bad)
    assert parse_threshold("list:volume_p90_growth<50%").limit == pytest.approx(0.5)
    with pytest.raises(ConfigError, match=r"service_pids must be a list of process ids.*'12,abc'"):
        FptConfig().with_values({"service_pids": "12,abc"}, "test")
    with pytest.raises(ConfigError, match="metrics_url must be an http"):
        FptConfig().with_values({"metrics_url": "ftp://x/metrics"}, "test")
    assert FptConfig().with_values({"service_pids": "12, 34"}, "test").service_pids == (12, 34)


def test_workers_stress_evidence_merges_to_the_worst() -> None:
    from fpt.evidence.loadtypes import LoadEvidence
    from fpt.judge.loadtypes import merge_load

    m = Metrics()
    seconds(m, 0, 10, 5)
    seconds(m, 1, 20, 500)
    for k in range(4):
        seconds(m, 2 + k, 10, 5)
    steps = stairs(m, [5, 10], 1.0, TH, until=2)
    ok = judge_stress(m, steps, TH, recovery_rate=5, recovery_start=2.0, recovery_end=6.0,
                      recovery_within=3.0)
    stuck = dataclasses.replace(ok, recovered_after=None)
    merged = merge_load([LoadEvidence(stress=ok), LoadEvidence(stress=stuck)]).stress
    assert merged is not None
    assert came_back(merged) is False  # one worker's service never came back: not a pass
    assert (merged.held_rate, merged.broke_rate, merged.recovery_rate) == (10, 20, 10)


# -- wired into a pytest session: the run summary and fpt-dod.json -----------------------------------

SESSION = '''
import pytest
from fpt.demo.server import serve

@pytest.fixture(scope="module")
def server():
    with serve() as s:
        yield s

async def health(user):
    async with user.step("health"):
        await user.http.get("/health")

def test_live(fpt_load, server):
    fpt_load(health, target=server.base_url, users=5, rate=5, duration="3s", alone=0, probe_share=0,
             service_pid=server.pid)
'''


def test_resources_reach_the_summary_and_the_checklist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_session=SESSION)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*resources: pid:* RSS *MiB -> *MiB*CPU mean*fds max*; fpt's own RSS *"])
    data = json.loads((pytester.path / "fpt-report" / "fpt-dod.json").read_text())
    (run_ev,) = data["runs"]
    roles = {r["role"]: r for r in run_ev["resources"]}
    assert set(roles) == {"service", "fpt"}
    assert roles["service"]["source"].startswith("pid:")
    assert roles["service"]["samples"] >= 2
    assert roles["service"]["rss_end"] > 0
    soak = next(i for i in data["items"] if i["name"] == "performance.soak_memory")
    assert soak["status"] == "not_evidenced"
    assert "under soak_min_span" in soak["detail"]
