"""Merge the run results of several xdist workers into one, exactly.

Counts add, histograms merge bucket by bucket, findings and evidence add, and
thresholds are judged again on the merged data — never averaged from the parts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from fpt.config.hist import Histogram
from fpt.config.thresholds import Unmeasurable, evaluate
from fpt.evidence.checks import merge_evidence
from fpt.evidence.continuity import merge_continuity
from fpt.evidence.coverage import merge_coverage
from fpt.evidence.engine import EngineStats
from fpt.evidence.findings import FindingLog
from fpt.evidence.loadtypes import LoadEvidence
from fpt.evidence.metrics import Metrics
from fpt.evidence.resources import merge as merge_resources
from fpt.evidence.result import RunResult

_SUMMED = ("planned", "started", "completed", "crashed", "dropped_no_user", "dropped_cap", "dropped_late",
           "cancelled", "overlapped_starts")


def merge_engine(parts: Sequence[EngineStats]) -> EngineStats:
    """Engine figures of workers that ran side by side over the same window."""
    lateness = Histogram()
    for p in parts:
        lateness.merge(p.lateness)
    summed = {k: sum(getattr(p, k) for p in parts) for k in _SUMMED}
    stopped = [p.stopped_at for p in parts if p.stopped_at is not None]
    return EngineStats(
        **summed, window=max(p.window for p in parts), elapsed=max(p.elapsed for p in parts),
        # Per-worker peaks need not coincide: their sum is an upper bound, the max a lower one.
        peak_inflight=max(p.peak_inflight for p in parts),
        peak_inflight_sum=sum(p.peak_inflight for p in parts),
        mean_inflight=sum(p.mean_inflight for p in parts), lateness=lateness,
        stopped_at=min(stopped) if stopped else None,
    )


def merge_parts(parts: Sequence[RunResult], *, load: LoadEvidence) -> RunResult:
    """One result from the parts of the same test run on several workers.

    ``load``: the parts' load-type evidence as merged by the judge (where one part must stand for
    all, the worst as it ranks them: :func:`fpt.judge.loadtypes.merge_load`).

    Threshold outcomes cannot be merged: they come back unmeasured (failing), to be judged
    again on the merged evidence by :func:`fpt.judge.merge.merge_results`.
    """
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    metrics = Metrics()
    findings = FindingLog()
    for p in parts:
        metrics.merge(p.metrics)
        findings.merge(p.findings)
    merged = dataclasses.replace(
        first,
        engine=merge_engine([p.engine for p in parts]), metrics=metrics, findings=findings,
        evidence=merge_evidence(p.evidence for p in parts), users=sum(p.users for p in parts),
        target_rate=sum(p.target_rate for p in parts), first_user=min(p.first_user for p in parts),
        worker=",".join(p.worker for p in parts), workers=sum(p.workers for p in parts),
        sharded=any(p.sharded for p in parts),
        continuity=merge_continuity([p.continuity for p in parts]),
        incomplete=any(p.incomplete for p in parts),
        broke_at_rate=None if all(p.broke_at_rate is None for p in parts)
        else sum(p.broke_at_rate or 0.0 for p in parts),
        thresholds=(),
        # The same service read by several workers is one series (each second once); each
        # worker's own process is a series of its own (``fpt:gw0``...).
        resources=merge_resources(s for p in parts for s in p.resources),
        load=load,
        coverage=merge_coverage(p.coverage for p in parts),
        # Every worker's part had the same settings: one weakening each, what it hid summed.
        weakened=tuple(dataclasses.replace(w, hid={k: sum(q.weakened[i].hid.get(k, 0) for q in parts
                                                          if len(q.weakened) > i) for k in w.hid})
                       for i, w in enumerate(first.weakened)),
        abandoned=sum(p.abandoned for p in parts),
    )
    unjudged = tuple(evaluate(t.threshold, None, Unmeasurable.MERGED_NOT_JUDGED) for t in first.thresholds)
    return dataclasses.replace(merged, thresholds=unjudged)


def group_by_test(results: Iterable[RunResult]) -> list[list[RunResult]]:
    """Results grouped by test and call order: the parts of one run (``--dist each``)."""
    groups: dict[tuple[str, int], list[RunResult]] = {}
    seen: dict[tuple[str, str], int] = {}
    for r in results:
        n = seen.get((r.name, r.worker), 0)
        seen[(r.name, r.worker)] = n + 1
        groups.setdefault((r.name, n), []).append(r)
    return list(groups.values())
