"""Round three, class 8: a run that never ends (issue 20).

A flow whose polling loop swallows every exception, cancellation included (a bare
``except:``), in the single-user phase and under load; and two Ctrl-C on such a session.
Each runs a real pytest process against a real service on 127.0.0.1. The harness's own
waits are bounded (generous timeouts), never asserted on.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hostile.services import ctrl_c_reaches, signal_state
from hostile.test_round3_session import GOOD, MINI, environment, gate, report, service, session

__all__ = ["environment", "service"]  # the fixtures, used by name


# -- 8. a run that never ends -----------------------------------------------------------------------------

STUBBORN = """
        import asyncio
        from hostile.flows import login

        async def stubborn(user):
            auth = await login(user)
            async with user.step("poll"):
                while True:  # a polling loop that swallows everything, cancellation included
                    try:
                        await user.http.get("/me", headers=auth)
                        await asyncio.sleep(0.05)
                    except:
                        pass

        def test_load(fpt_load):
            fpt_load(stubborn, target="{service}", users=2, rate=2, duration="{duration}", alone={alone},
                     grace="0.5s", check=False)
"""


@pytest.mark.parametrize("alone", [1, 0], ids=["single-user-phase", "under-load"])
def test_an_iteration_that_refuses_cancellation_is_abandoned_and_failed(pytester: pytest.Pytester,
                                                                        service: str, alone: int) -> None:
    pytester.makepyprojecttoml(MINI)
    res, data = session(pytester, STUBBORN.format(service=service, duration="1s", alone=alone))
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    assert data["verdict"] == "failed"
    [run] = data["runs"]
    assert run["abandoned"] >= 1, run
    assert any("did not stop" in f for f in run["check_failures"]), run["check_failures"]
    assert gate(pytester) == 1


def test_a_second_ctrl_c_ends_the_session_at_once(pytester: pytest.Pytester, service: str) -> None:
    pytester.makepyprojecttoml(MINI)
    session(pytester, GOOD.format(service=service))
    pytester.makepyfile(test_s=textwrap.dedent(STUBBORN.format(service=service, duration="300s", alone=0)))
    path = pytester.path / "fpt-report" / "fpt-dod.json"
    proc = subprocess.Popen(ctrl_c_reaches([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]),
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while report(pytester).get("verdict") != "failed":  # the placeholder is in place
            assert time.monotonic() < deadline
            assert proc.poll() is None
            time.sleep(0.1)
        time.sleep(1.5)  # the load is running
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)  # bounded: on main it never ended
        except subprocess.TimeoutExpired:
            raise AssertionError(f"two Ctrl-C did not end the session: {signal_state(proc.pid)}") from None
    finally:
        proc.kill()
    assert proc.returncode != 0, out.decode()
    assert path.exists(), out.decode()
    data = json.loads(path.read_text())
    assert data["verdict"] == "failed"
    assert data["incomplete"]
    assert gate(pytester) == 1
