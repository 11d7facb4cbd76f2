"""Per-step statistics and the failures table of a run: plain rows for JSON, CSV and HTML.

Pure functions of a :class:`fpt.evidence.result.RunResult` (no new measuring): what Locust's
statistics and failures tables and k6's end-of-test summary show, per run.
"""

from __future__ import annotations

from typing import TypedDict

from fpt.evidence.metrics import StepMetrics
from fpt.evidence.result import RunResult

FAILURE_ROWS = 100
"""Failure rows per run kept in fpt-dod.json and fpt-failures.csv (the rest summed in one row)."""
FLOW_ROW, REQUESTS_ROW = "(flow)", "(requests)"
"""Rows beside the steps: whole iterations of the flow, and every HTTP request."""
PERCENTILES = (50, 90, 95, 99)
"""The percentiles of a :class:`StepRow` (its ``p50_ms`` ... ``p99_ms``)."""


class StepRow(TypedDict):
    """One row of a run's per-step statistics: a step, ``(flow)`` or ``(requests)``.

    Times in milliseconds, ``None`` when nothing finished; ``errors`` by kind and ``statuses``
    (HTTP status or exception) counted apart.
    """

    step: str
    kind: str
    count: int
    failed: int
    error_rate: float
    errors: dict[str, int]
    statuses: dict[str, int]
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    throughput_per_s: float


class FailureRow(TypedDict):
    """One row of a run's failures table: failed requests or checks of one step, status and message.

    ``first_seen_s`` in run seconds (``None`` when unknown); ``source`` is ``request``, ``check``,
    or ``more`` for the row that counts the rest together.
    """

    step: str
    status: str
    message: str
    count: int
    first_seen_s: float | None
    source: str


def _ms(m: StepMetrics, us: float) -> float | None:
    """``us`` in milliseconds, ``None`` when nothing finished."""
    return round(us / 1000, 3) if m.count else None


def _row(name: str, kind: str, m: StepMetrics, window: float, statuses: dict[str, int]) -> StepRow:
    h = m.hist
    return {
        "step": name, "kind": kind, "count": m.count, "failed": m.failed,
        "error_rate": round(m.error_rate, 6), "errors": dict(sorted(m.errors.items())),
        "statuses": dict(sorted(statuses.items())),
        "p50_ms": _ms(m, h.percentile(50)), "p90_ms": _ms(m, h.percentile(90)),
        "p95_ms": _ms(m, h.percentile(95)), "p99_ms": _ms(m, h.percentile(99)),
        "max_ms": _ms(m, h.max), "mean_ms": _ms(m, h.mean),
        "throughput_per_s": round(m.count / window, 3) if window > 0 else 0.0,
    }


def step_stats(r: RunResult) -> list[StepRow]:
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


def failure_rows(r: RunResult, limit: int = 0) -> list[FailureRow]:
    """Failed requests by step, status or exception, and message; then failed checks (findings).

    Each row: step, status, message, count, first seen (run seconds, None when unknown),
    and source (``request`` or ``check``); most frequent first. With ``limit``, the rows
    past it are counted together in one last row (status ``(more)``).
    """
    rows: list[FailureRow] = [
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
