"""Run-level judgement: pure functions of a finished run's result and evidence.

The same words everywhere (run line, ``FptFailure``, checklist, reports):

- *fails alone*: the flow fails for one user with nobody else around (functional);
- *authorization*: another user's resource answered with its data (BOLA/IDOR);
- *cache/shared state*: another user's data in an answer that no concurrent request
  could explain (a cache keyed without the user, state kept app-wide);
- *concurrency*: another user's data only in answers that overlapped other requests.

A run without such findings *passes* only when a check inspected successful answers
that overlapped another user's; otherwise it is *no overlap* or *not checked*.
"""

from __future__ import annotations

from fpt.records import SWAP_KINDS, Finding
from fpt.result import RunResult

VERDICT_WORDS = {
    "fails_alone": "fails alone (a functional bug: it fails for one user with nobody else around)",
    "authorization": "authorization (another user's resource answered with its data: BOLA/IDOR)",
    "cache_shared_state": "cache/shared state (another user's data in an answer no concurrent request "
                          "explains)",
    "concurrency": "concurrency (another user's data only in answers that overlapped other requests)",
    "passes": "passes (checks inspected overlapping answers of different users; no swap)",
    "no_overlap": "not evidenced: no two users' successful, checked answers overlapped "
                  "(raise the rate or use rendezvous arrivals)",
    "not_checked": "not evidenced: no data-swap check inspected a successful answer",
}
"""Every verdict word and what it means."""

PROBLEMS = ("fails_alone", "authorization", "cache_shared_state", "concurrency")


def swap_kinds(r: RunResult) -> tuple[str, ...]:
    """Which kinds of problem the run showed, in :data:`PROBLEMS` order (empty when none)."""
    found: set[str] = set()
    alone = r.evidence.alone
    if alone is not None and not alone.passed:
        found.add("fails_alone")
    if r.findings.counts.get("cross_user", 0):
        found.add("authorization")
    for f in r.findings.examples:
        if f.kind in SWAP_KINDS:
            found.add(f.verdict_kind)
    if any(r.findings.counts.get(k, 0) for k in SWAP_KINDS) and not found & {"cache_shared_state",
                                                                            "concurrency"}:
        found.add("concurrency")  # examples were capped: the kind of the rest is unknown
    return tuple(k for k in PROBLEMS if k in found)


def swap_verdict(r: RunResult) -> str:
    """One word for the run: the first problem found, else what the evidence allows."""
    kinds = swap_kinds(r)
    if kinds:
        return kinds[0]
    ev = r.evidence
    if not ev.inspected:
        return "not_checked"
    if not ev.inspected_overlap_pairs:
        return "no_overlap"
    return "passes"


def examples(findings: list[Finding], n: int = 3) -> list[Finding]:
    """Up to ``n`` examples, preferring different users (the first users alone can mislead)."""
    out: list[Finding] = []
    seen: set[str] = set()
    for f in findings:
        if f.user not in seen:
            out.append(f)
            seen.add(f.user)
        if len(out) == n:
            return out
    for f in findings:
        if f not in out:
            out.append(f)
        if len(out) == n:
            break
    return out


def failures(r: RunResult, *, thresholds: bool = True) -> list[str]:
    """Readable reasons this run fails its checks (empty when it passes).

    ``thresholds=False`` leaves the run's own thresholds out (the checklist judges them in
    its performance items, where a stress run's breaking point is expected).
    """
    out = [t.detail for t in r.thresholds if not t.passed] if thresholds else []
    for kind, n in sorted(r.findings.counts.items()):
        shown = examples(r.findings.of(kind))
        words = {f.verdict_kind for f in shown}
        label = f" ({', '.join(sorted(words))})" if kind in (*SWAP_KINDS, "cross_user") else ""
        out.append(f"{n} {kind} finding{'s' if n != 1 else ''}{label}"
                   + "".join(f"\n      e.g. {f.one_line()}" for f in shown))
    e = r.engine
    if e.cancelled:
        out.append(f"{e.cancelled} iterations did not finish within the grace and were cancelled")
    if e.crashed:
        out.append(f"{e.crashed} iterations crashed inside fpt")
    if e.started == 0:
        out.append("no iteration started: nothing was tested")
    alone = r.evidence.alone
    if alone is not None and not alone.passed:
        out.append("fails for one user alone (a functional bug, not a concurrency one): "
                   + "; ".join(alone.failures[:3]))
    probes = r.evidence.probes
    if probes.allowed:
        out.append(f"{probes.allowed} cross-user probes were answered 2xx without a refusal "
                   "(declare the route in public_paths if any user may read it)")
    if r.incomplete:
        out.append("incomplete: part of the run is missing (a worker crashed or was interrupted)")
    return out
