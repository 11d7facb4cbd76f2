"""Red team of the verdict: new ways to make the checklist green while the service or the run is broken.

Each test runs a real pytest session (pytester, in a subprocess) against a real
misbehaving server on 127.0.0.1 (:mod:`hostile.services2`) and asserts the outcome a
QA engineer must see: failed, not evidenced, or refused by the gate.
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
from fpt.report.checklist import checklist_dict
from hostile.services import serve
from hostile.services2 import shop_app

TESTS = str(Path(__file__).resolve().parents[1])
ROOT = str(Path(__file__).resolve().parents[2])

#: levels that require exactly what each attack tries to turn green
LEVELS = """
[tool.fpt.dod]
swap = ["suite.executed", "data_swap.multi_user_live"]
errors = ["suite.executed", "performance.error_rate"]
negative = ["suite.executed", "data_swap.negative_concurrency"]
"""


@pytest.fixture(autouse=True)
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sessions run as real subprocesses: let them import ``hostile`` (and the repo's ``fpt``)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT]))


@pytest.fixture
def shop(request: pytest.FixtureRequest) -> Iterator[str]:
    """The shop service with the modes the test is parametrized with (a tuple; default: none)."""
    modes = getattr(request, "param", ())
    with serve(shop_app(*modes)) as url:
        yield url


def session(pytester: pytest.Pytester, body: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run ``body`` as a test module in a fresh pytest session; its outcome and its fpt-dod.json."""
    pytester.makepyprojecttoml(LEVELS)
    pytester.makepyfile(test_r=textwrap.dedent(body))
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)
    path = pytester.path / "fpt-report" / "fpt-dod.json"
    return res, json.loads(path.read_text()) if path.exists() else {}


def item(data: dict[str, Any], name: str) -> dict[str, Any]:
    """One checklist item of a written fpt-dod.json."""
    found: dict[str, Any] = next(i for i in data["items"] if i["name"] == name)
    return found


LOAD = 'users=6, rate=5, duration="2s", arrivals="rendezvous", burst=3, alone=0'
#: the hunting detectors off where a service hangs every 4th request by count: their own reads of
#: /me would take some of the hanging turns, and the flow's requests would not hang every time
NO_HUNT = "replay_share=0, cache_probe_share=0, cancel_share=0, connection_share=0"


# -- a request the flow itself abandons is an error, not nothing --------------------------------------------

@pytest.mark.parametrize("shop", [("hang_some",)], indirect=True)
def test_a_request_the_flow_abandons_on_its_own_timeout_is_an_error(pytester: pytest.Pytester,
                                                                     shop: str) -> None:
    """Every 4th profile read hangs; the flow gives up after 300 ms and carries on. A request that
    never got an answer is an error, whoever cancelled it (today nothing is recorded at all)."""
    res, data = session(pytester, f"""
        from hostile.flows2 import shop_patient
        def test_patient(fpt_load):
            fpt_load(shop_patient, target="{shop}", {LOAD}, {NO_HUNT}, probe_share=0,
                     thresholds=["errors<1%"])
    """, "--fpt-dod-level=errors")
    assert item(data, "performance.error_rate")["status"] == "failed", item(data, "performance.error_rate")
    assert data["verdict"] == "failed"
    assert res.ret != 0


@pytest.mark.parametrize("shop", [("hang_some",)], indirect=True)
def test_an_iteration_that_swallows_its_cancellation_still_did_not_finish(pytester: pytest.Pytester,
                                                                          shop: str) -> None:
    """Every 4th profile read hangs; the grace runs out and fpt cancels those iterations, but the
    flow's bare ``except:`` swallows the cancellation and returns as if all went well."""
    _, data = session(pytester, f"""
        from hostile.flows2 import shop_sloppy
        def test_sloppy(fpt_load):
            fpt_load(shop_sloppy, target="{shop}", {LOAD}, {NO_HUNT}, grace="1s", probe_share=0, check=False)
    """, "--fpt-dod-level=errors")
    assert item(data, "performance.error_rate")["status"] == "failed", item(data, "performance.error_rate")
    assert data["verdict"] == "failed"


