"""Attacks on the verdict at the session level: a green checklist, a leaked secret or a broken run
while something is wrong.

Each runs a real pytest session (pytester, in a subprocess) against a real service on
127.0.0.1 and asserts what a QA engineer must see: the checklist failed, the secret
nowhere in the output, the run still going.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fpt import cli
from hostile.services import orders_app, serve

TESTS = str(Path(__file__).resolve().parents[1])
ROOT = str(Path(__file__).resolve().parents[2])

#: a level that a good load run passes on its own: what an attack must not keep green
MINI = '[tool.fpt.dod]\nlevel = "mini"\nmini = ["suite.executed", "performance.error_rate"]\n'


@pytest.fixture(autouse=True)
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sessions run as real subprocesses: let them import ``hostile`` (and the repo's ``fpt``)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT]))


@pytest.fixture
def service() -> Iterator[str]:
    """The correct order service on 127.0.0.1."""
    with serve(orders_app("correct")) as url:
        yield url


def session(pytester: pytest.Pytester, body: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run ``body`` as a test module in a fresh pytest session; its outcome and its fpt-dod.json."""
    pytester.makepyfile(test_s=textwrap.dedent(body))
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)
    path = pytester.path / "fpt-report" / "fpt-dod.json"
    return res, json.loads(path.read_text()) if path.exists() else {}


def gate(pytester: pytest.Pytester, level: str = "mini") -> int:
    """What ``fpt gate fpt-report/fpt-dod.json --level LEVEL`` exits with."""
    return cli.main(["gate", str(pytester.path / "fpt-report" / "fpt-dod.json"), "--level", level])


GOOD_RUN = """
        def test_load(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
"""

# -- 1. explore records its outcome in the session --------------------------------------------------

EXPLORE = """
        import fpt
        import pytest
        from hypothesis import strategies as st
        from hostile.flows import login, order

        async def write_note(user, note):
            auth = await login(user)
            async with user.step("order", expect_status={{201, 422}}):
                r = await user.http.post("/orders", json={{"note": note}}, headers=auth)
            fpt.check(r.status_code == 422 or len(note) <= {limit},
                      "the service accepted a note over the limit it should refuse")
"""


@pytest.mark.parametrize(("limit", "workers"), [(1000, []), (3, []), (3, ["-n", "2"])],
                         ids=["passes", "fails", "fails-xdist"])
def test_an_exploration_the_test_catches_still_fails_the_checklist(pytester: pytest.Pytester, service: str,
                                                                    limit: int, workers: list[str]) -> None:
    """The test swallows explore's failure with ``pytest.raises``: the test passes, the checklist fails
    (with xdist too: the worker's record reaches the controller)."""
    pytester.makepyprojecttoml(MINI)
    catch = "with pytest.raises(fpt.FptFailure):\n                " if limit < 10 else ""
    res, data = session(pytester, EXPLORE.format(limit=limit) + GOOD_RUN.format(service=service) + f"""
        def test_explore(fpt_load):
            {catch}fpt_load.explore(write_note, st.text(min_size=5, max_size=8), target="{service}",
                                    max_examples=3, allow_rate=True)
    """, *workers)
    res.assert_outcomes(passed=2)
    if limit > 10:  # the same session with a flow that passes: green, the exploration evidenced
        assert data["verdict"] == "passed", data["reasons"]
        [explored] = data["explorations"]
        assert explored["examples"] >= 1
        assert explored["failed"] == 0
        res.stdout.fnmatch_lines(["explore *test_explore (write_note): * examples, all passed",
                                  "DoD mini: PASSED*"])
        assert gate(pytester) == 0
        return
    assert data["verdict"] == "failed"
    [explored] = data["explorations"]
    assert explored["failed"] >= 1
    assert explored["kinds"] == ["functional"]
    assert any(r.startswith("explore ") and "found a failing input (functional)" in r
               for r in data["reasons"]), data["reasons"]
    res.stdout.fnmatch_lines(["explore *test_explore (write_note): * failing (functional): *",
                              "DoD mini: FAILED*"])
    assert res.ret != 0
    assert gate(pytester) == 1


