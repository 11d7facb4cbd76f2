"""What the item judges count over runs: findings, their examples, the tests that showed them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fpt.evidence.findings import Finding
from fpt.evidence.result import RunResult
from fpt.judge.dod.catalogue import EXAMPLES
from fpt.judge.verdict import examples as spread


def examples(results: Iterable[RunResult], kinds: Sequence[str]) -> tuple[Finding, ...]:
    """Up to :data:`EXAMPLES` findings of ``kinds`` (worded by :mod:`fpt.report.checklist`)."""
    out: list[Finding] = []
    for r in results:
        for kind in kinds:
            # spread over the run and over users, not the first users alone
            out.extend(spread(r.findings.of(kind), EXAMPLES))
    return tuple(out[:EXAMPLES])


def count(results: Iterable[RunResult], kinds: Sequence[str]) -> int:
    """Findings of ``kinds`` in ``results``."""
    return sum(r.findings.counts.get(k, 0) for r in results for k in kinds)


def names(results: Iterable[RunResult]) -> tuple[str, ...]:
    """The tests of ``results``, each once, in order."""
    return tuple(dict.fromkeys(r.name for r in results))
