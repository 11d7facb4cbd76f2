"""Round three, the session and the gate: outcomes not counted, stale files, hidden weakening,
forged evidence, runs that never end (issue 20, classes 4 to 8).

Each attack runs a real pytest session (a subprocess) against a real service on 127.0.0.1,
then asks ``fpt gate`` what a CI job would; each has a control where all is correct.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fpt import cli
from fpt.judge.dod.checklist import digest
from hostile.services import orders_app, serve

TESTS = str(Path(__file__).resolve().parents[1])
ROOT = str(Path(__file__).resolve().parents[2])

#: a level a good load run passes on its own: what an attack must not keep green
MINI = '[tool.fpt.dod]\nlevel = "mini"\nmini = ["suite.executed", "performance.error_rate"]\n'
#: the same, and every collected FPT test must have run
WHOLE = MINI.replace('"performance.error_rate"]', '"performance.error_rate", "suite.selection"]')
#: the same, and no check may be weakened
STRONG = MINI.replace('"performance.error_rate"]', '"performance.error_rate", "checks.full_strength"]')

CI_VARS = ("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB", "CI_JOB_ID", "BUILD_TAG", "BUILD_ID",
           "BUILDKITE_JOB_ID", "CIRCLE_WORKFLOW_JOB_ID", "FPT_SESSION_ID", "FPT_SIGNING_KEY")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions run as real subprocesses that import ``hostile``; no CI job or key leaks in from outside."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT]))
    # Run from an xdist worker, the sessions would inherit its PYTEST_XDIST_WORKER and take
    # themselves for xdist workers (which leave the placeholder to their controller).
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """The correct order service on 127.0.0.1."""
    with serve(orders_app("correct")) as url:
        yield url


def session(pytester: pytest.Pytester, body: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run ``body`` as a test module in a fresh pytest session; its outcome and its fpt-dod.json."""
    pytester.makepyfile(test_s=textwrap.dedent(body))
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)
    return res, report(pytester)


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    """The checklist file in the default report directory ({} when there is none)."""
    path = pytester.path / "fpt-report" / "fpt-dod.json"
    return json.loads(path.read_text()) if path.exists() else {}


def gate(pytester: pytest.Pytester, *args: str, level: str = "mini") -> int:
    """What ``fpt gate fpt-report/fpt-dod.json --level LEVEL ...`` exits with."""
    return cli.main(["gate", str(pytester.path / "fpt-report" / "fpt-dod.json"), "--level", level,
                     "--config", str(pytester.path / "pyproject.toml"), *args])