def test_an_exploration_that_tried_nothing_fails_the_checklist(pytester: pytest.Pytester,
                                                               service: str) -> None:
    """A strategy that generates nothing (every value filtered out), the error caught: nothing explored."""
    pytester.makepyprojecttoml(MINI)
    res, data = session(pytester, EXPLORE.format(limit=1000) + GOOD_RUN.format(service=service) + f"""
        def test_explore(fpt_load):
            with pytest.raises(Exception):
                fpt_load.explore(write_note, st.text().filter(lambda s: False), target="{service}",
                                 max_examples=3)
    """)
    res.assert_outcomes(passed=2)
    assert data["verdict"] == "failed"
    [explored] = data["explorations"]
    assert explored["examples"] == 0
    assert any("tried no example: Unsatisfiable" in r for r in data["reasons"]), data["reasons"]
    res.stdout.fnmatch_lines(["explore *test_explore (write_note): 0 examples, stopped: Unsatisfiable*",
                              "DoD mini: FAILED*"])
    assert gate(pytester) == 1


# -- 2. baselines: never saved from a failing session; steps missing from one are named ----------------

FAILING = {
    "test_failed": """
        def test_bad(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
            assert False, "the squad's own assertion failed"
    """,
    "checks_failed_check_false": """
        import fpt

        async def order_then_wrong(user):
            await order(user)
            fpt.check(False, "the confirmation number is missing")

        def test_bad(fpt_load):
            fpt_load(order_then_wrong, target="{service}", users=2, rate=4, duration="1s", alone=0,
                     check=False)
    """,
}


@pytest.mark.parametrize("how", sorted(FAILING))
def test_a_failing_session_is_never_saved_as_a_baseline(pytester: pytest.Pytester, service: str,
                                                        how: str) -> None:
    """The reference stays the last good one: a broken run saved over it would pass broken runs later."""
    pytester.makepyprojecttoml(MINI)
    stored = pytester.path / ".fpt-baselines" / "main.json"
    stored.parent.mkdir()
    stored.write_text("the last good baseline")
    body = "\n        from hostile.flows import order\n" + FAILING[how].format(service=service)
    res, data = session(pytester, body + GOOD_RUN.format(service=service), "--fpt-save-baseline", "main")
    assert data["verdict"] == "failed"
    assert stored.read_text() == "the last good baseline"
    why = "1 FPT test(s) failed" if how == "test_failed" else "run test_s.py::test_bad failed its checks: "
    res.stdout.fnmatch_lines([f"baseline 'main' NOT saved (nothing written): {why}*"])


def test_a_step_missing_from_the_baseline_is_named_not_passed(pytester: pytest.Pytester,
                                                              service: str) -> None:
    """The flow gained a step since the baseline: that step is compared with nothing, and says so."""
    pytester.makepyprojecttoml(MINI)
    good = "\n        from hostile.flows import order\n" + GOOD_RUN.format(service=service)
    res, _ = session(pytester, good, "--fpt-save-baseline", "main")
    res.stdout.fnmatch_lines(["baseline 'main' saved to *main.json"])
    res, data = session(pytester, f"""
        from hostile.flows import login, order

        async def order_and_history(user):
            await order(user)
            async with user.step("history"):
                await user.http.get("/me", headers=await login(user))

        def test_load(fpt_load):
            fpt_load(order_and_history, target="{service}", users=2, rate=4, duration="1s", alone=0)
    """, "--fpt-compare", "main", "--fpt-baseline-p90-regression", "100000%",
                        "--fpt-baseline-error-increase", "100%")
    base = next(i for i in data["items"] if i["name"] == "performance.baseline")
    assert base["status"] == "not_evidenced", base
    assert base["evidence"]["missing"] == ["test_s.py::test_load history"]
    assert base["evidence"]["compared"], "the steps the baseline has are still compared"
    res.stdout.fnmatch_lines(["*performance.baseline*1 step(s) not in baseline 'main', not compared: "
                              "test_s.py::test_load history*"])


