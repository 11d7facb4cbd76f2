"""fpt with the pytest plugins squads already use (issue 21): one tiny suite, each plugin in turn.

Each run asserts the checklist (fpt-dod.json's verdict), the exit code, and fpt's own last line;
a hanging flow under ``--timeout`` ends and the gate fails. The suite is tiny on purpose: every
run is half a second of load against an in-process app.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

APP = '''
import fpt
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"hello": "world"})

app = Starlette(routes=[Route("/", hello)])


async def ok_flow(user):
    async with user.step("hello"):
        r = await user.http.get("/")
        fpt.check(r.status_code == 200, "hello refused")


async def hanging_flow(user):
    import asyncio

    async with user.step("hang"):
        await asyncio.sleep(600)
'''

SYNC = '''
from compat_app import app, ok_flow

def test_sync(fpt_load):
    fpt_load(ok_flow, profile="virtual", target=app, rate=20, users=4, duration=0.5)
'''

ASYNC = '''
import pytest
from compat_app import app, ok_flow

@pytest.mark.{mark}
async def test_async(fpt_load):
    await fpt_load.arun(ok_flow, profile="virtual", target=app, rate=20, users=4, duration=0.5)
'''

ANYIO_BACKEND = '''
import pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"
'''

HANG = '''
import pytest
from compat_app import app, hanging_flow

def test_hang_sync(fpt_load):  # fpt's own loop: uvloop when installed
    fpt_load(hanging_flow, profile="virtual", target=app, rate=5, users=2, duration="60s")
'''

HANG_ASYNC = '''
import pytest
from compat_app import app, hanging_flow

@pytest.mark.asyncio
async def test_hang_async(fpt_load):  # pytest-asyncio's loop: asyncio's
    await fpt_load.arun(hanging_flow, profile="virtual", target=app, rate=5, users=2, duration="60s")
'''

FLAKY = '''
from pathlib import Path
from compat_app import app, ok_flow

def test_flaky(fpt_load, tmp_path_factory):
    mark = Path(__file__).with_name("attempted")
    if not mark.exists():
        mark.write_text("once")
        raise AssertionError("first attempt fails, the rerun passes")
    fpt_load(ok_flow, profile="virtual", target=app, rate=20, users=4, duration=0.5)
'''

PYPROJECT = '''
[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"
[tool.fpt]
seed = 7
[tool.fpt.dod]
level = "compat"
compat = ["suite.executed", "functional.single_user", "performance.error_rate"]
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(compat_app=APP, test_sync=SYNC)
    pytester.makepyprojecttoml(PYPROJECT)
    pytester.syspathinsert()
    return pytester


def checklist(p: pytest.Pytester) -> dict[str, object]:
    data: dict[str, object] = json.loads((p.path / "fpt-report" / "fpt-dod.json").read_text())
    return data


def last_line(res: pytest.RunResult) -> str:
    return [line for line in res.stdout.lines if line.strip()][-1]


def assert_gate(p: pytest.Pytester, res: pytest.RunResult, verdict: str, code: int) -> None:
    assert res.ret == code, res.stdout.str()[-3000:]
    assert checklist(p)["verdict"] == verdict
    if code != 0 or verdict == "passed":
        word = verdict.upper()
        assert last_line(res) == f"fpt: DoD compat {word}; exit code {code}", res.stdout.str()[-2000:]


# Plugins that load in-process through their entry points: each run is one subprocess-free session.
@pytest.mark.parametrize(("args", "files"), [
    pytest.param(("-p", "asyncio", "--asyncio-mode=auto"), {"test_async": ASYNC.format(mark="asyncio")},
                 id="pytest-asyncio-auto"),
    pytest.param(("-p", "asyncio", "--asyncio-mode=strict"), {"test_async": ASYNC.format(mark="asyncio")},
                 id="pytest-asyncio-strict"),
    pytest.param((), {"test_async": ASYNC.format(mark="anyio"), "conftest": ANYIO_BACKEND},
                 id="anyio"),
    pytest.param(("-W", "error"), {}, id="W-error"),
])
def test_plugin_in_process(suite: pytest.Pytester, args: tuple[str, ...], files: dict[str, str]) -> None:
    if files:
        suite.makepyfile(**files)
    res = suite.runpytest("-p", "no:cacheprovider", *args)
    res.assert_outcomes(passed=1 + bool(files))
    assert_gate(suite, res, "passed", 0)


@pytest.mark.parametrize("args", [
    pytest.param(("--cov=compat_app", "--cov-report="), id="pytest-cov"),
    pytest.param(("-n", "2"), id="xdist-n2"),
    pytest.param(("-n", "2", "--dist", "each"), id="xdist-each"),
])
def test_plugin_in_subprocess(suite: pytest.Pytester, args: tuple[str, ...]) -> None:
    suite.makepyfile(test_sync2=SYNC.replace("test_sync", "test_sync2"))
    res = suite.runpytest_subprocess("-p", "no:cacheprovider", *args)
    res.assert_outcomes(passed=4 if "each" in args else 2)  # each: every test on both workers
    assert_gate(suite, res, "passed", 0)
    runs = checklist(suite)["runs"]
    assert isinstance(runs, list)
    assert len(runs) == 2  # --dist each: one merged run per test, not one per worker


def test_junitxml_carries_the_verdict(suite: pytest.Pytester) -> None:
    res = suite.runpytest("-p", "no:cacheprovider", "--junitxml=passed.xml")
    assert_gate(suite, res, "passed", 0)
    cases = {c.get("name"): c for c in ET.parse(suite.path / "passed.xml").getroot().iter("testcase")}
    assert cases["dod[compat]"].get("classname") == "fpt"
    assert cases["dod[compat]"].find("failure") is None
    # The same suite at a level it cannot pass: pytest's own tests pass, the JUnit file says failed.
    res = suite.runpytest("-p", "no:cacheprovider", "--junitxml=failed.xml", "--fpt-dod-level", "squad")
    res.assert_outcomes(passed=1)
    assert res.ret == 1
    suite_el = ET.parse(suite.path / "failed.xml").getroot().find("testsuite")
    assert suite_el is not None
    assert suite_el.get("failures") == "1"
    assert suite_el.get("tests") == "2"
    failure = next(c for c in suite_el.iter("testcase") if c.get("name") == "dod[squad]").find("failure")
    assert failure is not None
    assert "DoD squad: FAILED" in failure.get("message", "")
    assert "data_swap.high_traffic_virtual not evidenced" in (failure.text or "")


def test_reruns_cannot_hide_the_gate(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_flaky=FLAKY)
    res = suite.runpytest("-p", "no:cacheprovider", "--reruns", "1", "--fpt-dod-level", "squad")
    assert res.parseoutcomes() == {"passed": 2, "rerun": 1}  # pytest's line: "2 passed, 1 rerun" ...
    assert res.ret == 1  # ... and the gate fails: fpt's last line says so, with the exit code
    assert last_line(res) == "fpt: DoD squad FAILED; exit code 1"


def test_timeout_signal_ends_a_hanging_run(suite: pytest.Pytester) -> None:
    # Only hanging tests under the timeout: a test meant to pass would flake on a slow machine.
    (suite.path / "test_sync.py").unlink()
    suite.makepyfile(test_hang=HANG, test_hang_async=HANG_ASYNC)
    res = suite.runpytest_subprocess("-p", "no:cacheprovider", "-p", "asyncio", "--timeout", "2",
                                     "--timeout-method", "signal")
    res.assert_outcomes(failed=2)  # both loops: uvloop (fpt's) and asyncio (pytest-asyncio's)
    res.stdout.fnmatch_lines(["*FAILED test_hang.py::test_hang_sync - Failed: Timeout (>2.0s)*",
                              "*FAILED test_hang_async.py::test_hang_async - Failed: Timeout (>2.0s)*"])
    assert_gate(suite, res, "failed", 1)
    assert "2 FPT tests failed" in checklist(suite)["reasons"]  # type: ignore[operator]


def test_timeout_thread_ends_a_hanging_run(suite: pytest.Pytester) -> None:
    (suite.path / "test_sync.py").unlink()
    suite.makepyfile(test_hang=HANG)
    res = suite.runpytest_subprocess("-p", "no:cacheprovider", "--timeout", "2", "--timeout-method", "thread")
    assert res.ret != 0  # the thread method ends the process: the session never finishes ...
    c = checklist(suite)
    assert c["verdict"] == "failed"  # ... so the checklist is the incomplete placeholder, never green
    assert c["incomplete"]
    assert Path(suite.path / "fpt-report" / "fpt-dod.json").exists()