def item(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(i for i in data["items"] if i["name"] == name)


GOOD = """
        from hostile.flows import order

        def test_load(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
"""

# -- 4. every FPT test outcome counts -------------------------------------------------------------------

TEARDOWN = GOOD + """
        import pytest

        @pytest.fixture
        def broken_cleanup():
            yield
            raise RuntimeError("the cleanup of the test data failed")

        def test_cleanup(fpt_load, broken_cleanup):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
"""

LOOKUP = GOOD + """
        def test_lookup(request):
            run = request.getfixturevalue("fpt_load")
            run(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
            assert False, "the order confirmation was wrong"
"""


@pytest.mark.parametrize("body", [TEARDOWN, LOOKUP], ids=["teardown-error", "getfixturevalue"])
def test_an_fpt_test_that_errors_or_fails_out_of_sight_fails_the_gate(pytester: pytest.Pytester, service: str,
                                                                       body: str) -> None:
    """A teardown ERROR, or a failure in a test that looked ``fpt_load`` up itself: pytest exits 1,
    and so must the checklist and the gate (both were green on main)."""
    pytester.makepyprojecttoml(MINI)
    res, data = session(pytester, body.format(service=service))
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    assert data["tests"]["failed"] == 1, data["tests"]
    assert data["verdict"] == "failed"
    assert gate(pytester) == 1


def test_fpt_tests_that_pass_in_every_phase_keep_the_gate_green(pytester: pytest.Pytester,
                                                                service: str) -> None:
    """The control: the same shapes, nothing broken."""
    pytester.makepyprojecttoml(WHOLE)
    res, data = session(pytester, GOOD.format(service=service) + f"""
        import pytest

        @pytest.fixture
        def cleanup():
            yield

        def test_lookup(request, cleanup):
            request.getfixturevalue("fpt_load")(order, target="{service}", users=2, rate=4, duration="1s",
                                                alone=0)
    """)
    res.assert_outcomes(passed=2)
    assert data["tests"] == {"passed": 2, "failed": 0, "skipped": 0}
    assert data["verdict"] == "passed", data["reasons"]
    assert item(data, "suite.selection")["status"] == "passed"
    assert gate(pytester, level="mini") == 0


TWO = GOOD + """
        def test_other(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
"""


@pytest.mark.parametrize("how", [["-k", "test_load"], ["--deselect", "test_s.py::test_other"],
                                 ["-k", "test_load", "-n", "2"]], ids=["-k", "--deselect", "-k-xdist"])
def test_deselected_fpt_tests_are_listed_and_a_level_can_refuse_them(pytester: pytest.Pytester, service: str,
                                                                     how: list[str]) -> None:
    pytester.makepyprojecttoml(WHOLE)
    res, data = session(pytester, TWO.format(service=service), *how)
    res.assert_outcomes(passed=1)
    sel = item(data, "suite.selection")
    assert sel["status"] == "failed"
    assert sel["evidence"]["deselected"] == ["test_s.py::test_other"]
    assert data["verdict"] == "failed"
    assert gate(pytester, level="mini") == 1
    # Listed whatever the level: squad does not require it, and the file still says so.
    assert data["selection"]["deselected"] == ["test_s.py::test_other"]


def test_last_failed_is_a_partial_selection(pytester: pytest.Pytester, service: str) -> None:
    """``--lf`` runs only the tests that failed last time: the others are not even collected."""
    pytester.makepyprojecttoml(WHOLE)
    pytester.makepyfile(test_s=textwrap.dedent(GOOD.format(service=service) + f"""
        import os

        def test_flaky(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0)
            assert not os.path.exists("fail")
    """))
    (pytester.path / "fail").write_text("")
    pytester.runpytest_subprocess(timeout=120).assert_outcomes(passed=1, failed=1)
    (pytester.path / "fail").unlink()
    res = pytester.runpytest_subprocess("--lf", timeout=120)
    res.assert_outcomes(passed=1)
    data = report(pytester)
    assert data["selection"]["last_failed"] is True
    assert item(data, "suite.selection")["status"] == "failed"
    assert gate(pytester, level="mini") == 1
    control = pytester.runpytest_subprocess(timeout=120)  # the whole suite again: nothing left out
    control.assert_outcomes(passed=2)
    assert item(report(pytester), "suite.selection")["status"] == "passed"
    assert gate(pytester, level="mini") == 0


# -- 5. a file from an earlier session never passes a later gate ------------------------------------------

def _green_then(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, service: str, job: str,
                args: list[str], env: dict[str, str], *, earlier_job: str = "1001") -> int:
    """A green session in CI job ``earlier_job``; then, in CI job ``job``, a session that writes
    no checklist of its own (``args``, ``env``); what the gate of that job says."""
    pytester.makepyprojecttoml(MINI)
    monkeypatch.setenv("CI_JOB_ID", earlier_job)
    _res, data = session(pytester, GOOD.format(service=service))
    assert data["verdict"] == "passed", data["reasons"]
    assert data["session"]["ci"] == {"provider": "gitlab", "job": earlier_job}
    assert gate(pytester) == 0
    monkeypatch.setenv("CI_JOB_ID", job)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)
    return gate(pytester)


NO_CHECKLIST = {
    "no-fpt": (["-p", "no:fpt"], {}),
    "autoload-off": ([], {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}),
    "another-report-dir": (["--fpt-report-dir", "elsewhere"], {}),
}


@pytest.mark.parametrize("case", sorted(NO_CHECKLIST))
def test_a_stale_file_from_another_ci_job_is_refused(pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch, service: str,
                                                     case: str) -> None:
    """fpt did not run (or wrote elsewhere): the earlier job's green file is all the gate sees."""
    args, env = NO_CHECKLIST[case]
    assert _green_then(pytester, monkeypatch, service, "1002", args, env) == 2


def test_the_same_job_passes_its_own_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                          service: str) -> None:
    """The control: the file of this job, fresh, is accepted; --max-age still bounds it."""
    pytester.makepyprojecttoml(MINI)
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "1")
    monkeypatch.setenv("GITHUB_JOB", "fpt")
    _, data = session(pytester, GOOD.format(service=service))
    assert data["session"]["ci"] == {"provider": "github", "job": "77/1/fpt"}
    assert gate(pytester, "--max-age", "1h") == 0
    assert gate(pytester, "--any-job") == 0
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")  # a re-run of the job is another job
    assert gate(pytester) == 2
    assert gate(pytester, "--any-job") == 0  # release QA, reading artifacts of other jobs, says so


