"""The words for a run's swap verdict: :data:`VERDICT_WORDS` (the reports), :data:`SHORT_WORDS`
(a failure's first line) and :func:`headline` (pytest's one-line summary).

The verdicts themselves are :mod:`fpt.judge.verdict`'s typed outcomes; only the words are here.
"""

from __future__ import annotations

from fpt.evidence.findings import SWAP_KINDS
from fpt.evidence.result import RunResult

VERDICT_WORDS = {
    "fails_alone": "fails alone (a functional bug: it fails for one user with nobody else around)",
    "authorization": "authorization (another user's resource answered with its data: BOLA/IDOR)",
    "shared_connection": "shared connection (another user's data in an answer sent on the keep-alive "
                         "connection that user had just used: state kept per connection, as a pooling "
                         "gateway would mix users)",
    "cache_shared_state": "cache/shared state (another user's data in an answer no concurrent request "
                          "explains)",
    "concurrency": "concurrency (another user's data only in answers that overlapped other requests)",
    "passes": "passes (checks inspected overlapping answers of different users; no swap)",
    "no_overlap": "not evidenced: a checked step never had two users' successful answers overlap "
                  "(raise the rate or the rendezvous burst)",
    "not_checked": "not evidenced: no data-swap check inspected a successful answer",
    "not_scanned": "not evidenced: answers larger than scan_limit were not scanned whole (raise scan_limit)",
}
"""Every verdict word and what it means."""

SHORT_WORDS = {"fails_alone": "fails alone", "authorization": "authorization",
               "shared_connection": "shared connection",
               "cache_shared_state": "cache/shared state", "concurrency": "concurrency"}
"""Verdict words short enough for the first line of a failure."""


def headline(r: RunResult) -> str:
    """What failed, short enough for pytest's one-line summary: ``42 data_swap (concurrency), ...``."""
    parts: list[str] = []
    kinds = sorted(r.findings.counts.items(),
                   key=lambda kv: (kv[0] not in (*SWAP_KINDS, "cross_user"), -kv[1], kv[0]))
    for kind, n in kinds:
        if not n:
            continue
        words = sorted({SHORT_WORDS.get(f.verdict_kind, f.verdict_kind) for f in r.findings.of(kind)}
                       if kind in SWAP_KINDS else set())
        parts.append(f"{n} {kind}" + (f" ({', '.join(words)})" if words else ""))
    bad = [t for t in r.thresholds if not t.passed]
    if bad:
        parts.append(f"{len(bad)} threshold{'s' if len(bad) != 1 else ''} failed")
    alone = r.evidence.alone
    if alone is not None and not alone.passed:
        parts.insert(0, "fails alone")
    if r.engine.started == 0:
        parts.insert(0, "no iteration started")
    if r.incomplete:
        parts.append("incomplete")
    if len(parts) > 4:
        parts = [*parts[:3], f"{len(parts) - 3} more problems"]
    return ", ".join(parts)


