"""Attacks on the verdict: each tries to make the checklist green while the service or the run is broken.

One test (or a small family) per way we once made fpt's gate go green: stuck
iterations, probes that were never refused, probes without credentials, data-swap
items with nothing inspected, failed tests and stale files, thresholds that mean
something else, keyword selection, runs that never end, verdict words that mislead.
Each runs a real pytest session (pytester) against a real misbehaving server on
127.0.0.1 (uvicorn or a raw asyncio server), or sends a real signal to a real pytest
process, and asserts red, not evidenced or incomplete. Every one of them passed the
gate on the code before the typed-evidence change (3e3de97).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fpt import cli
from hostile.services import ctrl_c_reaches, drip_server, free_port, orders_app, serve, signal_state

# The misbehaving servers run in threads of this process; what they leave behind when a client
# gives up on them (cancelled handlers, reset connections) is their business, not a test outcome.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning",
                                        "ignore::pytest.PytestUnhandledThreadExceptionWarning")

TESTS = str(Path(__file__).resolve().parents[1])
ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture(autouse=True)
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sessions run as real subprocesses: let them import ``hostile`` (and the repo's ``fpt``)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT]))


@pytest.fixture
def service(request: pytest.FixtureRequest) -> Iterator[str]:
    """The order service in the mode the test is parametrized with (default: correct)."""
    mode = getattr(request, "param", "correct")
    with serve(orders_app(mode)) as url:
        yield url


def session(pytester: pytest.Pytester, body: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run ``body`` as a test module in a fresh pytest session; its outcome and its fpt-dod.json."""
    pytester.makepyfile(test_h=textwrap.dedent(body))
    # A subprocess per session: nothing one attack leaves behind (threads, signal handlers, GC
    # settings) can colour the next one's verdict.
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)
    path = pytester.path / "fpt-report" / "fpt-dod.json"
    return res, json.loads(path.read_text()) if path.exists() else {}


def item(data: dict[str, Any], name: str) -> dict[str, Any]:
    """One checklist item of a written fpt-dod.json."""
    found: dict[str, Any] = next(i for i in data["items"] if i["name"] == name)
    return found


def gate(path: Path, level: str = "squad") -> int:
    """What ``fpt gate FILE --level LEVEL`` exits with."""
    return cli.main(["gate", str(path), "--level", level])


# -- 1. iterations that did not finish are failures ----------------------------------------------------

@pytest.mark.parametrize("service", ["hang"], indirect=True)
def test_iterations_stuck_past_the_grace_are_failures(pytester: pytest.Pytester, service: str) -> None:
    res, data = session(pytester, f"""
        from hostile.flows import order
        def test_stuck(fpt_load):
            fpt_load(order, target="{service}", users=4, rate=4, duration="1500ms", grace="1s", alone=0,
                     probe_share=0)
    """)
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*iterations did not finish within the grace and were cancelled*"])
    assert item(data, "performance.error_rate")["status"] == "failed"
    assert data["verdict"] == "failed"
    assert gate(pytester.path / "fpt-report" / "fpt-dod.json") == 1


def test_a_flow_that_blocks_the_loop_does_not_reach_its_rate(pytester: pytest.Pytester, service: str) -> None:
    start = time.monotonic()
    res, data = session(pytester, f"""
        from hostile.flows import blocks_the_loop
        def test_blocked(fpt_load):
            fpt_load(blocks_the_loop, target="{service}", users=4, rate=4, duration="3s", grace="1s",
                     alone=0, probe_share=0, check=False)
    """)
    elapsed = time.monotonic() - start
    res.assert_outcomes(passed=1)
    run = data["runs"][0]
    assert run["dropped_late"] > 0
    assert run["achieved_rate"] < 4 * 0.95
    assert item(data, "performance.throughput")["status"] == "failed"
    assert elapsed < 30, "the run must end near duration + grace, not after every late iteration"


# -- 2. cross-user probes: only a refusal with working credentials counts ----------------------------------

PROBING = """
    from hostile.flows import order
    def test_probe(fpt_load):
        fpt_load(order, target="{url}", users=6, rate=5, duration="2s", arrivals="rendezvous", burst=3,
                 probe_share=1.0, alone=1, check=False)
"""


@pytest.mark.parametrize("service", ["no_owner_data"], indirect=True)
def test_probes_answered_2xx_are_not_refusals(pytester: pytest.Pytester, service: str) -> None:
    """A 2xx without the owner's data is no refusal, and no leak either (issue 20, rule 12: a finding
    must be proven): unproven, counted and shown; the item is not evidenced (it was failed before)."""
    _, data = session(pytester, PROBING.format(url=service))
    negative = item(data, "data_swap.negative_concurrency")
    assert negative["status"] == "not_evidenced", negative
    assert negative["evidence"]["allowed"] > 0
    assert negative["evidence"]["denied"] == 0