# -- another user's data anywhere in the answer is a swap ---------------------------------------------------

@pytest.mark.parametrize("shop", [("header_leak",)], indirect=True)
def test_a_foreign_canary_in_any_response_header_is_a_swap(pytester: pytest.Pytester, shop: str) -> None:
    """The previous caller's canary comes back in ``X-Last-User`` (not Set-Cookie or Location)."""
    _, data = session(pytester, f"""
        from hostile.flows2 import shop_profile
        def test_header(fpt_load):
            fpt_load(shop_profile, target="{shop}", {LOAD}, probe_share=0, check=False)
    """, "--fpt-dod-level=swap")
    live = item(data, "data_swap.multi_user_live")
    assert live["status"] == "failed", live
    assert data["verdict"] == "failed"


@pytest.mark.parametrize("shop", [("tail_leak",)], indirect=True)
def test_a_foreign_canary_past_the_scan_limit_is_never_a_pass(pytester: pytest.Pytester, shop: str) -> None:
    """Profiles padded past the 1 MiB scan limit, the previous caller's canary at the end: the part
    that was not scanned cannot count as inspected (found, or not evidenced; never passed)."""
    _, data = session(pytester, f"""
        from hostile.flows2 import shop_profile
        def test_tail(fpt_load):
            fpt_load(shop_profile, target="{shop}", {LOAD}, probe_share=0, check=False)
    """, "--fpt-dod-level=swap")
    live = item(data, "data_swap.multi_user_live")
    assert live["status"] in ("failed", "not_evidenced"), live
    assert data["verdict"] == "failed"


# -- an answer that carries no user data inspected nothing --------------------------------------------------

@pytest.mark.parametrize("shop", [("empty_me",)], indirect=True)
def test_answers_without_any_user_data_inspect_nothing(pytester: pytest.Pytester, shop: str) -> None:
    """The profile answers 200 with an empty body; sign-up and login answers carry no user data
    either. Nothing a swap could have shown in was looked at: not evidenced, never passed."""
    _, data = session(pytester, f"""
        from hostile.flows2 import shop_profile
        def test_empty(fpt_load):
            fpt_load(shop_profile, target="{shop}", {LOAD}, probe_share=0, check=False)
    """, "--fpt-dod-level=swap")
    live = item(data, "data_swap.multi_user_live")
    assert live["status"] == "not_evidenced", live
    assert data["verdict"] == "failed"


def test_a_run_with_every_check_off_is_not_covered_by_another_run(pytester: pytest.Pytester,
                                                                  shop: str) -> None:
    """Two live runs: one checked (the canary scan on a correct service), one with every check off
    on a service that swaps profiles. The item speaks for every live run: not evidenced."""
    _, data = session(pytester, f"""
        from hostile.flows import me_unchecked
        from hostile.flows2 import shop_profile
        from hostile.services import orders_app, serve
        def test_checked(fpt_load):
            fpt_load(shop_profile, target="{shop}", {LOAD}, probe_share=0)
        def test_unchecked(fpt_load):
            with serve(orders_app("swap_me")) as url:
                fpt_load(me_unchecked, target=url, {LOAD}, probe_share=0, canary_scan=False,
                         replay_share=0, cache_probe_share=0, cancel_share=0, connection_share=0)
    """, "--fpt-dod-level=swap")
    live = item(data, "data_swap.multi_user_live")
    assert live["status"] == "not_evidenced", live
    assert "test_unchecked" in live["detail"]
    assert data["verdict"] == "failed"


def test_a_flow_never_run_alone_is_not_covered_by_another_flow(pytester: pytest.Pytester, shop: str) -> None:
    """"Each flow passes for one user alone": a second flow run with ``alone=0`` was never tried alone."""
    _, data = session(pytester, f"""
        from hostile.flows2 import shop, shop_profile
        def test_alone(fpt_load):
            fpt_load(shop_profile, target="{shop}", {LOAD.replace("alone=0", "alone=1")}, probe_share=0)
        def test_never_alone(fpt_load):
            fpt_load(shop, target="{shop}", {LOAD}, probe_share=0)
    """, "--fpt-dod-level=swap")
    single = item(data, "functional.single_user")
    assert single["status"] == "not_evidenced", single
    assert "test_never_alone" in single["detail"]


