"""fpt.report.alone: why the single-user phase failed, in the words it always had, from typed reasons
or (an earlier file) as written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fpt.config.hist import Histogram
from fpt.evidence.checks import AloneEvidence, AloneFailure, AloneTrouble, Evidence
from fpt.evidence.engine import EngineStats
from fpt.evidence.findings import Finding, FindingLog
from fpt.evidence.metrics import Metrics
from fpt.evidence.result import RunResult
from fpt.judge.dod.swap import single_user
from fpt.judge.outcome import Problem, ProblemKind
from fpt.judge.verdict import problems
from fpt.report.alone import alone_reason
from fpt.report.checklist import item_dict
from fpt.report.problems import failures


def run(**kw: Any) -> RunResult:
    """A small run that started and finished ten iterations, with ``kw`` over plain defaults."""
    engine = EngineStats(planned=10, started=10, completed=10, crashed=0, dropped_no_user=0, dropped_cap=0,
                         cancelled=0, overlapped_starts=0, window=10.0, elapsed=10.0, peak_inflight=2,
                         mean_inflight=1.0, lateness=Histogram())
    base: dict[str, Any] = dict(name="t", flow="f", profile="live", target="http://127.0.0.1:1", shape="1/s",
                                target_rate=1.0, duration=10.0, users=4, seed=1, arrivals="uniform",
                                engine=engine, metrics=Metrics(), findings=FindingLog())
    return RunResult(**{**base, **kw})

REFUSED = Finding(kind="functional", message="login refused", step="login", method="POST", path="/login",
                  user="solo#1", phase="alone")
NOT_FINISHED = AloneFailure(trouble=AloneTrouble.NOT_FINISHED, iterations=3, deadline_s=2.5)
ABANDONED = AloneFailure(trouble=AloneTrouble.ABANDONED)
FOUND = AloneFailure(trouble=AloneTrouble.FINDING, finding=REFUSED)
ERRORS = AloneFailure(trouble=AloneTrouble.ERRORS, iterations=5, failed=2, errors={"setup": 1, "status": 2})
WORDS = [
    (NOT_FINISHED, "did not finish 3 iterations alone within 2.5s (the flow or the service hangs)"),
    (ABANDONED, "an iteration alone did not stop when cancelled and was abandoned (a flow that swallows "
                "cancellation: a bare except around an await)"),
    (FOUND, "[functional] login refused in step 'login' (POST /login) — solo#1 [alone]"),
    (ERRORS, "2 of 5 iterations had errors {'setup': 1, 'status': 2}"),
]
ALL = tuple(a for a, _ in WORDS)
LINES = [line for _, line in WORDS]


@pytest.mark.parametrize(("failure", "line"), [
    *WORDS,
    (AloneFailure(trouble=AloneTrouble.NOT_FINISHED, iterations=4, deadline_s=1.0),
     "did not finish 4 iterations alone within 1s (the flow or the service hangs)"),
    (AloneFailure(trouble=AloneTrouble.ERRORS, iterations=1, failed=0, errors={"setup": 1}),
     "0 of 1 iterations had errors {'setup': 1}"),
    (AloneFailure(trouble=AloneTrouble.WRITTEN, text="as an earlier fpt wrote it"),
     "as an earlier fpt wrote it"),
])
def test_alone_reason(failure: AloneFailure, line: str) -> None:
    assert alone_reason(failure) == line


def _alone_run(failures: tuple[AloneFailure, ...], flow: str = "f") -> RunResult:
    """A run whose single-user phase failed for ``failures`` (passed, when there are none)."""
    alone = AloneEvidence(iterations=3, failed=1, failures=failures) if failures else \
        AloneEvidence(iterations=3, clean=3)
    return run(flow=flow, evidence=Evidence(alone=alone))


def test_the_problem_shows_the_first_three_reasons_and_counts_them_all() -> None:
    r = _alone_run(ALL)
    assert problems(r) == (Problem(kind=ProblemKind.FAILS_ALONE, count=4),)
    assert failures(r) == ["fails for one user alone (a functional bug, not a concurrency one): "
                           + "; ".join(LINES[:3])]


def test_a_run_from_an_earlier_file_keeps_its_verdict_and_its_sentences() -> None:
    data = _alone_run(ALL).to_dict()
    data["evidence"]["alone"]["failures"] = LINES  # as files had them before the typed form
    old = RunResult.from_dict(json.loads(json.dumps(data)))
    assert problems(old) == problems(_alone_run(ALL))
    assert failures(old) == failures(_alone_run(ALL))


def test_the_single_user_item_writes_each_failing_flows_reasons_cut_at_300_characters() -> None:
    long = (NOT_FINISHED, ABANDONED, FOUND, FOUND, ERRORS)
    item = single_user([_alone_run(long, "a"), _alone_run((ERRORS,), "b"), _alone_run((), "c")])
    assert item.evidence == {"flows": ["a", "b", "c"], "runs": 3}
    assert item_dict(item)["evidence"]["failures"] == [
        "a: " + "; ".join(alone_reason(x) for x in long)[:300], "b: " + LINES[3]]
    assert len(item_dict(item)["evidence"]["failures"][0]) == 303
