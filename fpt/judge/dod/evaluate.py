"""A session's checklist: every item judged from the runs' results, at a level.

Each item ends ``passed``, ``failed`` or ``not_evidenced``. An item is passed only when a run
showed it: a data-swap item needs a run with overlapping requests, a scaling item needs events
that moved traffic, a threshold item needs a measured value. A level names the items it requires;
the checklist passes when every required item passed and no part of the run is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from fpt.config.redact import url as redact_url
from fpt.config.thresholds import ThresholdOutcome
from fpt.evidence.explore import ExploreRecord
from fpt.evidence.narrowing import SELECTION_ITEM, STRENGTH_ITEM, Selection, Weakening
from fpt.evidence.provenance import Provenance
from fpt.evidence.result import RunResult
from fpt.evidence.stats import FAILURE_ROWS, failure_rows, step_stats
from fpt.judge.dod import performance, scaling, swap
from fpt.judge.dod.catalogue import DEFAULT_LEVELS, DEFAULT_THROUGHPUT, FAILED, ITEMS, NOT_EVIDENCED, PASSED
from fpt.judge.dod.checklist import Checklist, ItemOutcome, RunRow, TestCounts
from fpt.judge.dod.facts import (
    Baseline,
    BaselineFacts,
    Executed,
    ExecutedFacts,
    Narrowed,
    Selected,
    SelectionFacts,
    Strength,
    StrengthFacts,
)
from fpt.judge.dod.swap import Item
from fpt.judge.dod.tally import names
from fpt.judge.loadtypes import load_row, resources_evidence
from fpt.judge.outcome import Problem
from fpt.judge.verdict import problems, swap_verdict

ProblemWords = Callable[[RunResult, Problem], str]
"""How a run's problem is put in words (:func:`fpt.report.problems.problem_line`, given by the caller:
the judge makes no sentences of its own for them)."""
ThresholdWords = Callable[[ThresholdOutcome], str]
"""How a threshold outcome is put in words (:func:`fpt.report.checklist.threshold_words`)."""


def run_evidence(r: RunResult, words: ProblemWords | None = None,
                 threshold_words: ThresholdWords | None = None) -> RunRow:
    """What a run did, in numbers, for the checklist's ``runs`` list (``words``: see :data:`ProblemWords`;
    without it each problem is its compact :attr:`~fpt.judge.outcome.Problem.key`)."""
    e = r.engine
    row: RunRow = {
        "test": r.name, "flow": r.flow, "profile": r.profile, "target": redact_url(r.target),
        "shape": r.shape, "target_rate": round(r.target_rate, 3), "achieved_rate": round(r.achieved_rate, 3),
        "users": r.users, "iterations": e.started, "dropped": e.dropped, "duration_s": round(r.duration, 3),
        "peak_inflight": e.peak_inflight, "overlap_request_pairs": r.evidence.overlap_pairs,
        "checks": list(r.evidence.checks), "swap_verdict": swap_verdict(r),
        "inspected": r.evidence.inspected, "cancelled": e.cancelled, "dropped_late": e.dropped_late,
        "arrivals": r.evidence.arrivals or r.arrivals,
        "steps_without_overlap": list(r.evidence.steps_without_overlap),
        "findings": dict(sorted(r.findings.counts.items())),
        "thresholds": [{"expr": t.expr, "measured": t.measured, "passed": t.passed,
                        "detail": threshold_words(t) if threshold_words is not None else t.expr}
                       for t in r.thresholds],
        "p90_ms": round(r.metrics.flow.hist.percentile(90) / 1000, 3) if r.metrics.flow.count else None,
        "error_rate": round(r.metrics.flow.error_rate, 6), "worker": r.worker, "incomplete": r.incomplete,
        "abandoned": r.abandoned,
        "seed": r.seed,
        # per-step statistics and the failures table (fpt.evidence.stats), also written as CSV
        "steps": step_stats(r), "failures": failure_rows(r, FAILURE_ROWS),
        "resources": resources_evidence(r.resources), "load": load_row(r.load),
        # Whatever the test did with them (check=False, pytest.raises, a skip after the run): a run
        # that failed its own checks fails the checklist. Thresholds are judged by the items.
        "check_failures": [words(r, p) if words is not None else p.key
                           for p in problems(r, thresholds=False)],
    }
    if r.coverage is not None:
        # an OpenAPI hunt: every operation of the document, exercised, checked, probed or skipped (why)
        row["coverage"] = r.coverage.to_dict()
    return row


def item_judges(*, high_traffic_rate: float = 50.0) -> dict[str, Item]:
    """The judge of each run-evidenced item (``high_traffic_rate``: what a virtual run must achieve)."""
    return {
        "functional.single_user": swap.single_user,
        "data_swap.multi_user_live": swap.swap_item("data_swap.multi_user_live", "live"),
        "data_swap.high_traffic_virtual": swap.swap_item("data_swap.high_traffic_virtual", "virtual",
                                                         high_traffic_rate),
        "data_swap.negative_concurrency": swap.negative,
        "autoscaling.session_continuity": scaling.continuity,
        "autoscaling.no_data_loss": scaling.data_loss,
        "autoscaling.degradation": scaling.degradation,
        "performance.response_time": performance.threshold_item("performance.response_time",
                                                                performance.is_latency),
        "performance.error_rate": performance.threshold_item(
            "performance.error_rate", lambda m: m == "errors", whole_flow=True),
        "performance.throughput": performance.threshold_item(
            "performance.throughput", lambda m: m in ("throughput", "dropped"), DEFAULT_THROUGHPUT),
        "performance.stress_recovery": performance.stress,
        "performance.spike": performance.spike,
        "performance.soak_memory": performance.soak,
        "performance.volume": performance.volume,
    }


def executed(results: Sequence[RunResult], tests: TestCounts) -> ItemOutcome:
    """``suite.executed``: at least one FPT test ran and started iterations."""
    name = "suite.executed"
    iterations = sum(r.engine.started for r in results)
    ev = {**tests.to_dict(), "runs": len(results), "iterations": iterations}
    facts = ExecutedFacts(why=Executed.RAN, ran=tests.ran, skipped=tests.skipped, runs=len(results),
                          iterations=iterations)
    if tests.ran == 0 and not results:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, evidence=ev,
                           facts=ExecutedFacts(why=Executed.NO_TEST, skipped=tests.skipped))
    if iterations == 0:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=names(results), evidence=ev,
                           facts=ExecutedFacts(why=Executed.NO_ITERATION))
    return ItemOutcome(name=name, status=PASSED, tests=names(results), evidence=ev, facts=facts)


def selection_item(selection: Selection, tests_ran: int) -> ItemOutcome:
    """``suite.selection``: every collected FPT test ran."""
    ev = selection.to_dict()
    if selection.partial:
        return ItemOutcome(name=SELECTION_ITEM, status=FAILED, tests=selection.deselected, evidence=ev,
                           facts=SelectionFacts(why=Selected.PARTIAL, deselected=selection.deselected,
                                                last_failed=selection.last_failed))
    if not tests_ran:
        return ItemOutcome(name=SELECTION_ITEM, status=NOT_EVIDENCED, evidence=ev,
                           facts=SelectionFacts(why=Selected.NO_TEST))
    return ItemOutcome(name=SELECTION_ITEM, status=PASSED, evidence=ev,
                       facts=SelectionFacts(why=Selected.ALL, ran=tests_ran))


def strength_item(weakened: Sequence[Weakening], runs: int) -> ItemOutcome:
    """``checks.full_strength``: no setting narrowed a check below its floor."""
    ev = {"weakened": [w.to_dict() for w in weakened]}
    if weakened:
        settings = tuple(dict.fromkeys(Narrowed(key=w.key, source=w.source) for w in weakened))
        return ItemOutcome(name=STRENGTH_ITEM, status=FAILED, evidence=ev,
                           tests=tuple(dict.fromkeys(w.test for w in weakened if w.test)),
                           facts=StrengthFacts(why=Strength.NARROWED, settings=settings,
                                               narrowings=len(weakened)))
    if not runs:
        return ItemOutcome(name=STRENGTH_ITEM, status=NOT_EVIDENCED, evidence=ev,
                           facts=StrengthFacts(why=Strength.NO_RUN))
    return ItemOutcome(name=STRENGTH_ITEM, status=PASSED, evidence=ev,
                       facts=StrengthFacts(why=Strength.FULL, runs=runs))


NOT_COMPARED = ItemOutcome(name="performance.baseline", status=NOT_EVIDENCED,
                           facts=BaselineFacts(why=Baseline.NOT_COMPARED))
"""The baseline item of a session that compared none (``--fpt-compare NAME``)."""


def evaluate(results: Sequence[RunResult], *, level: str = "squad",
             levels: Mapping[str, Sequence[str]] | None = None, tests: TestCounts | None = None,
             incomplete: Sequence[str] = (), baseline: ItemOutcome | None = None,
             high_traffic_rate: float = 50.0, explorations: Sequence[ExploreRecord] = (),
             session: Provenance | None = None, selection: Selection | None = None,
             weakened: Sequence[Weakening] = (), problem_words: ProblemWords | None = None,
             threshold_words: ThresholdWords | None = None) -> Checklist:
    """The checklist of a session's results at ``level`` (``problem_words``: see :data:`ProblemWords`)."""
    levels = dict(levels or DEFAULT_LEVELS)
    if level not in levels:
        raise ValueError(f"unknown DoD level {level!r}; known: {', '.join(sorted(levels))}")
    tests = tests or TestCounts(passed=len(names(results)))
    items = [executed(results, tests)]
    items.extend(judge(results) for judge in item_judges(high_traffic_rate=high_traffic_rate).values())
    items.append(baseline or NOT_COMPARED)
    weakened = (*weakened, *(w for r in results for w in r.weakened))
    selection = selection or Selection()
    items.append(selection_item(selection, tests.ran))
    items.append(strength_item(weakened, len(results)))
    order = list(ITEMS)
    items.sort(key=lambda i: order.index(i.name))
    return Checklist(level=level, required=tuple(levels[level]), items=tuple(items), tests=tests,
                     incomplete=tuple(dict.fromkeys(incomplete)),
                     missing_parts=tuple(dict.fromkeys(r.name for r in results if r.incomplete)),
                     runs=tuple(run_evidence(r, problem_words, threshold_words) for r in results),
                     created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     explorations=tuple(explorations), session=session,
                     selection=selection, weakened=tuple(weakened))
