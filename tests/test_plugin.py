"""The plugin as a user runs it, through pytester."""

from __future__ import annotations

import pytest

APP = '''
import fpt
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def hello(request):
    return JSONResponse({"hello": "world"})

async def boom(request):
    return JSONResponse({"error": "down"}, status_code=500)

app = Starlette(routes=[Route("/", hello), Route("/boom", boom)])

async def ok_flow(user):
    async with user.step("hello"):
        r = await user.http.get("/")
        fpt.check(r.status_code == 200, "hello refused")

async def checked_flow(user):
    async with user.step("hello"):
        r = await user.http.get("/")
        fpt.check(r.json().get("hello") == "moon", "greeting is not moon")
'''


@pytest.fixture
def app_module(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(demoapp=APP)
    pytester.syspathinsert()
    return pytester


def test_help_lists_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines([
        "*functional performance testing*",
        "*--fpt-base-url=BASE_URL*",
        "*--fpt-profile=PROFILE*",
        "*--fpt-rate=RATE*",
        "*--fpt-users=USERS*",
        "*--fpt-duration=DURATION*",
        "*--fpt-seed=SEED*",
        "*--fpt-report-dir=REPORT_DIR*",
        "*fpt_rate*",
    ])


def test_marker_selection(app_module: pytest.Pytester) -> None:
    app_module.makepyfile(test_sel='''
        from demoapp import app, ok_flow

        def test_load(fpt_load):
            fpt_load(ok_flow, profile="virtual", target=app, rate=20, users=4, duration=0.5)

        def test_plain():
            pass
    ''')
    res = app_module.runpytest("-m", "fpt")
    res.assert_outcomes(passed=1, deselected=1)
    res = app_module.runpytest("-m", "not fpt")
    res.assert_outcomes(passed=1, deselected=1)
    res = app_module.runpytest("-m", "fpt", "--strict-markers")
    res.stdout.fnmatch_lines(["*fpt summary*", "*hello*", "*(flow)*"])


def test_summary_table_has_steps_and_percentiles(app_module: pytest.Pytester) -> None:
    app_module.makepyfile(test_sum='''
        from demoapp import app, ok_flow

        def test_load(fpt_load):
            r = fpt_load(ok_flow, profile="virtual", target=app, rate=40, users=4, duration=0.5)
            assert r.engine.started == 20
            assert r.metrics.steps["hello"].count == 20
    ''')
    res = app_module.runpytest()
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines([
        "*rate 40.00/s achieved of 40.00/s*",
        "*step*count*err %*p50 ms*p90 ms*p95 ms*p99 ms*max ms*rate /s*",
        "*hello*20*0.0*",
        "*(flow) = whole iterations of the flow; (requests) = every HTTP request*",
    ])


PRECEDENCE_TEST = '''
def test_cfg(fpt_config):
    print("RATE", fpt_config.rate, fpt_config.sources.get("rate"))
    print("USERS", fpt_config.users, fpt_config.sources.get("users"))
'''


def test_precedence_cli_over_env_over_ini_over_pyproject(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyprojecttoml('''
        [tool.fpt]
        rate = 1
        users = 2
        [tool.pytest.ini_options]
        fpt_rate = "3"
    ''')
    pytester.makepyfile(test_p=PRECEDENCE_TEST)
    res = pytester.runpytest("-s")
    res.stdout.fnmatch_lines(["*RATE 3.0 pytest ini", "USERS 2 [[]tool.fpt[]] in pyproject.toml"])
    monkeypatch.setenv("FPT_RATE", "4")
    res = pytester.runpytest("-s")
    res.stdout.fnmatch_lines(["*RATE 4.0 environment"])
    res = pytester.runpytest("-s", "--fpt-rate", "5")
    res.stdout.fnmatch_lines(["*RATE 5.0 command line"])


def test_marker_and_call_override_config(app_module: pytest.Pytester) -> None:
    app_module.makepyfile(test_m='''
        import pytest
        from demoapp import app, ok_flow

        @pytest.mark.fpt(users=3, duration=0.5)
        def test_load(fpt_load):
            r = fpt_load(ok_flow, profile="virtual", target=app, rate=10)
            assert r.users == 3
            assert r.duration == 0.5
            r = fpt_load(ok_flow, profile="virtual", target=app, rate=10, users=2)
            assert r.users == 2
    ''')
    app_module.runpytest("--fpt-users", "9").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("where", "args", "message"),
    [
        ("pyproject", "duration = 'fast'",
         "*fpt: duration must look like 30s, 2m, 500ms or 90 (seconds); got 'fast' "
         "(from [[]tool.fpt[]] in pyproject.toml)*"),
        ("pyproject", "colour = 'blue'", "*fpt: colour must be one of the known keys*"),
        ("cli", "--fpt-users=0", "*fpt: users must be a whole number from 1 to 1,000,000; got '0' "
         "(from command line)*"),
        ("cli", "--fpt-rate=-3", "*fpt: rate must be a number > 0*got '-3'*"),
        ("cli", "--fpt-profile=prod", "*fpt: profile must be one of live, virtual; got 'prod'*"),
        ("cli", "--fpt-base-url=localhost:80", "*fpt: base_url must be an http(s) URL*"),
        ("cli", "--fpt-http-transport=h2", "*fpt: http_transport must be fast or httpx; got 'h2'*"),
        ("cli", "--fpt-thresholds=p90 under 3", "*fpt: thresholds must be a list of limits that look like*"
         "got 'p90 under 3' (from command line)*"),
        ("cli", "--fpt-thresholds=errors<1", "*fpt: thresholds must*ratios need %*got 'errors<1'*"),
        ("cli", "--fpt-thresholds=p90<800", "*fpt: thresholds must*latencies need a unit*got 'p90<800'*"),
        ("cli", "--fpt-users=1000000000", "*fpt: users must be a whole number from 1 to 1,000,000*"),
        ("env", "FPT_SEED=abc", "*fpt: seed must be a whole number; got 'abc' (from environment)*"),
        ("ini", "fpt_arrivals = 'bunched'", "*fpt: arrivals must be one of uniform, poisson, rendezvous*"
         "(from pytest ini)*"),
    ],
)
def test_bad_config_is_a_usage_error_without_traceback(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, where: str, args: str,
        message: str) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    cli: list[str] = []
    if where == "pyproject":
        pytester.makepyprojecttoml(f"[tool.fpt]\n{args}\n")
    elif where == "ini":
        pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\n{args}\n")
    elif where == "env":
        k, v = args.split("=", 1)
        monkeypatch.setenv(k, v)
    else:
        cli = [args]
    res = pytester.runpytest(*cli)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines([message])
    assert "Traceback" not in res.stderr.str()
    assert "Traceback" not in res.stdout.str()


def test_bad_fpt_load_argument_fails_cleanly(app_module: pytest.Pytester) -> None:
    app_module.makepyfile(test_bad='''
        from demoapp import app, ok_flow

        def test_bad_duration(fpt_load):
            fpt_load(ok_flow, profile="virtual", target=app, duration="soon")

        def test_bad_threshold(fpt_load):
            fpt_load(ok_flow, profile="virtual", target=app, duration=0.2, thresholds=["p90 < fast"])

        def test_unknown_kwarg(fpt_load):
            fpt_load(ok_flow, profile="virtual", target=app, speed=3)

        def test_live_needs_url(fpt_load):
            fpt_load(ok_flow, profile="live", target=app)

        def test_no_target(fpt_load):
            fpt_load(ok_flow, profile="live")
    ''')
    res = app_module.runpytest()
    res.assert_outcomes(failed=5)
    res.stdout.fnmatch_lines([
        "*fpt: duration must look like 30s*got 'soon' (from fpt_load())*",
        "*fpt: thresholds must look like p90<800ms*got 'p90 < fast'*",
        "*fpt: speed must not be passed: fpt_load takes*",
        "*fpt: target must be a base URL with the live profile*",
        "*fpt: base_url must be set: pass target= to fpt_load*",
    ])
    assert "Traceback" not in res.stdout.str()


def test_failed_check_raises_fpt_failure_with_summary(app_module: pytest.Pytester) -> None:
    app_module.makepyfile(test_fail='''
        import fpt
        import pytest
        from demoapp import app, checked_flow

        def test_checked(fpt_load):
            fpt_load(checked_flow, profile="virtual", target=app, rate=20, users=2, duration=0.5)

        def test_unchecked(fpt_load):
            r = fpt_load(checked_flow, profile="virtual", target=app, rate=20, users=2,
                         duration=0.5, check=False)
            assert r.findings.counts["functional"] == 10
            with pytest.raises(fpt.FptFailure):
                fpt_load(checked_flow, profile="virtual", target=app, rate=20, users=2, duration=0.5)
    ''')
    res = app_module.runpytest("-rf")
    res.assert_outcomes(failed=1, passed=1)
    res.stdout.fnmatch_lines([
        "*FptFailure: fpt: checked_flow: fails alone, 10 functional, 1 threshold failed",
        "*(virtual, 20.0/s of 20.0/s, 10 iterations, 2 users, rendezvous arrivals)",
        "*errors<1%: measured 100.00% FAILED",
        "*10 functional findings, 2 users among the 10 kept",
        "*e.g. [[]functional[]] greeting is not moon in step 'hello' — user#0 *(at *s)",
        "*e.g. [[]functional[]] greeting is not moon in step 'hello' — user#1 *",
        "*fails for one user alone (a functional bug, not a concurrency one): *greeting is not moon*",
        "*reproduce: pytest 'test_fail.py::test_checked' --fpt-seed * 2 users, 20/s, 0.5s, profile virtual)",
    ])
    # pytest's one-line summary shows fpt's first line, not the exception's dotted name before it.
    res.stdout.fnmatch_lines(["FAILED test_fail.py::test_checked - fpt: checked_flow: fails alone*"])
    # The test's own line, then the verdict: no event-loop frames, no chained exception.
    out = res.stdout.str()
    assert "runners.py" not in out
    assert "loop.pyx" not in out
    assert "During handling" not in out
    assert "direct cause" not in out


def test_thresholds_fail_on_status_errors(app_module: pytest.Pytester) -> None:
    app_module.makepyfile(test_thr='''
        import fpt

        from demoapp import app

        async def boom_flow(user):
            async with user.step("boom"):
                await user.http.get("/boom")

        def test_boom(fpt_load):
            fpt_load(boom_flow, profile="virtual", target=app, rate=20, users=2, duration=0.5,
                     thresholds=["boom:errors<5%", "p99<10s"])
    ''')
    res = app_module.runpytest()
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*boom:errors<5%: measured 100.00% FAILED*"])


def test_async_test_uses_arun(app_module: pytest.Pytester) -> None:
    app_module.makepyfile(test_async='''
        import asyncio
        import pytest
        from demoapp import app, ok_flow

        def test_async(fpt_load):
            async def main():
                return await fpt_load.arun(ok_flow, profile="virtual", target=app, rate=20,
                                           users=2, duration=0.5)
            r = asyncio.run(main())
            assert r.engine.started == 10

        def test_sync_call_in_loop_is_refused(fpt_load):
            async def main():
                fpt_load(ok_flow, profile="virtual", target=app)
            asyncio.run(main())
    ''')
    res = app_module.runpytest()
    res.assert_outcomes(passed=1, failed=1)
    res.stdout.fnmatch_lines(["*be awaited as `await fpt_load.arun(...)`*"])


def test_live_ceiling_and_allowlist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_live='''
        async def flow(user):
            raise AssertionError("no request may be sent")

        def test_ceiling(fpt_load):
            fpt_load(flow, profile="live", target="http://127.0.0.1:9", rate=20)

        def test_allowlist(fpt_load):
            fpt_load(flow, profile="live", target="http://example.com", rate=1)
    ''')
    res = pytester.runpytest()
    res.assert_outcomes(failed=2)
    res.stdout.fnmatch_lines([
        "*fpt: rate must be <= 5/s with the live profile unless raised explicitly (--fpt-allow-rate*",
        "*fpt: base_url must point at an allowed live host (127.0.0.1, localhost, ::1)*",
    ])


