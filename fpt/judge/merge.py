"""Merged runs judged: the exact evidence merge, then every threshold measured on the merged evidence."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from fpt.evidence import merge
from fpt.evidence.result import RunResult
from fpt.judge.loadtypes import merge_load
from fpt.judge.thresholds import measure


def judged(r: RunResult) -> RunResult:
    """``r`` with each of its thresholds measured again on its own evidence."""
    return dataclasses.replace(r, thresholds=tuple(measure(r, t.threshold) for t in r.thresholds))


def merge_results(parts: Sequence[RunResult]) -> RunResult:
    """One judged result from the parts of the same test run on several workers."""
    if len(parts) == 1:
        return parts[0]
    return judged(merge.merge_parts(parts, load=merge_load([p.load for p in parts])))


def merge_by_test(results: Iterable[RunResult]) -> list[RunResult]:
    """Group results by test and call order, merge each group and judge it (``--dist each``)."""
    return [merge_results(g) for g in merge.group_by_test(results)]
