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
from pathlib import Path
from typing import Any

from fpt.config.errors import ConfigError
from fpt.evidence.metrics import StepMetrics
from fpt.evidence.result import RunResult
from fpt.judge.dod import FAILED, NOT_EVIDENCED, PASSED, Checklist, ItemOutcome, explore_reason

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


def unfit(checklist: Checklist, results: Sequence[RunResult]) -> str:
    """Why this session must not become a baseline ("" when it may): something in it failed.

    Items merely not evidenced do not count (``performance.baseline`` cannot be evidenced
    before the first baseline exists); a failed item, test, run check or exploration does.
    """
    if checklist.incomplete:
        return f"the run is incomplete ({checklist.incomplete[0]})"
    if not any(r.metrics.flow.count or any(m.count for m in r.metrics.steps.values()) for r in results):
        return "no load run measured anything"
    if checklist.tests.failed:
        return f"{checklist.tests.failed} FPT test(s) failed"
    for run in checklist.runs:
        if run.get("check_failures"):
            return f"run {run['test']} failed its checks: {str(run['check_failures'][0]).splitlines()[0]}"
    for reason in map(explore_reason, checklist.explorations):
        if reason:
            return reason
    # A weakened check is recorded and judged by the level; it does not make the timings wrong.
    failed = [i.name for i in checklist.items if i.status == FAILED and i.name != "checks.full_strength"]
    if failed:
        return f"checklist item(s) failed: {', '.join(failed)}"
    return ""


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
    rows: list[dict[str, Any]] = []
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
            rows.append({"test": test, "step": step, "p90_ms": round(fig["p90_ms"], 3),
                         "baseline_p90_ms": round(old["p90_ms"], 3), "p90_limit_ms": round(p90_limit, 3),
                         "error_rate": fig["error_rate"], "baseline_error_rate": old["error_rate"],
                         "passed": ok})
    tests = tuple(dict.fromkeys(r["test"] for r in rows))
    ev = {"baseline": name, "created": stored.get("created", ""), "compared": rows, "missing": missing,
          "p90_regression": p90_regression, "error_increase": error_increase}
    unmatched = (f"; {len(missing)} step(s) not in baseline {name!r}, not compared: "
                 f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}") if missing else ""
    if not rows:
        return ItemOutcome(name=ITEM, status=NOT_EVIDENCED, evidence=ev,
                           detail=f"no test of this session is in baseline {name!r}{unmatched}")
    bad = [r for r in rows if not r["passed"]]
    if bad:
        shown = "; ".join(f"{r['test']} {r['step']}: p90 {r['baseline_p90_ms']:.1f} -> {r['p90_ms']:.1f}ms, "
                          f"errors {r['baseline_error_rate'] * 100:.2f}% -> {r['error_rate'] * 100:.2f}%"
                          for r in bad[:3])
        return ItemOutcome(name=ITEM, status=FAILED, tests=tests, evidence=ev,
                           detail=f"{len(bad)} of {len(rows)} steps regressed against {name!r}: {shown}"
                                  + unmatched)
    if missing:
        return ItemOutcome(name=ITEM, status=NOT_EVIDENCED, tests=tests, evidence=ev,
                           detail=f"{len(rows)} steps within limits of baseline {name!r}{unmatched} "
                                  f"(save a new baseline with --fpt-save-baseline {name})")
    return ItemOutcome(name=ITEM, status=PASSED, tests=tests, evidence=ev,
                       detail=f"{len(rows)} steps within p90 +{p90_regression * 100:g}% and errors "
                              f"+{error_increase * 100:g}% of baseline {name!r}")
