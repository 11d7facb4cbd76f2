"""Scale events in words and tables: each event, whether it moved traffic, p90 and errors per
phase, degradation per event, the read-back (from :mod:`fpt.judge.continuity`'s outcomes)."""

from __future__ import annotations

from typing import Any

from fpt.evidence.metrics import StepMetrics
from fpt.evidence.result import RunResult
from fpt.judge.continuity import (
    ContinuityJudgement,
    Degradation,
    EventDegradation,
    EventMove,
    Move,
    judge_run,
)
from fpt.judge.outcome import Status


def move_detail(m: EventMove) -> str:
    """What the replicas seen show about one event."""
    if m.move is Move.EVENT_FAILED:
        return f"event failed: {m.event.error}"
    if m.move is Move.NO_REPLICA_HEADER:
        return "no response named its replica (is the served-by header set?)"
    if m.move is Move.NEW_REPLICAS:
        return f"new replicas served users: {', '.join(m.replicas)}"
    if m.move is Move.NO_NEW_REPLICA:
        return "no user reached a new replica"
    if m.move is Move.DRAINED:
        return f"drained replicas: {', '.join(m.replicas)}"
    return "no user's replica was drained"


def not_evidenced_because(j: ContinuityJudgement) -> str:
    """Why the events are not evidence ("" when they are)."""
    return "" if j.evidenced else "; ".join(move_detail(m) for m in j.unmoved)


def degradation_line(d: EventDegradation) -> str:
    """p90 before and during one event, its errors, the limits, and ok or FAILED."""
    if d.kind is Degradation.NO_ITERATIONS:
        return f"event {d.index}: no iterations to compare before/during"
    return (f"event {d.index}: p90 {(d.p90_before_us or 0) / 1000:.1f}ms -> "
            f"{(d.p90_during_us or 0) / 1000:.1f}ms "
            f"(limit x{d.p90_factor:g}), errors {(d.error_rate or 0) * 100:.2f}% "
            f"(limit {d.error_rate_limit * 100:g}%) {'ok' if d.kind is Degradation.WITHIN else 'FAILED'}")


def degradation_detail(j: ContinuityJudgement) -> str:
    """Every event's degradation line."""
    return "; ".join(degradation_line(d) for d in j.degradation)


def phase_stats(m: StepMetrics, seconds: float) -> dict[str, Any]:
    """p50/p90 (ms), error rate, iterations and throughput of one phase."""
    return {"p50_ms": m.hist.percentile(50) / 1000, "p90_ms": m.hist.percentile(90) / 1000,
            "error_rate": m.error_rate, "iterations": m.count,
            "throughput": m.count / seconds if seconds > 0 else 0.0, "seconds": round(seconds, 3)}


def event_row(m: EventMove) -> dict[str, Any]:
    """One event as plain data for the reports: as recorded, and as judged."""
    e = m.event
    return {"label": e.label, "at": round(e.at, 3), "from": e.before, "to": e.target, "ok": e.ok,
            "error": e.error,
            "settled_after": None if e.settled_at is None else round(e.settled_at - e.at, 3),
            "replicas_after": e.replicas_after, "direction": str(m.direction), "moved_traffic": m.moved,
            "move": str(m.move), "moved_detail": move_detail(m)}


def phase_rows(r: RunResult) -> dict[str, dict[str, Any]]:
    """p50/p90, errors and rate of each phase of ``r`` (boundaries of its first timeline)."""
    if r.continuity is None:
        return {}
    out = {}
    for p in r.continuity.timeline.phases:
        m = r.metrics.phases.get(p.name)
        if m is not None:
            out[p.name] = {**phase_stats(m, p.end - p.start), "start": round(p.start, 3),
                           "end": round(p.end, 3)}
    return out


def continuity_view(r: RunResult) -> dict[str, Any]:
    """The scale events of ``r`` as plain data (empty without events): events, phases, whether
    they are evidence and why not, broken sessions, user moves, read-back and degradation."""
    j = judge_run(r)
    c = r.continuity
    if j is None or c is None:
        return {}
    view = {"events": [event_row(m) for m in j.moves], "phases": phase_rows(r), "evidenced": j.evidenced,
            "not_evidenced_because": not_evidenced_because(j), "broken_sessions": c.broken_sessions,
            "user_moves": c.user_moves, "readback": c.readback.to_dict(),
            "degradation": {"status": str(j.degradation_status),
                            "passed": j.degradation_status is Status.PASSED,
                            "detail": degradation_detail(j)}}
    if c.workers > 1:
        view["workers"] = c.workers
    return view
