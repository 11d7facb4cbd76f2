"""Baselines: store a session's p90 and error rate per test and step; compare a later session to them.

A step regresses when its p90 grows by more than the allowed fraction (and by more
than 1 ms, so sub-millisecond noise is not a regression) or its error rate rises by
more than the allowed absolute amount. The outcome is the checklist's
``performance.baseline`` item: not evidenced when no test of this session is in the
baseline, or when a measured step is not in it (nothing to compare that step with:
save a new baseline). A session where anything failed is never saved as a baseline:
later sessions would be judged against a broken reference.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from fpt.config.errors import ConfigError
from fpt.evidence.metrics import StepMetrics
from fpt.evidence.result import RunResult
from fpt.judge.dod.catalogue import FAILED, NOT_EVIDENCED, PASSED
from fpt.judge.dod.checklist import Checklist, ExploreWhy, ItemOutcome, explore_problem
from fpt.judge.dod.facts import Baseline, BaselineFacts, BaselineRow

SCHEMA = 1
SLACK_MS = 1.0
ITEM = "performance.baseline"


def _figures(m: StepMetrics) -> dict[str, float]:
    return {"p90_ms": m.hist.percentile(90) / 1000, "error_rate": m.error_rate, "count": m.count}


def snapshot(results: Sequence[RunResult]) -> dict[str, Any]:
    """What a baseline keeps: per test, per step (and ``(flow)``), p90 and error rate."""
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for r in results:
        steps = {name: _figures(m) for name, m in r.metrics.steps.items() if m.count}
        if r.metrics.flow.count:
            steps["(flow)"] = _figures(r.metrics.flow)
        runs[r.name] = steps
    return {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs}


def path_of(directory: str | Path, name: str) -> Path:
    """Where baseline ``name`` lives."""
    return Path(directory) / f"{name}.json"


class UnfitWhy(StrEnum):
    """Why a session must not become a baseline."""

    INCOMPLETE = "incomplete"
    """``subject``: the first reason the run is incomplete"""
    MISSING_PART = "missing_part"
    """run ``subject`` is missing a worker's part"""
    NOTHING_MEASURED = "nothing_measured"
    TESTS_FAILED = "tests_failed"
    """``count`` FPT tests failed"""
    RUN_CHECKS = "run_checks"
    """run ``subject`` failed its checks (``detail``: the first, as its row has it)"""
    EXPLORATION = "exploration"
    """exploration ``index`` of the checklist failed (``explore``: why)"""
    ITEMS_FAILED = "items_failed"
    """``items``: the checklist items that failed"""


@dataclass(frozen=True, kw_only=True)
class Unfit:
    """Why a session must not become a baseline (words: :func:`fpt.report.checklist.unfit_words`)."""

    why: UnfitWhy
    subject: str = ""
    detail: str = ""
    count: int = 0
    index: int = -1
    explore: ExploreWhy | None = None
    items: tuple[str, ...] = ()


def unfit(checklist: Checklist, results: Sequence[RunResult]) -> Unfit | None:
    """Why this session must not become a baseline (None when it may): something in it failed.

    Items merely not evidenced do not count (``performance.baseline`` cannot be evidenced
    before the first baseline exists); a failed item, test, run check or exploration does.
    """
    if checklist.incomplete:
        return Unfit(why=UnfitWhy.INCOMPLETE, subject=checklist.incomplete[0])
    if checklist.missing_parts:
        return Unfit(why=UnfitWhy.MISSING_PART, subject=checklist.missing_parts[0])
    if not any(r.metrics.flow.count or any(m.count for m in r.metrics.steps.values()) for r in results):
        return Unfit(why=UnfitWhy.NOTHING_MEASURED)
    if checklist.tests.failed:
        return Unfit(why=UnfitWhy.TESTS_FAILED, count=checklist.tests.failed)
    for run in checklist.runs:
        if run.get("check_failures"):
            return Unfit(why=UnfitWhy.RUN_CHECKS, subject=str(run["test"]),
                         detail=str(run["check_failures"][0]).splitlines()[0])
    for n, ex in enumerate(checklist.explorations):
        why = explore_problem(ex)
        if why is not None:
            return Unfit(why=UnfitWhy.EXPLORATION, index=n, explore=why)
    # A weakened check is recorded and judged by the level; it does not make the timings wrong.
    failed = tuple(i.name for i in checklist.items if i.status == FAILED and i.name != "checks.full_strength")
    if failed:
        return Unfit(why=UnfitWhy.ITEMS_FAILED, items=failed)
    return None