# -- 3. pytest's warnings summary is scrubbed like everything fpt writes ---------------------------------

WARNS = """
        import warnings
        from hostile.flows import order

        async def order_warning(user):
            await order(user)
            who = user.identity
            warnings.warn(f"retrying login for {{who.email}} with password {{who.password}}")
            warnings.warn(f"fell back to {service}/feed?token=QmFkU2VjcmV0VG9rZW4 and http://ops:hunter2pass@h/x")
            with open("secrets.txt", "a") as f:
                print(user.identity.password, file=f)

        def test_load(fpt_load):
            fpt_load(order_warning, target="{service}", users=2, rate=4, duration="1s", alone=0)
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_a_secret_in_a_warning_never_reaches_the_output(pytester: pytest.Pytester, service: str,
                                                        workers: list[str]) -> None:
    """A flow warns with a user's password, a ``?token=`` URL and ``user:pass@``: none of them is printed."""
    pytester.makepyprojecttoml(MINI)
    res, _ = session(pytester, WARNS.format(service=service), "--junitxml=junit.xml", "-rA", *workers)
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["*warnings summary*", "*UserWarning: retrying login for * with password *"])
    secrets = {*(pytester.path / "secrets.txt").read_text().split(), "QmFkU2VjcmV0VG9rZW4", "hunter2pass"}
    assert len(secrets) >= 3
    written = "\n".join([*res.outlines, *res.errlines, (pytester.path / "junit.xml").read_text()])
    assert [s for s in secrets if s in written] == []
    assert "[redacted]" in written


# -- 4. a proxy in the environment is a note, not a warning that -W error turns into a crash ------------

@contextlib.contextmanager
def loopback_proxy() -> Iterator[tuple[str, list[str]]]:
    """A forward HTTP proxy on 127.0.0.1 relaying to 127.0.0.1 only; yields its URL and what it relayed."""
    seen: list[str] = []

    class Relay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def relay(self) -> None:
            url = urlsplit(self.path)
            if url.hostname != "127.0.0.1":  # nothing leaves the machine
                self.send_error(403)
                return
            seen.append(self.path)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            hop = ("proxy-connection", "connection")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
            conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=10)
            try:
                conn.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body, headers)
                answer = conn.getresponse()
                data = answer.read()
            finally:
                conn.close()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = relay

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_a_proxy_in_the_environment_does_not_break_a_run_under_warnings_as_errors(
        pytester: pytest.Pytester, service: str, monkeypatch: pytest.MonkeyPatch, workers: list[str]) -> None:
    """CI runs with ``-W error`` and an HTTP_PROXY: the run goes through the proxy, and says so in a note."""
    # pytest-asyncio (installed with the dev extra) warns at configure time without this key.
    pytester.makepyprojecttoml(MINI + '[tool.pytest.ini_options]\n'
                                      'asyncio_default_fixture_loop_scope = "function"\n')
    with loopback_proxy() as (proxy, seen):
        for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "example.invalid")  # the target is not excluded: it goes through
        res, data = session(pytester, "\n        from hostile.flows import order\n"
                            + GOOD_RUN.format(service=service), "-W", "error", *workers)
    res.assert_outcomes(passed=1)
    assert data["verdict"] == "passed", data["reasons"]
    assert len(seen) >= 4  # the run went through the proxy
    assert all(u.startswith(service) for u in seen)
    res.stdout.fnmatch_lines([f"*the environment sets a proxy for {service}*httpx's transport*"])
    assert proxy not in res.stdout.str()  # its address may carry credentials
