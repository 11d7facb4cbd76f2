"""Run-level judgement: pure functions of a finished run's result and evidence.

The same verdicts everywhere (run line, ``FptFailure``, checklist, reports; their words are
:mod:`fpt.report.verdict`'s):

- *fails alone*: the flow fails for one user with nobody else around (functional);
- *authorization*: another user's resource answered with its data (BOLA/IDOR);
- *shared connection*: another user's data in an answer sent on the keep-alive connection
  that user had just used (state kept per connection: a pooling gateway mixes users);
- *cache/shared state*: another user's data in an answer that no concurrent request
  could explain (a cache keyed without the user, state kept app-wide);
- *concurrency*: another user's data only in answers that overlapped other requests.

A run without such findings *passes* only when a check inspected successful answers
that overlapped another user's; otherwise it is *no overlap* or *not checked*.
"""

from __future__ import annotations

from fpt.evidence.findings import SWAP_KINDS, Finding
from fpt.evidence.loadtypes import LoadEvidence
from fpt.evidence.result import RunResult
from fpt.judge.loadtypes import recovered, spike_kind, spike_passed, stress_kind
from fpt.judge.outcome import Problem, ProblemKind, Status

PROBLEMS = ("fails_alone", "authorization", "shared_connection", "cache_shared_state", "concurrency")


def swap_kinds(r: RunResult) -> tuple[str, ...]:
    """Which kinds of problem the run showed, in :data:`PROBLEMS` order (empty when none)."""
    found: set[str] = set()
    alone = r.evidence.alone
    if alone is not None and not alone.passed:
        found.add("fails_alone")
    if r.findings.counts.get("cross_user", 0):
        # As asked again alone after the load (fpt.run.detectors.attribution): refused alone is concurrency.
        found.update({f.verdict_kind for f in r.findings.of("cross_user")} or {"authorization"})
    for f in r.findings.examples:
        if f.kind in SWAP_KINDS:
            found.add(f.verdict_kind)
    if any(r.findings.counts.get(k, 0) for k in SWAP_KINDS) and not found & {"cache_shared_state",
                                                                            "concurrency",
                                                                            "shared_connection"}:
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
    if ev.scan.truncated:
        return "not_scanned"
    if not ev.inspected_overlap_pairs or ev.steps_without_overlap:
        return "no_overlap"
    return "passes"


def examples(findings: list[Finding], n: int = 3) -> list[Finding]:
    """Up to ``n`` examples, preferring different users spread over the run (not just the first users)."""
    # Visit the kept examples first, last, middle, quarters...: a spread over the run.
    order: list[int] = []
    step = len(findings)
    while step >= 1 and len(order) < len(findings):
        for i in range(0, len(findings), step):
            if i not in order:
                order.append(i)
        if len(findings) - 1 not in order:
            order.append(len(findings) - 1)
        step //= 2
    spread = [findings[i] for i in order]
    out: list[Finding] = []
    seen: set[str] = set()
    for f in spread:
        if f.user not in seen:
            out.append(f)
            seen.add(f.user)
        if len(out) == n:
            return out
    for f in spread:
        if f not in out:
            out.append(f)
        if len(out) == n:
            break
    return out


def problems(r: RunResult, *, thresholds: bool = True) -> tuple[Problem, ...]:
    """Why this run fails its checks (empty when it passes), in the order the reports show them.

    ``thresholds=False`` leaves the run's own thresholds out (the checklist judges them in
    its performance items, where a stress run's breaking point is expected).
    """
    out = [Problem(kind=ProblemKind.THRESHOLD, subject=t.expr) for t in r.thresholds if not t.passed] \
        if thresholds else []
    out.extend(Problem(kind=ProblemKind.FINDINGS, subject=kind, count=n)
               for kind, n in sorted(r.findings.counts.items()))
    e = r.engine
    if e.cancelled:
        out.append(Problem(kind=ProblemKind.CANCELLED, count=e.cancelled))
    if r.abandoned:
        out.append(Problem(kind=ProblemKind.ABANDONED, count=r.abandoned))
    if e.crashed:
        out.append(Problem(kind=ProblemKind.CRASHED, count=e.crashed))
    if e.started == 0:
        out.append(Problem(kind=ProblemKind.NOTHING_STARTED))
    alone = r.evidence.alone
    if alone is not None and not alone.passed:
        out.append(Problem(kind=ProblemKind.FAILS_ALONE, count=len(alone.failures)))
    if r.incomplete:
        out.append(Problem(kind=ProblemKind.INCOMPLETE))
    out.extend(load_problems(r.load))
    return tuple(out)


def load_problems(load: LoadEvidence) -> list[Problem]:
    """Why the run fails as a stress or spike test (empty when it does not, or was neither)."""
    out = []
    st = load.stress
    if st is not None and st.broke and recovered(st) is not True:
        out.append(Problem(kind=ProblemKind.STRESS, subject=str(stress_kind(st))))
    sp = load.spike
    if sp is not None and spike_passed(sp) is not True:
        out.append(Problem(kind=ProblemKind.SPIKE, subject=str(spike_kind(sp)),
                           status=Status.NOT_EVIDENCED if spike_passed(sp) is None else Status.FAILED))
    return out