def save(results: Sequence[RunResult], directory: str | Path, name: str) -> Path:
    """Write the baseline ``name``; returns its path."""
    p = path_of(directory, name)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(snapshot(results), indent=2, sort_keys=True))
    return p


def load(directory: str | Path, name: str) -> dict[str, Any]:
    """Read baseline ``name``; a :class:`ConfigError` says what is wrong with it."""
    p = path_of(directory, name)
    if not p.is_file():
        raise ConfigError("compare", name, f"name a stored baseline (none at {p}; save one with "
                          f"--fpt-save-baseline {name})")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError("compare", name, f"name a readable baseline ({p} is not valid JSON: {e})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("runs"), dict):
        raise ConfigError("compare", name, f"name an fpt baseline ({p} is not one of schema {SCHEMA})")
    return data


def compare(results: Sequence[RunResult], stored: Mapping[str, Any], *, p90_regression: float,
            error_increase: float, name: str = "") -> ItemOutcome:
    """The ``performance.baseline`` item for ``results`` against a stored baseline."""
    now = snapshot(results)["runs"]
    base = stored["runs"]
    rows: list[BaselineRow] = []
    #: measured steps the baseline does not have (a new step or test): nothing to compare them with
    missing: list[str] = []
    for test, steps in now.items():
        for step, fig in steps.items():
            old = base.get(test, {}).get(step)
            if not old:
                missing.append(f"{test} {step}")
                continue
            p90_limit = max(old["p90_ms"] * (1 + p90_regression), old["p90_ms"] + SLACK_MS)
            err_limit = old["error_rate"] + error_increase
            ok = fig["p90_ms"] <= p90_limit and fig["error_rate"] <= err_limit
            rows.append(BaselineRow(test=test, step=step, p90_ms=round(fig["p90_ms"], 3),
                                    baseline_p90_ms=round(old["p90_ms"], 3), p90_limit_ms=round(p90_limit, 3),
                                    error_rate=fig["error_rate"], baseline_error_rate=old["error_rate"],
                                    passed=ok))
    tests = tuple(dict.fromkeys(r.test for r in rows))
    ev = {"baseline": name, "created": stored.get("created", ""), "compared": [r.to_dict() for r in rows],
          "missing": missing, "p90_regression": p90_regression, "error_increase": error_increase}
    bad = tuple(r for r in rows if not r.passed)
    why, status = ((Baseline.NO_TEST, NOT_EVIDENCED) if not rows else (Baseline.REGRESSED, FAILED) if bad
                   else (Baseline.MISSING, NOT_EVIDENCED) if missing else (Baseline.WITHIN, PASSED))
    return ItemOutcome(name=ITEM, status=status, tests=tests if rows else (), evidence=ev,
                       facts=BaselineFacts(why=why, name=name, compared=len(rows), regressed=bad,
                                           missing=tuple(missing), p90_regression=p90_regression,
                                           error_increase=error_increase))


def unreadable(error: str) -> ItemOutcome:
    """The ``performance.baseline`` item when the baseline could not be read (``error``: why)."""
    return ItemOutcome(name=ITEM, status=NOT_EVIDENCED,
                       facts=BaselineFacts(why=Baseline.UNREADABLE, error=error))
