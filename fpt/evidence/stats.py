"""Per-step statistics and the failures table of a run: plain rows for JSON, CSV and HTML.

Pure functions of a :class:`fpt.evidence.result.RunResult` (no new measuring): what Locust's
statistics and failures tables and k6's end-of-test summary show, per run.
"""

from __future__ import annotations

from typing import Any

from fpt.evidence.metrics import StepMetrics
from fpt.evidence.result import RunResult

FAILURE_ROWS = 100
"""Failure rows per run kept in fpt-dod.json and fpt-failures.csv (the rest summed in one row)."""
FLOW_ROW, REQUESTS_ROW = "(flow)", "(requests)"
"""Rows beside the steps: whole iterations of the flow, and every HTTP request."""
PERCENTILES = (50, 90, 95, 99)


def _row(name: str, kind: str, m: StepMetrics, window: float, statuses: dict[str, int]) -> dict[str, Any]:
    h = m.hist
    ms = {f"p{p}_ms": round(h.percentile(p) / 1000, 3) if m.count else None for p in PERCENTILES}
    return {
        "step": name, "kind": kind, "count": m.count, "failed": m.failed,
        "error_rate": round(m.error_rate, 6), "errors": dict(sorted(m.errors.items())),
        "statuses": dict(sorted(statuses.items())),
        **ms, "max_ms": round(h.max / 1000, 3) if m.count else None,
        "mean_ms": round(h.mean / 1000, 3) if m.count else None,
        "throughput_per_s": round(m.count / window, 3) if window > 0 else 0.0,
    }


def step_stats(r: RunResult) -> list[dict[str, Any]]:
    """One row per step, then ``(flow)`` and ``(requests)``: count, errors by kind and status, ms, rate."""
    window = r.engine.window
    by_step: dict[str, dict[str, int]] = {}
    everything: dict[str, int] = {}
    for (step, status, _), (n, _first) in r.metrics.failures.items():
        d = by_step.setdefault(step, {})
        d[status] = d.get(status, 0) + int(n)
        everything[status] = everything.get(status, 0) + int(n)
    rows = [_row(name, "step", m, window, by_step.get(name, {})) for name, m in r.metrics.steps.items()]
    rows.append(_row(FLOW_ROW, "flow", r.metrics.flow, window, {}))
    rows.append(_row(REQUESTS_ROW, "requests", r.metrics.requests, window, everything))
    return rows


def failure_rows(r: RunResult, limit: int = 0) -> list[dict[str, Any]]:
    """Failed requests by step, status or exception, and message; then failed checks (findings).

    Each row: step, status, message, count, first seen (run seconds, None when unknown),
    and source (``request`` or ``check``); most frequent first. With ``limit``, the rows
    past it are counted together in one last row (status ``(more)``).
    """
    rows: list[dict[str, Any]] = [
        {"step": step, "status": status, "message": msg, "count": int(n), "first_seen_s": first,
         "source": "request"}
        for (step, status, msg), (n, first) in r.metrics.failures.items()]
    for (kind, step, msg), n in r.findings.messages.items():
        seen = [f.at for f in r.findings.examples if (f.kind, f.step, f.message) == (kind, step, msg)]
        rows.append({"step": step, "status": f"check: {kind}", "message": msg, "count": int(n),
                     "first_seen_s": min(seen) if seen else None, "source": "check"})
    rows.sort(key=lambda x: (-x["count"], x["step"], x["status"], x["message"]))
    if limit and len(rows) > limit:
        rest = rows[limit:]
        firsts = [x["first_seen_s"] for x in rest if x["first_seen_s"] is not None]
        rows = [*rows[:limit], {"step": "", "status": "(more)", "count": sum(x["count"] for x in rest),
                                "message": f"{len(rest)} less frequent failure rows, counted together",
                                "first_seen_s": min(firsts) if firsts else None, "source": "more"}]
    return rows