def test_max_age_refuses_an_old_file_outside_ci(pytester: pytest.Pytester, service: str) -> None:
    pytester.makepyprojecttoml(MINI)
    _, data = session(pytester, GOOD.format(service=service))
    assert data["session"]["ci"] is None
    assert gate(pytester, "--max-age", "1h") == 0
    path = pytester.path / "fpt-report" / "fpt-dod.json"
    old = {**data, "created": "2020-01-01T00:00:00Z"}
    old["digest"] = digest(old)
    path.write_text(json.dumps(old))
    assert gate(pytester, "--max-age", "1h") == 2
    assert gate(pytester, "--max-age", "soon") == 2  # a bad value is a usage error, never a pass


def test_a_session_id_given_by_the_ci_step_refuses_any_other_file(pytester: pytest.Pytester,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  service: str) -> None:
    """The recipe that works without a CI job id: FPT_SESSION_ID set for pytest and the gate."""
    pytester.makepyprojecttoml(MINI)
    monkeypatch.setenv("FPT_SESSION_ID", "first-0001")
    _, data = session(pytester, GOOD.format(service=service))
    assert data["session"]["id"] == "first-0001"
    assert gate(pytester) == 0
    monkeypatch.setenv("FPT_SESSION_ID", "second-0002")
    pytester.runpytest_subprocess("-p", "no:fpt", timeout=120)
    assert gate(pytester) == 2


STOPS_EARLY = {
    "usage-error": (["--fpt-rate=abc"], ""),
    "configure-crash": (["-W", "error::DeprecationWarning"], """
        import warnings

        def pytest_configure(config):
            warnings.warn("another plugin's deprecated setting", DeprecationWarning)
    """),
}


@pytest.mark.parametrize("case", sorted(STOPS_EARLY))
def test_a_session_that_stops_before_it_starts_leaves_no_green_file(pytester: pytest.Pytester,
                                                                    service: str, case: str) -> None:
    """Same job, same directory: the placeholder is written before anything else can fail."""
    pytester.makepyprojecttoml(MINI)
    session(pytester, GOOD.format(service=service))
    assert gate(pytester) == 0
    args, conftest = STOPS_EARLY[case]
    if conftest:
        pytester.makeconftest(textwrap.dedent(conftest))
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)
    assert res.ret != 0
    data = report(pytester)
    assert data["verdict"] == "failed"
    assert data["incomplete"], data
    assert gate(pytester) == 1


# -- 6. weakening is recorded and bounded -----------------------------------------------------------------

SWAPPING_ME = """
        from hostile.flows import me_unchecked

        def test_load(fpt_load):
            fpt_load(me_unchecked, target="{service}", users=4, rate=4, duration="1.5s", alone=0,
                     probe_share=0.2)
"""