def test_progress_lines_show_past_capture_while_long_runs_last(app_module: pytest.Pytester) -> None:
    """Without a TTY: a plain line now and then, naming the test and phase, not held back by capture."""
    app_module.makepyfile(test_slow='''
        from demoapp import app, ok_flow

        def test_slow(fpt_load):
            fpt_load(ok_flow, profile="virtual", target=app, rate=4, users=2, duration=5, alone=1)
            assert False, "after the run"
    ''')
    res = app_module.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(failed=1)
    out = res.stdout.str()
    res.stdout.fnmatch_lines([
        "fpt test_slow.py::test_slow  alone  0s/5s  0.0/s of 4.0/s  p90 0.0ms  errors 0  findings 0",
        "fpt test_slow.py::test_slow  load  1s/5s  *.*/s of 4.0/s  p90 *.*ms  errors 0  findings 0",
        "fpt test_slow.py::test_slow  done  5s/5s  *.*/s of 4.0/s  p90 *.*ms  errors 0  findings 0",
    ])
    # Written when it happened, before the failure report, never as captured output.
    assert out.index("fpt test_slow.py::test_slow  done") < out.index("= FAILURES =")
    assert "Captured stdout" not in out
    # -q turns it off (checked on the configured plugin: a second 5 s run would prove no more)
    from fpt.plugin import _progress_printer

    assert _progress_printer(app_module.parseconfigure("-q")) is None
    assert _progress_printer(app_module.parseconfigure()) is not None