@pytest.mark.parametrize("service", ["error"], indirect=True)
def test_probes_answered_5xx_prove_nothing(pytester: pytest.Pytester, service: str) -> None:
    _, data = session(pytester, PROBING.format(url=service))
    negative = item(data, "data_swap.negative_concurrency")
    assert negative["status"] == "not_evidenced", negative
    assert negative["evidence"]["errors"] > 0


def test_probes_refused_with_working_credentials_pass(pytester: pytest.Pytester, service: str) -> None:
    """The other way: the correct service refuses every probe while the prober's own reads work."""
    _, data = session(pytester, PROBING.format(url=service))
    negative = item(data, "data_swap.negative_concurrency")
    assert negative["status"] == "passed", negative
    assert negative["evidence"]["denied"] > 0


# -- 3. a probe carries the prober's credentials, however the flow sent them ------------------------------

@pytest.mark.parametrize("service", ["bola"], indirect=True)
def test_bola_behind_a_per_request_token_is_caught_and_named(pytester: pytest.Pytester, service: str) -> None:
    res, data = session(pytester, PROBING.format(url=service))
    negative = item(data, "data_swap.negative_concurrency")
    assert negative["status"] == "failed", negative
    assert negative["evidence"]["leaked"] > 0
    # 9. the words say what happened: authorization, not "fails under load (a concurrency bug)"
    res.stdout.fnmatch_lines(["*FAIL data swap: authorization (another user's resource answered*"])
    assert "concurrency bug" not in res.stdout.str()
    assert data["runs"][0]["swap_verdict"] == "authorization"


# -- 4. data-swap items need inspected answers that overlapped ---------------------------------------------

def test_a_port_that_refuses_every_connection_evidences_nothing(pytester: pytest.Pytester) -> None:
    res, data = session(pytester, f"""
        from hostile.flows import order
        def test_refused(fpt_load):
            fpt_load(order, profile="virtual", target="http://127.0.0.1:{free_port()}", users=10, rate=50,
                     duration="1s", arrivals="rendezvous", burst=10, alone=0, check=False)
    """)
    assert item(data, "data_swap.high_traffic_virtual")["status"] == "not_evidenced"
    # Said at once and stopped before any load (issue 21): no run, a failed test, a failed checklist.
    assert data["runs"] == []
    assert data["verdict"] == "failed"
    res.stdout.fnmatch_lines(["*fpt: target not reachable at http://127.0.0.1:* (connection refused)*"])


@pytest.mark.parametrize("service", ["always_500"], indirect=True)
def test_a_run_where_every_answer_is_an_error_evidences_nothing(pytester: pytest.Pytester,
                                                                service: str) -> None:
    _, data = session(pytester, f"""
        from hostile.flows import order
        def test_errors(fpt_load):
            fpt_load(order, target="{service}", users=6, rate=5, duration="2s", arrivals="rendezvous",
                     burst=3, alone=0, check=False)
    """)
    assert item(data, "data_swap.multi_user_live")["status"] == "not_evidenced"


SWAPPING = """
    from hostile.flows import me_unchecked
    def test_swaps(fpt_load):
        fpt_load(me_unchecked, target="{url}", users=6, rate=5, duration="2s", arrivals="rendezvous",
                 burst=3, alone=0, canary_scan={scan}, replay_share={hunt}, cache_probe_share={hunt},
                 connection_share={hunt}, cancel_share=0, probe_share=0, check=False)
"""


@pytest.mark.parametrize("service", ["swap_me"], indirect=True)
def test_with_every_check_off_a_swapping_service_is_not_evidenced(pytester: pytest.Pytester,
                                                                  service: str) -> None:
    _, data = session(pytester, SWAPPING.format(url=service, scan=False, hunt=0))
    live = item(data, "data_swap.multi_user_live")
    assert live["status"] == "not_evidenced", live
    assert "no data-swap check inspected" in live["detail"]


@pytest.mark.parametrize("service", ["swap_me"], indirect=True)
def test_with_the_scan_on_the_same_service_fails(pytester: pytest.Pytester, service: str) -> None:
    _, data = session(pytester, SWAPPING.format(url=service, scan=True, hunt=0))
    assert item(data, "data_swap.multi_user_live")["status"] == "failed"


@pytest.mark.parametrize("service", ["swap_me"], indirect=True)
def test_with_the_scan_off_the_hunting_detectors_still_see_it(pytester: pytest.Pytester,
                                                              service: str) -> None:
    _, data = session(pytester, SWAPPING.format(url=service, scan=False, hunt=0.5))
    assert item(data, "data_swap.multi_user_live")["status"] == "failed"


