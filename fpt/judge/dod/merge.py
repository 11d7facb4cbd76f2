"""Several checklists as one (``fpt gate FILE...``): an item fails if any file failed it, passes
if any passed it and none failed; a file that failed its own verdict never turns green."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from fpt.evidence.narrowing import Selection
from fpt.judge.dod.catalogue import FAILED, ITEMS, NOT_EVIDENCED, PASSED
from fpt.judge.dod.checklist import Checklist, ItemOutcome, TestCounts
from fpt.judge.dod.facts import MergedFacts


def merge_item(name: str, lists: Sequence[Checklist]) -> ItemOutcome:
    """Item ``name`` over every checklist that has it."""
    parts = [c.item(name) for c in lists if any(i.name == name for i in c.items)]
    status = (FAILED if any(p.status == FAILED for p in parts)
              else PASSED if any(p.status == PASSED for p in parts) else NOT_EVIDENCED)
    chosen = [p for p in parts if p.status == status]
    return ItemOutcome(name=name, status=status, facts=MergedFacts(parts=tuple(p.facts for p in chosen)),
                       tests=tuple(dict.fromkeys(t for p in chosen for t in p.tests)),
                       evidence={"files": len(parts), "statuses": [str(p.status) for p in parts]})


def merge(lists: Sequence[Checklist], *, level: str, levels: Mapping[str, Sequence[str]]) -> Checklist:
    """Several squads' checklists as one, judged at ``level``."""
    if level not in levels:
        raise ValueError(f"unknown DoD level {level!r}; known: {', '.join(sorted(levels))}")
    tests = TestCounts(passed=sum(c.tests.passed for c in lists), failed=sum(c.tests.failed for c in lists),
                       skipped=sum(c.tests.skipped for c in lists))
    return Checklist(level=level, required=tuple(levels[level]),
                     items=tuple(merge_item(name, lists) for name in ITEMS), tests=tests,
                     incomplete=tuple(x for c in lists for x in c.incomplete),
                     missing_parts=tuple(x for c in lists for x in c.missing_parts),
                     runs=tuple(r for c in lists for r in c.runs),
                     explorations=tuple(e for c in lists for e in c.explorations),
                     selection=Selection(
                         deselected=tuple(t for c in lists for t in c.selection.deselected),
                         last_failed=any(c.selection.last_failed for c in lists)),
                     weakened=tuple(w for c in lists for w in c.weakened),
                     created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     sources=tuple(s for c in lists for s in c.sources),
                     # A file that failed its own gate never turns green by being merged with others.
                     failed_sources=tuple(
                         (", ".join(c.sources) or f"checklist {i + 1}") for i, c in enumerate(lists)
                         if c.verdict != PASSED) + tuple(x for c in lists for x in c.failed_sources))
