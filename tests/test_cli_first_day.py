"""Day one on the command line: help, version, ``python -m fpt``, one request deadline, a dead target,
and the checklist's count of items (issue 21, items 5 and 6)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from fpt import cli
from fpt.demo.server import free_port
from fpt.judge.dod.checklist import TestCounts
from fpt.judge.dod.evaluate import evaluate
from fpt.report.checklist import reasons
from fpt.report.terminal import checklist_lines


def test_bare_fpt_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "usage: fpt" in out
    assert "gate" in out
    assert "demo" in out


def test_version_and_python_m_fpt() -> None:
    from fpt.config.version import version

    assert version() not in ("", "unknown")  # installed (editable) in this venv
    res = subprocess.run([sys.executable, "-m", "fpt", "--version"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"fpt {version()}"
    res = subprocess.run([sys.executable, "-m", "fpt"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert res.returncode == 0
    assert "usage: fpt" in res.stdout


def test_one_deadline_knob_sets_httpx_timeouts() -> None:
    from fpt.run.runner import client_kwargs

    kwargs = client_kwargs("http://127.0.0.1:9", request_deadline=42.0)()
    assert kwargs["timeout"] == httpx.Timeout(42.0)  # connect, read, write and pool: none fires first
    assert client_kwargs("http://127.0.0.1:9")()["timeout"] == httpx.Timeout(30.0)  # the default deadline


def test_checklist_counts_items_not_reasons() -> None:
    c = evaluate([], level="squad", tests=TestCounts(failed=2), incomplete=["a worker went down"])
    not_passed = [n for n in c.required if c.item(n).status != "passed"]
    assert len(reasons(c)) > len(not_passed)  # more reasons than items: the count must be of items
    last = checklist_lines(c)[-1]
    assert last == f"DoD squad: FAILED ({len(not_passed)} required item(s) not passed, 2 other reason(s))"
    assert "  FAILED: 2 FPT tests failed" in checklist_lines(c)


DEAD = '''
import fpt

CALLS = []

async def flow(user):
    CALLS.append(1)
    async with user.step("hello"):
        await user.http.get("/")

def test_dead(fpt_load):
    fpt_load(flow, target="http://127.0.0.1:{port}", rate=5, users=2, duration="30s")

def test_flow_never_ran():
    assert CALLS == []
'''


def test_target_refusing_connections_stops_the_run(pytester: pytest.Pytester) -> None:
    port = free_port()
    pytester.makepyfile(test_dead=DEAD.replace("{port}", str(port)))
    res = pytester.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(failed=1, passed=1)  # the flow never ran: no load on a dead port
    res.stdout.fnmatch_lines([f"*fpt: target not reachable at http://127.0.0.1:{port} (connection refused)*",
                              "DoD squad: FAILED*"])
    assert "Traceback" not in res.stdout.str()
    assert "functional" not in res.stdout.str().split("fpt summary")[0]
    assert res.ret == 1


def test_unreachable_is_typed() -> None:
    import asyncio

    from fpt.config.errors import TargetUnreachable, Unreachable
    from fpt.config.settings import FptConfig
    from fpt.run.reach import ensure_reachable

    with pytest.raises(TargetUnreachable) as info:
        asyncio.run(ensure_reachable(f"http://127.0.0.1:{free_port()}", FptConfig()))
    assert info.value.kind is Unreachable.REFUSED
    # in-process targets and hosts off the perimeter are not probed
    asyncio.run(ensure_reachable(object(), FptConfig()))
    asyncio.run(ensure_reachable("http://192.0.2.1:9", FptConfig()))