def test_streamed_answers_are_scanned(pytester: pytest.Pytester, service: str) -> None:
    _, data = session(pytester, f"""
        from hostile.flows import stream_feed
        def test_stream(fpt_load):
            fpt_load(stream_feed, target="{service}", users=6, rate=5, duration="2s", arrivals="rendezvous",
                     burst=3, alone=0, check=False)
    """)
    live = item(data, "data_swap.multi_user_live")
    assert live["status"] == "failed", live
    assert data["runs"][0]["findings"].get("foreign_canary", 0) > 0


# -- 5. failed tests, failing files, stale files, empty levels ---------------------------------------------

MINI = '[tool.fpt.dod]\nlevel = "mini"\nmini = ["suite.executed", "performance.error_rate"]\n'


def test_a_failed_fpt_test_fails_the_checklist(pytester: pytest.Pytester, service: str) -> None:
    pytester.makepyprojecttoml(MINI)
    res, data = session(pytester, f"""
        from hostile.flows import order
        def test_good(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
        def test_bad(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
            assert False, "the squad's own assertion failed"
    """)
    res.assert_outcomes(passed=1, failed=1)
    assert item(data, "suite.executed")["status"] == "passed"
    assert "1 FPT test failed" in data["reasons"]
    assert gate(pytester.path / "fpt-report" / "fpt-dod.json", "mini") == 1


def test_a_failed_explore_test_fails_the_checklist(pytester: pytest.Pytester, service: str) -> None:
    pytester.makepyprojecttoml(MINI)
    res, data = session(pytester, f"""
        import fpt
        from hypothesis import strategies as st
        from hostile.flows import order

        async def write_anything(user, note):
            fpt.check(len(note) < 3, "the service accepted a long note it should refuse")

        def test_load(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
        def test_explore(fpt_load):
            fpt_load.explore(write_anything, st.text(min_size=5), target="{service}", max_examples=3)
    """)
    res.assert_outcomes(passed=1, failed=1)
    assert data["verdict"] == "failed"


