"""fpt.judge.verdict.problems: typed reasons a run fails its checks, and their words in fpt.report."""

from __future__ import annotations

import dataclasses

import pytest

from fpt.config.thresholds import evaluate, parse_threshold
from fpt.evidence.checks import AloneEvidence, AloneFailure, AloneTrouble, Evidence
from fpt.evidence.findings import Finding, FindingLog
from fpt.evidence.loadtypes import LoadEvidence, SpikeEvidence
from fpt.evidence.result import RunResult
from fpt.judge.outcome import Problem, ProblemKind, Status
from fpt.judge.verdict import problems
from fpt.report.problems import failures, problem_line
from fpt.report.terminal import run_summary
from fpt.report.thresholds import threshold_words

from .runs import engine, run


def with_findings(kind: str, n: int) -> RunResult:
    log = FindingLog()
    for k in range(n):
        log.add(Finding(kind=kind, message="x", user=f"user#{k}", step="s", at=float(k)))
    return run(findings=log)


SPIKE_UNSEEN = SpikeEvidence(base=1, peak=4, start=1, end=2, baseline_p90_ms=None, baseline_error_rate=None,
                             during_iterations=0, during_error_rate=None, during_p90_ms=None,
                             error_limit=None, after_seconds=0, back_after=None, within=2)


@pytest.mark.parametrize(("r", "expected", "words"), [
    (run(), (), ""),
    (with_findings("data_swap", 2), (Problem(kind=ProblemKind.FINDINGS, subject="data_swap", count=2),),
     "2 data_swap findings"),
    (run(engine=engine(cancelled=3)), (Problem(kind=ProblemKind.CANCELLED, count=3),),
     "3 iterations did not finish"),
    (run(engine=engine(crashed=1)), (Problem(kind=ProblemKind.CRASHED, count=1),), "1 iterations crashed"),
    (run(engine=engine(started=0)), (Problem(kind=ProblemKind.NOTHING_STARTED),), "no iteration started"),
    (run(incomplete=True), (Problem(kind=ProblemKind.INCOMPLETE),), "incomplete: part of the run"),
    (run(evidence=Evidence(alone=AloneEvidence(iterations=1, failed=1, errors={"status": 1}, failures=(
        AloneFailure(trouble=AloneTrouble.ERRORS, iterations=1, failed=1, errors={"status": 1}),)))),
     (Problem(kind=ProblemKind.FAILS_ALONE, count=1),),
     "fails for one user alone (a functional bug, not a concurrency one): 1 of 1 iterations had errors"),
    (run(load=LoadEvidence(spike=SPIKE_UNSEEN)),
     (Problem(kind=ProblemKind.SPIKE, subject="not_evidenced", status=Status.NOT_EVIDENCED),),
     "spike: not evidenced"),
])
def test_problems(r: RunResult, expected: tuple[Problem, ...], words: str) -> None:
    assert problems(r) == expected
    assert all(words in problem_line(r, p) for p in expected)
    assert bool(failures(r)) is bool(expected)


def test_a_failed_threshold_is_a_problem_unless_left_to_the_checklist() -> None:
    r = run(thresholds=(evaluate(parse_threshold("p90<1ms"), 5.0, ""),))
    (p,) = problems(r)
    assert (p.kind, p.subject) == (ProblemKind.THRESHOLD, "p90<1ms")
    assert problem_line(r, p) == threshold_words(r.thresholds[0])
    assert problems(r, thresholds=False) == ()


def test_the_summary_fails_lines_by_kind_and_status_not_by_their_words() -> None:
    # A finding whose message reads like a threshold ("... ok") or names "not evidenced" is still a FAIL
    # line; a spike that showed nothing is not (it is not evidenced, shown by its own line).
    log = FindingLog()
    log.add(Finding(kind="session", message="not evidenced ok", user="user#1", step="s", at=1.0))
    r = dataclasses.replace(run(findings=log), load=LoadEvidence(spike=SPIKE_UNSEEN))
    lines = run_summary(r)
    assert sum(line.startswith("  FAIL 1 session finding") for line in lines) == 1
    assert not any(line.startswith("  FAIL spike") for line in lines)