# -- a probe's control proves the probe's own credentials, nothing else -------------------------------------

@pytest.mark.parametrize("shop", [("bola",)], indirect=True)
def test_a_control_that_carried_a_query_token_proves_nothing_for_a_probe_without_it(
        pytester: pytest.Pytester, shop: str) -> None:
    """The token travels as ``?token=``. A browsing user (no writes of its own) repeats its last
    GET ``/me?token=...`` as the control (it works), then probes an order *without* any token
    (401): that is not a refusal of a logged-in user, on a service that shows every order to
    anybody logged in."""
    _, data = session(pytester, f"""
        from hostile.flows2 import shop_query_token
        def test_query(fpt_load):
            fpt_load(shop_query_token, target="{shop}", {LOAD}, probe_share=1.0, check=False)
    """, "--fpt-dod-level=negative")
    negative = item(data, "data_swap.negative_concurrency")
    assert negative["status"] != "passed", negative
    assert data["verdict"] == "failed"


@pytest.mark.parametrize("shop", [("bola",)], indirect=True)
def test_a_control_on_a_public_page_proves_nothing(pytester: pytest.Pytester, shop: str) -> None:
    """Token in a header, but each iteration ends on the public catalog, read without it. A browsing
    user repeats that public GET as its control (it works for anybody) and probes an order with the
    credentials of that last request: none (401). Not a refusal, on a service that shows every
    order to anybody logged in."""
    _, data = session(pytester, f"""
        from hostile.flows2 import shop_browse
        def test_browse(fpt_load):
            fpt_load(shop_browse, target="{shop}", {LOAD}, probe_share=1.0, check=False)
    """, "--fpt-dod-level=negative")
    negative = item(data, "data_swap.negative_concurrency")
    assert negative["status"] != "passed", negative
    assert data["verdict"] == "failed"


# -- a run that failed its own checks never passes the checklist, whatever the test did ---------------------

PROBE_500 = """
    import fpt
    import pytest
    from hostile.flows2 import shop
    def test_probe(fpt_load):
        {call}
"""
CALLS = {
    "check_false": 'fpt_load(shop, target="{url}", {load}, probe_share=1.0, check=False)',
    "raises": 'with pytest.raises(fpt.FptFailure):\n'
              '            fpt_load(shop, target="{url}", {load}, probe_share=1.0)',
    "skip": 'fpt_load(shop, target="{url}", {load}, probe_share=1.0, check=False)\n'
            '        pytest.skip("the squad skips when the service is flaky")',
}


@pytest.mark.parametrize("shop", [("probe_500",)], indirect=True)
@pytest.mark.parametrize("how", list(CALLS))
def test_a_run_that_failed_its_checks_fails_the_checklist_whatever_the_test_did(
        pytester: pytest.Pytester, shop: str, how: str) -> None:
    """4 in 5 cross-user reads crash the service (500) and the run fails its own checks; the test
    passes anyway (``check=False``, ``pytest.raises(FptFailure)``, or a skip after the run). The
    checklist is a function of the runs, not of what the test chose to raise."""
    call = CALLS[how].format(url=shop, load=LOAD)
    _, data = session(pytester, PROBE_500.format(call=call), "--fpt-dod-level=negative")
    assert data["verdict"] == "failed", data["reasons"]
    assert any("failed its checks" in r for r in data["reasons"]), data["reasons"]


# -- a limit that cannot fail, or that only judges part of the flow, proves nothing -------------------------

@pytest.mark.parametrize("expr", ["p90>1s", "errors>1%", "errors<=100%", "dropped<=100%", "throughput>=0%",
                                  "throughput<95%"])