def test_the_gate_never_turns_a_failing_file_green_by_merging(pytester: pytest.Pytester, service: str,
                                                             tmp_path: Path) -> None:
    pytester.makepyprojecttoml(MINI)
    good_run = f"""
        from hostile.flows import order
        def test_good(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
    """
    session(pytester, good_run)
    good = tmp_path / "good.json"
    good.write_text((pytester.path / "fpt-report" / "fpt-dod.json").read_text())
    session(pytester, good_run + "\n        def test_bad():\n            assert False\n")
    pytester.makepyfile(test_bad="import pytest\n\n@pytest.mark.fpt\ndef test_bad():\n    assert False\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert res.ret != 0
    bad = tmp_path / "bad.json"
    bad.write_text((pytester.path / "fpt-report" / "fpt-dod.json").read_text())
    assert gate(good, "mini") == 0
    assert gate(bad, "mini") == 1
    assert cli.main(["gate", str(good), str(bad), "--level", "mini"]) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_an_interrupted_session_never_leaves_a_green_file(pytester: pytest.Pytester, service: str,
                                                          sig: signal.Signals) -> None:
    pytester.makepyprojecttoml(MINI)
    pytester.makepyfile(test_quick=f"""
        from hostile.flows import order
        def test_quick(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
    """)
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    subprocess.run([*cmd, "test_quick.py"], cwd=pytester.path, env=env, capture_output=True, timeout=60,
                   check=True)
    report = pytester.path / "fpt-report" / "fpt-dod.json"
    assert gate(report, "mini") == 0  # a green file from an earlier session
    pytester.makepyfile(test_long=f"""
        from hostile.flows import order
        def test_long(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="60s", alone=0)
    """)
    proc = subprocess.Popen(ctrl_c_reaches([*cmd, "test_long.py"]), cwd=pytester.path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while verdict(report) != "failed":  # until the placeholder replaces the earlier file
            assert time.monotonic() < deadline, "the session never replaced the earlier checklist"
            assert proc.poll() is None, proc.communicate()[0].decode()
            time.sleep(0.1)
        time.sleep(1.0)  # well inside the 60 s run
        proc.send_signal(sig)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the session did not end on {sig.name}: {signal_state(proc.pid)}") from None
    finally:
        proc.kill()
    data = json.loads(report.read_text())
    assert data["verdict"] == "failed"
    assert data["incomplete"], data["reasons"]
    assert gate(report, "mini") == 1
    if sig != signal.SIGKILL:
        assert any("interrupted" in r for r in data["incomplete"]), out.decode()


def verdict(report: Path) -> str:
    """The verdict of a checklist file, or why there is none."""
    try:
        return str(json.loads(report.read_text())["verdict"])
    except (OSError, ValueError) as e:
        return type(e).__name__


def test_a_level_without_items_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.fpt.dod]\nlevel = "nothing"\nnothing = []\n')
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*dod.nothing must be a non-empty list of checklist items*"])


# -- 6. thresholds that mean something else are refused; high traffic means the rate ----------------------

@pytest.mark.parametrize("expr", ["errors<1", "p90<800", "throughput>=95"])
def test_thresholds_without_units_are_refused(pytester: pytest.Pytester, expr: str) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--fpt-thresholds={expr}", timeout=60)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines([f"*fpt: thresholds must*got '{expr}'*"])


def test_a_slow_virtual_run_is_not_high_traffic(pytester: pytest.Pytester, service: str) -> None:
    _, data = session(pytester, f"""
        from hostile.flows import order
        def test_slow(fpt_load):
            fpt_load(order, profile="virtual", target="{service}", users=8, rate=3.2, duration="2s",
                     arrivals="rendezvous", burst=4, alone=0)
    """)
    high = item(data, "data_swap.high_traffic_virtual")
    assert high["status"] == "not_evidenced", high
    assert "high-traffic rate of 50/s" in high["detail"]


# -- 7. a test is an FPT test by its marker, not by a directory name --------------------------------------

def test_a_checkout_named_fpt_does_not_make_every_test_an_fpt_test(pytester: pytest.Pytester) -> None:
    pytester.mkdir("fpt")
    (pytester.path / "fpt" / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "fpt")
    assert res.ret == pytest.ExitCode.OK
    assert "Definition of Done" not in res.stdout.str()
    assert not (pytester.path / "fpt-report" / "fpt-dod.json").exists()


# -- 8. every run ends, with a report ----------------------------------------------------------------------

def test_a_flow_that_never_returns_alone_fails_within_the_grace(pytester: pytest.Pytester,
                                                                service: str) -> None:
    start = time.monotonic()
    res, data = session(pytester, f"""
        from hostile.flows import hangs
        def test_hangs(fpt_load):
            fpt_load(hangs, target="{service}", users=2, rate=2, duration="1s", grace="1s", alone=1)
    """)
    res.assert_outcomes(failed=1)
    assert item(data, "functional.single_user")["status"] == "failed"
    assert time.monotonic() - start < 30


def test_a_server_that_drips_is_a_timeout(pytester: pytest.Pytester) -> None:
    with drip_server() as url:
        start = time.monotonic()
        res, data = session(pytester, f"""
            from hostile.flows import get_root
            def test_drip(fpt_load):
                fpt_load(get_root, target="{url}", users=2, rate=2, duration="1s", grace="1s", alone=1,
                         request_deadline="1s")
        """)
        assert time.monotonic() - start < 30
    res.assert_outcomes(failed=1)
    assert item(data, "functional.single_user")["status"] == "failed"
    assert data["verdict"] == "failed"


def test_an_absurd_rate_is_dropped_not_walked(pytester: pytest.Pytester) -> None:
    start = time.monotonic()
    res, data = session(pytester, """
        from hostile.services import orders_app
        async def nothing(user):
            pass
        def test_absurd(fpt_load):
            fpt_load(nothing, profile="virtual", target=orders_app(), users=2, rate=1e9, duration="1s",
                     alone=0, check=False)
    """)
    assert time.monotonic() - start < 30
    res.assert_outcomes(passed=1)
    assert data["runs"][0]["dropped"] > 1_000_000
    assert item(data, "performance.throughput")["status"] == "failed"


@pytest.mark.parametrize(("call", "message"), [
    ("users=10**9", "*users must be a whole number from 1 to 1,000,000*"),
    ("thresholds=None", "*thresholds must be a list of strings*"),
    ('events="20s"', "*events must be a list of events*"),
])
def test_absurd_arguments_are_clear_failures(pytester: pytest.Pytester, call: str, message: str) -> None:
    res, _ = session(pytester, f"""
        from hostile.services import orders_app
        async def nothing(user):
            pass
        def test_absurd(fpt_load):
            fpt_load(nothing, profile="virtual", target=orders_app(), duration="1s", {call})
    """)
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines([message])
    assert "Traceback" not in res.stdout.str()


# -- 9. verdict words: a cache seen without concurrency is not a concurrency bug --------------------------

@pytest.mark.parametrize("service", ["cache_me"], indirect=True)
def test_a_cache_without_concurrency_is_named_a_cache(pytester: pytest.Pytester, service: str) -> None:
    res, data = session(pytester, f"""
        from hostile.flows import order
        def test_cache(fpt_load):
            fpt_load(order, target="{service}", users=3, rate=2, duration="2s", alone=0, probe_share=0,
                     arrivals="uniform", replay_share=0, cache_probe_share=0, cancel_share=0, check=False)
    """)
    assert data["runs"][0]["swap_verdict"] == "cache_shared_state"
    res.stdout.fnmatch_lines(["*FAIL data swap: cache/shared state*"])
    assert item(data, "data_swap.multi_user_live")["status"] == "failed"
