"""Why a run fails its checks, in words: each :class:`~fpt.judge.outcome.Problem` of
:func:`fpt.judge.verdict.problems` as one line (findings with examples that reproduce them)."""

from __future__ import annotations

from fpt.evidence.findings import SWAP_KINDS, Finding, texts
from fpt.evidence.result import RunResult
from fpt.judge.outcome import Problem, ProblemKind
from fpt.judge.verdict import examples, problems
from fpt.report.alone import alone_reason
from fpt.report.findings import finding_line
from fpt.report.loadtypes import spike_line, stress_line
from fpt.report.thresholds import threshold_words


def example_line(f: Finding) -> str:
    """A finding's line with what reproduces it: request id, time, and masked values side by side."""
    line = finding_line(f)
    ev = f.evidence
    expected, found = texts(ev.get("expected")), texts(ev.get("found"))
    if expected and found:
        fps = (texts(ev.get("expected_fp")) or [""] * len(expected),
               texts(ev.get("found_fp")) or [""] * len(found))
        pairs = [f"expected {e}{(' ' + ef) if ef else ''}, found {x}{(' ' + xf) if xf else ''}"
                 for e, x, ef, xf in zip(expected, found, *fps, strict=False)]
        line += f"; {'; '.join(pairs[:2])}"
    where = [f"request {f.request_id}" if f.request_id else "", f"at {f.at:.2f}s"]
    return f"{line} ({', '.join(w for w in where if w)})"


def _findings_line(r: RunResult, kind: str, n: int) -> str:
    shown = examples(r.findings.of(kind))
    words = {f.verdict_kind for f in shown}
    label = f" ({', '.join(sorted(words))})" if kind in (*SWAP_KINDS, "cross_user") else ""
    users = len({f.user for f in r.findings.of(kind)})
    kept = len(r.findings.of(kind))
    seen_by = f", {users} users among the {kept} kept" if kept else ""
    return (f"{n} {kind} finding{'s' if n != 1 else ''}{label}{seen_by}"
            + "".join(f"\n      e.g. {example_line(f)}" for f in shown))


def problem_line(r: RunResult, p: Problem) -> str:
    """One problem of ``r`` in words (findings with up to three examples on lines of their own)."""
    k = p.kind
    if k is ProblemKind.THRESHOLD:
        failed = (t for t in r.thresholds if t.expr == p.subject and not t.passed)
        return next((threshold_words(t) for t in failed), p.subject)
    if k is ProblemKind.FINDINGS:
        return _findings_line(r, p.subject, p.count)
    if k is ProblemKind.CANCELLED:
        return f"{p.count} iterations did not finish within the grace and were cancelled"
    if k is ProblemKind.ABANDONED:
        return (f"{p.count} iterations did not stop when cancelled and were abandoned (a flow that "
                "swallows cancellation: a bare except around an await)")
    if k is ProblemKind.CRASHED:
        return f"{p.count} iterations crashed inside fpt"
    if k is ProblemKind.NOTHING_STARTED:
        return "no iteration started: nothing was tested"
    if k is ProblemKind.FAILS_ALONE:
        alone = r.evidence.alone
        return ("fails for one user alone (a functional bug, not a concurrency one): "
                + "; ".join(alone_reason(a) for a in (alone.failures[:3] if alone is not None else ())))
    if k is ProblemKind.PROBES_ALLOWED:
        return (f"{p.count} cross-user probes were answered 2xx without a refusal "
                "(declare the route in public_paths if any user may read it)")
    if k is ProblemKind.INCOMPLETE:
        return "incomplete: part of the run is missing (a worker crashed or was interrupted)"
    if k is ProblemKind.STRESS and r.load.stress is not None:
        return stress_line(r.load.stress)
    if k is ProblemKind.SPIKE and r.load.spike is not None:
        return spike_line(r.load.spike)
    return p.key


def failures(r: RunResult, *, thresholds: bool = True) -> list[str]:
    """Readable reasons this run fails its checks (empty when it passes): :func:`problem_line`
    of each of :func:`fpt.judge.verdict.problems`."""
    return [problem_line(r, p) for p in problems(r, thresholds=thresholds)]
