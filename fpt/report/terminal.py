"""Plain-text tables for the terminal summary and the progress line."""

from __future__ import annotations

from collections.abc import Sequence

from fpt.dod import Checklist
from fpt.loadtypes import load_lines
from fpt.metrics import StepMetrics
from fpt.result import RunResult
from fpt.runner import Progress

COLUMNS = ("step", "count", "err%", "p50", "p90", "p95", "p99", "max")


def _row(name: str, m: StepMetrics) -> list[str]:
    ms = {k: v / 1000.0 for k, v in m.hist.summary().items()}
    return [name, str(m.count), f"{m.error_rate * 100:.1f}",
            *(f"{ms[k]:.1f}" for k in ("p50", "p90", "p95", "p99", "max"))]


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        cells = [c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)]
        out.append("  ".join(cells))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def run_summary(r: RunResult) -> list[str]:
    """Header line, per-step table (ms) and engine figures of one run."""
    e = r.engine
    lines = [
        f"{r.name} — flow {r.flow} [{r.profile}] target {r.target}",
        f"  rate {r.achieved_rate:.2f}/s achieved of {r.target_rate:.2f}/s ({r.shape}, {r.arrivals}), "
        f"{e.started} iterations, {e.dropped} dropped, {e.cancelled} cancelled, {r.users} users",
        f"  in flight peak {e.peak_inflight} mean {e.mean_inflight:.2f}; "
        f"start lateness p99 {e.lateness.percentile(99) / 1000:.2f}ms max {e.lateness.max / 1000:.2f}ms; "
        f"{r.metrics.requests.count} requests, "
        f"{r.metrics.requests.bytes_in / max(e.window, 1e-9) / 1024:.1f} KiB/s received",
    ]
    if r.broke_at_rate is not None:
        lines.append(f"  breaking point: thresholds broke at {r.broke_at_rate:.1f}/s")
    lines.extend("  " + x for x in load_lines(r.load, r.resources) if x)
    rows: list[list[str]] = [[*COLUMNS]]
    rows.extend(_row(name, m) for name, m in r.metrics.steps.items())
    rows.append(_row("(flow)", r.metrics.flow))
    rows.append(_row("(requests)", r.metrics.requests))
    lines.extend("  " + x for x in _table(rows))
    lines.append("  " + swap_line(r))
    lines.extend("  " + x for x in scaling_lines(r))
    for t in r.thresholds:
        lines.append(f"  {'ok  ' if t.passed else 'FAIL'} {t.detail}")
    for f in r.failures():
        if not f.endswith(("ok", "FAILED")) and "not evidenced" not in f:
            lines.append(f"  FAIL {f}")
    return lines


def swap_line(r: RunResult) -> str:
    """The data-swap verdict, in the judging layer's words, with the evidence behind it."""
    from fpt.judge import PROBLEMS, VERDICT_WORDS, swap_kinds

    ev = r.evidence
    kinds = swap_kinds(r)
    p = ev.probes
    probes = (f"; probes {p.tried} tried / {p.denied} refused / {p.unproven} unproven / "
              f"{p.allowed} allowed / {p.leaked} leaked / {p.errors} errors" if p.enabled else "")
    basis = (f"{', '.join(ev.checks) or 'no checks'}; {ev.inspected} checked answers, "
             f"{ev.inspected_overlap_pairs} overlapping pairs of different users{probes}")
    if kinds:
        return f"FAIL data swap: {'; '.join(VERDICT_WORDS[k] for k in kinds)} ({basis})"
    verdict = r.swap_verdict
    head = "ok  " if verdict == "passes" else "WEAK" if verdict not in PROBLEMS else "FAIL"
    return f"{head} data swap: {VERDICT_WORDS[verdict]} ({basis})"


def scaling_lines(r: RunResult) -> list[str]:
    """Scale events (did they work, did they move traffic) and p90 / errors per phase."""
    c = r.continuity
    if not c:
        return []
    out = []
    for e in c.get("events", []):
        state = "ok" if e.get("ok") else f"FAILED: {e.get('error')}"
        out.append(f"scale event at {e.get('at', 0):.1f}s {e.get('label', '')}: {state}; "
                   f"{e.get('moved_detail', '')}")
    for name, p in c.get("phases", {}).items():
        out.append(f"  phase {name:<10} p50 {p['p50_ms']:.1f}ms p90 {p['p90_ms']:.1f}ms errors "
                   f"{p['error_rate'] * 100:.2f}% {p['throughput']:.1f}/s over {p['seconds']:.1f}s")
    rb = c.get("readback", {})
    out.append(f"read-back: {rb.get('ok', 0)} of {rb.get('tried', 0)} writes found, {rb.get('lost', 0)} "
               f"lost, {rb.get('errors', 0)} errors; broken sessions {c.get('broken_sessions', 0)}")
    return out


def progress_line(p: Progress) -> str:
    """One line: elapsed/total, achieved rate, p90, errors, findings."""
    return (f"fpt {p.elapsed:5.0f}s/{p.duration:.0f}s  {p.rate:7.1f}/s  p90 {p.p90_ms:7.1f}ms  "
            f"errors {p.errors}  findings {p.findings}")


STATUS = {"passed": "ok  ", "failed": "FAIL", "not_evidenced": "N/E "}


def checklist_lines(c: Checklist) -> list[str]:
    """The checklist: one line per item (required ones starred), then the verdict."""
    lines = [f"Definition of Done, level {c.level} (* required):"]
    width = max(len(i.name) for i in c.items)
    for i in c.items:
        star = "*" if i.name in c.required else " "
        lines.append(f"  {STATUS[i.status]} {star} {i.name.ljust(width)}  {i.detail}")
    for reason in c.incomplete:
        lines.append(f"  INCOMPLETE: {reason}")
    lines.append(f"DoD {c.level}: {c.verdict.upper()}"
                 + (f" ({len(c.reasons)} required item(s) not passed)" if c.reasons else ""))
    return lines