def test_thresholds_that_cannot_fail_or_pass_a_broken_service_are_refused(pytester: pytest.Pytester,
                                                                          expr: str) -> None:
    """``p90>1s`` passes only when the service is slow; ``errors<=100%`` passes whatever happens."""
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--fpt-thresholds={expr}", timeout=60)
    assert res.ret == pytest.ExitCode.USAGE_ERROR, res.stdout.str()
    res.stderr.fnmatch_lines([f"*fpt: thresholds must*got '{expr}'*"])


@pytest.mark.parametrize("shop", [("me_flaky",)], indirect=True)
def test_an_error_limit_on_one_step_does_not_pass_the_error_rate_of_the_flow(pytester: pytest.Pytester,
                                                                             shop: str) -> None:
    """Half the profile reads fail; the session's only limit (replacing the default ``errors<1%``)
    is on the login step, which never fails. The flow's error rate was never judged: the item is
    not evidenced, not passed."""
    _, data = session(pytester, f"""
        from hostile.flows2 import shop_profile
        def test_step_limit(fpt_load):
            fpt_load(shop_profile, target="{shop}", {LOAD}, probe_share=0)
    """, "--fpt-dod-level=errors", "--fpt-thresholds=login:errors<1%")
    errors = item(data, "performance.error_rate")
    assert errors["status"] == "not_evidenced", errors
    assert data["runs"][0]["error_rate"] > 0.2
    assert data["verdict"] == "failed"


def test_a_built_in_level_cannot_be_weakened(pytester: pytest.Pytester) -> None:
    """``squad = ["suite.executed"]`` would make "squad: passed" mean nothing; a squad that wants
    less names its own level (which the file and the gate then show)."""
    pytester.makepyprojecttoml('[tool.fpt.dod]\nsquad = ["suite.executed"]\n')
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert res.ret == pytest.ExitCode.USAGE_ERROR, res.stdout.str()
    res.stderr.fnmatch_lines(["*dod.squad must*"])


# -- the gate -----------------------------------------------------------------------------------------------

def test_a_file_whose_items_were_edited_and_digest_recomputed_is_refused(tmp_path: Path) -> None:
    """Flip every item to passed, drop the runs' failures, recompute reasons, verdict and digest:
    the runs the file lists still show the swaps, so it contradicts itself and the gate refuses it."""
    from fpt.judge.dod.checklist import Checklist, ItemOutcome
    from fpt.judge.dod.facts import WrittenFacts

    check = Checklist.from_dict(_failed_swap_file())
    forged = Checklist(level=check.level, required=check.required, tests=check.tests, created=check.created,
                       runs=tuple({**r, "check_failures": []} for r in check.runs),
                       items=tuple(ItemOutcome(name=i.name, status="passed",
                                               facts=WrittenFacts(detail="0 swaps"), tests=i.tests)
                                   for i in check.items))
    body = checklist_dict(forged)
    assert body["verdict"] == "passed"
    assert body["digest"] == digest(body)
    path = tmp_path / "fpt-dod.json"
    path.write_text(json.dumps(body))
    assert cli.main(["gate", str(path), "--level", "squad"]) == cli.EXIT_BAD_INPUT


def _failed_swap_file() -> dict[str, Any]:
    """A real checklist of a real run that swapped data (from an in-process run of the orders app)."""
    import asyncio

    from fpt.config.settings import FptConfig
    from fpt.judge.dod.evaluate import evaluate
    from fpt.run.runner import Run
    from fpt.run.shapes import constant
    from hostile.flows import me_unchecked
    from hostile.services import orders_app

    cfg = FptConfig(profile="virtual", users=4, duration=1.0, alone=0, probe_share=0.0, arrivals="rendezvous",
                    burst=2)
    run = Run(me_unchecked, cfg=cfg, shape=constant(8), duration=1.0, target=orders_app("swap_me"),
              thresholds=(), name="test_swaps")
    result = asyncio.run(run.execute())
    assert result.swaps > 0
    return checklist_dict(evaluate([result], level="squad"))
