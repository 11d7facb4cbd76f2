"""The demo hunted from its own /openapi.json with no hand-written flow (only its sign-in).

Every data-swap bug of the demo that an endpoint exposes is caught, by the detector that
should catch it, and the correct demo is quiet. In-process (about 3 s a run); the same hunt
against the real server is suites/test_openapi.py.
"""

from __future__ import annotations

import pytest

from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.evidence.coverage import OpOutcome
from fpt.evidence.result import RunResult
from fpt.load import LoadRunner
from fpt.report.problems import failures
from suites.flows import sign_in

#: bug -> (finding kind, step where it shows)
CAUGHT = {
    "shared_cache": ("data_swap", "getMe"),
    "request_global": ("data_swap", "getMe"),
    "unkeyed_cache": ("data_swap", "getMe"),
    "stale_connection": ("foreign_canary", "getMe"),
    "no_owner_check": ("cross_user", "fpt.probe"),
    "leaky_listing": ("foreign_canary", "listVisits"),
    "no_owner_check_write": ("cross_user", "rescheduleVisit"),
}


def hunt(bugs: tuple[str, ...]) -> RunResult:
    runner = LoadRunner(FptConfig(seed=5), name=f"demo-openapi-{'-'.join(bugs) or 'clean'}", marker={},
                        record=lambda r: None)
    # The demo's PUT sets the same date again: replaying it as another member is safe.
    return runner.openapi("/openapi.json", auth=sign_in, target=create_app(bugs=bugs), profile="virtual",
                          users=20, rate=40, duration="2s", burst=10, probe_share=0.3, replay_share=0.3,
                          replay_writes=True, check=False)


def test_the_correct_demo_is_quiet_and_every_route_is_accounted_for() -> None:
    r = hunt(())
    assert failures(r) == [], failures(r)
    assert r.coverage is not None
    outcomes = {op.op_id: op.outcome for op in r.coverage.operations}
    assert outcomes == {
        "health": OpOutcome.EXERCISED, "signUp": OpOutcome.SKIPPED, "logIn": OpOutcome.SKIPPED,
        "logOut": OpOutcome.SKIPPED, "getMe": OpOutcome.CHECKED, "listVisits": OpOutcome.CHECKED,
        "bookVisit": OpOutcome.CHECKED, "getVisit": OpOutcome.CHECKED, "rescheduleVisit": OpOutcome.CHECKED,
        "cancelVisit": OpOutcome.CHECKED, "importRecords": OpOutcome.EXERCISED,
        "latestRecords": OpOutcome.CHECKED}
    assert r.coverage.op("getVisit").probed > 0
    assert r.evidence.probes.denied > 0


@pytest.mark.parametrize("bug", sorted(CAUGHT))
def test_each_demo_bug_an_endpoint_exposes_is_caught(bug: str) -> None:
    kind, step = CAUGHT[bug]
    r = hunt((bug,))
    assert r.findings.counts.get(kind, 0) > 0, dict(r.findings.counts)
    assert step in {f.step for f in r.findings.of(kind)}, {f.step for f in r.findings.of(kind)}
    assert failures(r)