def test_a_shared_step_from_the_environment_is_recorded_with_what_it_hid(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """FPT_SHARED_STEPS=me hides every foreign canary of a swapping /me: the file says who hid how many."""
    pytester.makepyprojecttoml(STRONG)
    monkeypatch.setenv("FPT_SHARED_STEPS", "me")
    with serve(orders_app("swap_me")) as url:
        res, data = session(pytester, SWAPPING_ME.format(service=url))
    [w] = [w for w in data["weakened"] if w["key"] == "shared_steps"]
    assert w["source"] == "environment"
    assert w["value"] == ["me"]
    assert w["hid"]["foreign_canaries"] > 0
    assert item(data, "checks.full_strength")["status"] == "failed"
    assert data["verdict"] == "failed"
    res.stdout.fnmatch_lines(["*weakened*shared_steps*environment*foreign canar*"])
    assert gate(pytester) == 1


def test_loose_thresholds_and_a_lowered_high_traffic_rate_are_weakening(pytester: pytest.Pytester) -> None:
    """errors<100% passes a run at 75% errors; --fpt-high-traffic-rate 5 makes 5/s high traffic."""
    pytester.makepyprojecttoml(STRONG)
    with serve(orders_app("always_500")) as url:
        res, data = session(pytester, f"""
        from hostile.flows import order

        def test_load(fpt_load):
            fpt_load(order, target="{url}", users=2, rate=4, duration="1s", alone=0,
                     thresholds=["errors<100%"])
        """, "--fpt-high-traffic-rate", "5")
    weak = {w["key"]: w for w in data["weakened"]}
    assert weak["thresholds"]["value"] == ["errors<100%"]
    assert weak["thresholds"]["source"] == "fpt_load()"
    assert weak["high_traffic_rate"]["source"] == "command line"
    assert item(data, "checks.full_strength")["status"] == "failed"
    assert gate(pytester) == 1
    res.stdout.fnmatch_lines(["*weakened*high_traffic_rate*command line*"])


def test_a_run_at_full_strength_records_nothing(pytester: pytest.Pytester, service: str) -> None:
    """The control: defaults and a tighter threshold are not weakening."""
    pytester.makepyprojecttoml(STRONG)
    _, data = session(pytester, f"""
        from hostile.flows import order

        def test_load(fpt_load):
            fpt_load(order, target="{service}", users=2, rate=4, duration="1s", alone=0,
                     thresholds=["errors<0.5%", "p90<5s"])
    """, "--fpt-high-traffic-rate", "60")
    assert data["weakened"] == []
    assert item(data, "checks.full_strength")["status"] == "passed"
    assert data["verdict"] == "passed", data["reasons"]
    assert gate(pytester) == 0


# -- 7. forgery and configuration ---------------------------------------------------------------------------

def _swap_file(pytester: pytest.Pytester) -> dict[str, Any]:
    pytester.makepyprojecttoml(MINI)
    with serve(orders_app("swap_me")) as url:
        _, data = session(pytester, f"""
        from hostile.flows import order

        def test_load(fpt_load):
            fpt_load(order, target="{url}", users=4, rate=4, duration="1.5s", alone=0, check=False)
        """)
    assert data["runs"][0]["findings"], data["runs"][0]
    return data


def _forge(data: dict[str, Any]) -> dict[str, Any]:
    """Every finding emptied, every item passed, the verdict and the digest recomputed."""
    from fpt.judge.dod.checklist import Checklist
    from fpt.report.checklist import reasons

    runs = [{**r, "findings": {}, "check_failures": [], "failures": []} for r in data["runs"]]
    items = [{**i, "status": "passed"} for i in data["items"]]
    forged = {**data, "runs": runs, "items": items}
    check = Checklist.from_dict(forged)
    forged["verdict"], forged["reasons"] = check.verdict, reasons(check)
    forged.pop("signature", None)
    forged["digest"] = digest(forged)
    return forged


def test_emptied_findings_with_a_swap_verdict_are_refused(pytester: pytest.Pytester) -> None:
    data = _swap_file(pytester)
    assert data["runs"][0]["swap_verdict"] in ("concurrency", "cache_shared_state")
    forged = _forge(data)
    assert forged["verdict"] == "passed"
    (pytester.path / "fpt-report" / "fpt-dod.json").write_text(json.dumps(forged))
    assert gate(pytester) == 2


def test_a_signed_file_forged_without_the_key_is_refused(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    pytester.makepyprojecttoml(MINI)
    monkeypatch.setenv("FPT_SIGNING_KEY", "ci-secret-key-0123456789")
    _, data = session(pytester, GOOD.format(service=service))
    assert data["signature"].startswith("hmac-sha256:")
    assert gate(pytester, "--require-signature") == 0  # the control
    path = pytester.path / "fpt-report" / "fpt-dod.json"
    edited = {**data, "level": "mini", "created": "2099-01-01T00:00:00Z"}
    edited["digest"] = digest(edited)
    path.write_text(json.dumps(edited))
    assert gate(pytester, "--require-signature") == 2
    unsigned = {k: v for k, v in data.items() if k != "signature"}
    path.write_text(json.dumps(unsigned))
    assert gate(pytester) == 0, "without --require-signature an unsigned file is judged as it is"
    assert gate(pytester, "--require-signature") == 2
    monkeypatch.delenv("FPT_SIGNING_KEY")
    path.write_text(json.dumps(data))
    assert gate(pytester, "--require-signature") == 2  # no key to verify with: never a pass


def test_gate_config_reads_the_file_it_is_given(pytester: pytest.Pytester, service: str,
                                                tmp_path: Path) -> None:
    """--config FILE: FILE's levels apply, not those of a pyproject.toml beside it."""
    pytester.makepyprojecttoml(MINI)
    session(pytester, GOOD.format(service=service))
    cfg_dir = tmp_path / "release-qa"
    cfg_dir.mkdir()
    (cfg_dir / "pyproject.toml").write_text(MINI)  # the weaker level, next to FILE
    strict = cfg_dir / "strict.toml"
    strict.write_text('[tool.fpt.dod]\nlevel = "mini"\n'
                      'mini = ["suite.executed", "performance.error_rate", "autoscaling.no_data_loss"]\n')
    path = str(pytester.path / "fpt-report" / "fpt-dod.json")
    assert cli.main(["gate", path, "--config", str(cfg_dir / "pyproject.toml")]) == 0
    assert cli.main(["gate", path, "--config", str(strict)]) == 1