def test_live_view_redraws_in_place_on_a_tty_and_paces_plain_lines() -> None:
    from fpt.report.terminal import LiveView
    from fpt.run.runner import Progress

    def p(elapsed: float, phase: str = "load", duration: float = 20) -> Progress:
        return Progress(elapsed=elapsed, duration=duration, started=10, rate=9.5, p90_ms=12.25, errors=1,
                        findings=2, name="t.py::test_x", phase=phase, target_rate=10)

    out: list[str] = []
    tty = LiveView(out.append, tty=True)
    for t in (1, 2):
        tty(p(t))
    tty(p(20, "done"))
    assert out == ["\rfpt t.py::test_x  load  1s/20s  9.5/s of 10.0/s  p90 12.2ms  errors 1  findings 2",
                   "\rfpt t.py::test_x  load  2s/20s  9.5/s of 10.0/s  p90 12.2ms  errors 1  findings 2",
                   "\rfpt t.py::test_x  done  20s/20s  9.5/s of 10.0/s  p90 12.2ms  errors 1  findings 2\n"]
    now = [0.0]
    lines: list[str] = []
    plain = LiveView(lines.append, tty=False, every=5, clock=lambda: now[0])
    for t in range(1, 13):
        now[0] = float(t)
        plain(p(t))
    plain(p(12, "read-back"))
    plain(p(12, "done"))
    assert [x.split()[2:4] for x in lines] == [["load", "1s/20s"], ["load", "6s/20s"], ["load", "11s/20s"],
                                               ["read-back", "12s/20s"], ["done", "12s/20s"]]
    assert all(x.endswith("\n") for x in lines)
    narrow: list[str] = []
    LiveView(narrow.append, tty=True, width=40)(p(1))
    assert narrow == ["\rfpt t.py::test_x  load  1s/20s  9.5/s o"]  # never wraps: \r could not undo it
    short: list[str] = []
    LiveView(short.append, tty=False)(p(1, duration=2))
    assert short == []  # a run of a few seconds shows nothing
