"""Plain-text tables for the terminal summary and the progress line."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from fpt.evidence.metrics import StepMetrics
from fpt.evidence.progress import Progress
from fpt.evidence.result import RunResult
from fpt.judge.dod.checklist import BlockerKind, Checklist
from fpt.judge.outcome import ProblemKind, Status
from fpt.judge.verdict import problems, swap_verdict
from fpt.report.checklist import blocker_words, detail, incomplete_lines
from fpt.report.continuity import continuity_view
from fpt.report.hunting import hunt_lines  # data-swap hunting: arrivals, unevidenced steps, detectors
from fpt.report.loadtypes import load_lines
from fpt.report.problems import problem_line
from fpt.report.thresholds import threshold_words

COLUMNS = ("step", "count", "err %", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms", "rate /s")
LEGEND = ("(flow) = whole iterations of the flow; (requests) = every HTTP request, in steps or not; "
          "rate = count per second of the run")


def _row(name: str, m: StepMetrics, window: float) -> list[str]:
    ms = {k: v / 1000.0 for k, v in m.hist.summary().items()}
    return [name, str(m.count), f"{m.error_rate * 100:.1f}",
            *(f"{ms[k]:.1f}" for k in ("p50", "p90", "p95", "p99", "max")),
            f"{m.count / window:.1f}" if window > 0 else "-"]


def _table(rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        cells = [c.ljust(widths[i]) if i in left else c.rjust(widths[i]) for i, c in enumerate(r)]
        out.append("  ".join(cells))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def run_summary(r: RunResult) -> list[str]:
    """Header line, per-step table (ms) and engine figures of one run."""
    e = r.engine
    kind = "shards' processes" if r.sharded else "xdist workers"
    merged = f" merged from {r.workers} {kind} ({r.worker})" if r.workers > 1 else ""
    lines = [
        f"{r.name} — flow {r.flow} [{r.profile}] target {r.target}{merged}",
        f"  rate {r.achieved_rate:.2f}/s achieved of {r.target_rate:.2f}/s ({r.shape}, {r.arrivals}), "
        f"{e.started} iterations, {e.dropped} dropped, {e.cancelled} cancelled, {r.users} users, "
        f"seed {r.seed}",
        f"  in flight {peak_text(r)} mean {e.mean_inflight:.2f}; "
        f"start lateness p99 {e.lateness.percentile(99) / 1000:.2f}ms max {e.lateness.max / 1000:.2f}ms; "
        f"{r.metrics.requests.count} requests, "
        f"{r.metrics.requests.bytes_in / max(e.window, 1e-9) / 1024:.1f} KiB/s received",
    ]
    if r.broke_at_rate is not None:
        lines.append(f"  breaking point: thresholds broke at {r.broke_at_rate:.1f}/s")
    lines.extend("  " + x for x in load_lines(r.load, r.resources) if x)
    rows: list[list[str]] = [[*COLUMNS]]
    w = e.window
    rows.extend(_row(name, m, w) for name, m in r.metrics.steps.items())
    rows.append(_row("(flow)", r.metrics.flow, w))
    rows.append(_row("(requests)", r.metrics.requests, w))
    lines.extend("  " + x for x in _table(rows))
    lines.append("  " + LEGEND)
    lines.extend("  " + x for x in failure_lines(r))
    lines.append("  " + swap_line(r))
    lines.extend("  " + x for x in hunt_lines(r.evidence))
    lines.extend("  " + x for x in scaling_lines(r))
    from fpt.report.coverage import coverage_lines  # an OpenAPI hunt: every operation, or why not
    lines.extend("  " + x for x in coverage_lines(r.coverage))
    for t in r.thresholds:
        lines.append(f"  {'ok  ' if t.passed else 'FAIL'} {threshold_words(t)}")
    # Thresholds are shown above; a check that could show nothing is not a failure line.
    lines.extend(f"  FAIL {problem_line(r, p)}" for p in problems(r)
                 if p.kind is not ProblemKind.THRESHOLD and p.status is Status.FAILED)
    return lines


def failure_lines(r: RunResult, top: int = 5) -> list[str]:
    """The most frequent failures (request statuses, exceptions, failed checks), as a small table."""
    from fpt.evidence.stats import failure_rows

    rows = failure_rows(r)
    if not rows:
        return []
    table = [["count", "first s", "step", "status / exception", "message"]]
    for f in rows[:top]:
        first = f["first_seen_s"]
        table.append([str(f["count"]), "-" if first is None else f"{first:.2f}", f["step"], f["status"],
                      f["message"][:80]])
    more = f" (top {top} of {len(rows)}; all in fpt-failures.csv)" if len(rows) > top else ""
    return [f"failures{more}:", *(x.rstrip() for x in _table(table, left=(2, 3, 4)))]


def peak_text(r: RunResult) -> str:
    """Peak in-flight iterations; for a run merged from xdist workers, honest bounds."""
    e = r.engine
    if e.peak_inflight_sum and r.workers > 1:
        return (f"peak between {e.peak_inflight} and {e.peak_inflight_sum} (largest worker's peak; "
                f"sum of the workers' peaks, which need not coincide)")
    return f"peak {e.peak_inflight}"


def swap_line(r: RunResult) -> str:
    """The data-swap verdict, in the judging layer's words, with the evidence behind it."""
    from fpt.judge.verdict import PROBLEMS, swap_kinds
    from fpt.report.verdict import VERDICT_WORDS

    ev = r.evidence
    kinds = swap_kinds(r)
    p = ev.probes
    probes = (f"; probes {p.tried} tried / {p.denied} refused / {p.unproven} unproven / "
              f"{p.allowed} 2xx without the owner's data (unproven) / {p.leaked} leaked / {p.errors} errors"
              if p.enabled else "")
    kind = "shard's process, never across shards" if r.sharded else "xdist worker"
    within = f" (counted within each {kind})" if r.workers > 1 else ""
    basis = (f"{', '.join(ev.checks) or 'no checks'}; {ev.inspected} checked answers, "
             f"{ev.inspected_overlap_pairs} overlapping pairs of different users{within}{probes}")
    if kinds:
        return f"FAIL data swap: {'; '.join(VERDICT_WORDS[k] for k in kinds)} ({basis})"
    verdict = swap_verdict(r)
    head = "ok  " if verdict == "passes" else "WEAK" if verdict not in PROBLEMS else "FAIL"
    return f"{head} data swap: {VERDICT_WORDS[verdict]} ({basis})"


def scaling_lines(r: RunResult) -> list[str]:
    """Scale events (did they work, did they move traffic) and p90 / errors per phase."""
    c = continuity_view(r)
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
    not_made = (f", {rb['skipped']} not made ({rb.get('not_kept', 0)} not kept for read-back)"
                if rb.get("skipped") else "")
    out.append(f"read-back: {rb.get('ok', 0)} of {rb.get('tried', 0)} writes found, {rb.get('lost', 0)} "
               f"lost, {rb.get('errors', 0)} errors{not_made}; broken sessions {c.get('broken_sessions', 0)}")
    return out


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def progress_line(p: Progress) -> str:
    """One line: test, phase, elapsed/total, achieved vs target rate, p90, errors, findings."""
    return (f"fpt {_short(p.name)}  {p.phase}  {p.elapsed:.0f}s/{p.duration:.0f}s  "
            f"{p.rate:.1f}/s of {p.target_rate:.1f}/s  p90 {p.p90_ms:.1f}ms  "
            f"errors {p.errors}  findings {p.findings}")


class LiveView:
    """The progress of long runs: one line redrawn in place on a TTY, a plain line every
    ``every`` seconds (and at each change of phase) otherwise; nothing for runs shorter
    than ``min_duration``.

    ``write(text, tty)`` puts text on the terminal (the plugin suspends pytest's capture
    around it); ``clock`` is injectable for tests.
    """

    def __init__(self, write: Callable[[str], None], *, tty: bool, every: float = 5.0,
                 min_duration: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 width: int = 0) -> None:
        self.write = write
        self.tty = tty
        #: terminal columns: a redrawn line must not wrap, or "\r" cannot take it back
        self.width = width
        self.every = every
        self.min_duration = min_duration
        self.clock = clock
        self._last = -1e9
        self._drawn = 0
        self._shown = False
        self._phase = ""

    def __call__(self, p: Progress) -> None:
        """Show ``p`` if it is time to."""
        if p.duration < self.min_duration:
            return
        line = progress_line(p)
        if self.tty:
            if self.width > 1:
                line = line[: self.width - 1]
            # Redrawn in place every tick; the last state stays on its own line when the run is done.
            end = "\n" if p.phase == "done" else ""
            self.write("\r" + line.ljust(self._drawn) + end)
            self._drawn = 0 if end else len(line)
            return
        now = self.clock()
        if p.phase == "done":
            if self._shown:
                self.write(line + "\n")
            self._shown = False
            self._phase = ""
            return
        if now - self._last >= self.every or p.phase != self._phase:  # and whenever the phase changes
            self._last = now
            self._phase = p.phase
            self._shown = True
            self.write(line + "\n")


_ITEM_OR_INCOMPLETE = (BlockerKind.ITEM, BlockerKind.INCOMPLETE, BlockerKind.MISSING_PART)
STATUS = {"passed": "ok  ", "failed": "FAIL", "not_evidenced": "N/E "}


def checklist_rows(c: Checklist) -> list[tuple[str, str]]:
    """The checklist as (line, status) pairs: each line coloured by its own status.

    Status is ``passed``, ``failed`` or ``not_evidenced`` for items, the verdict for the
    last line, and ``""`` for the heading.
    """
    rows = [(f"Definition of Done, level {c.level} (* required; ok = passed, FAIL = failed, "
             "N/E = not evidenced):", "")]
    width = max(len(i.name) for i in c.items)
    for i in c.items:
        star = "*" if i.name in c.required else " "
        rows.append((f"  {STATUS[i.status]} {star} {i.name.ljust(width)}  {detail(i)}", i.status))
    if c.shard is not None:
        rows.append((f"  PARTIAL: shard {c.shard.label} of session {c.shard.session}: never passes alone; "
                     "`fpt merge` every shard's directory, then gate the merged checklist", "failed"))
    incomplete = incomplete_lines(c)
    for reason in incomplete:
        rows.append((f"  INCOMPLETE: {reason}", "failed"))
    # The count is of items; the session's other reasons (a failed test, a run's own checks, an
    # exploration) are lines of their own, counted apart.
    not_passed = [n for n in c.required if c.item(n).status != "passed"]
    others = [blocker_words(c, b) for b in c.blockers if b.kind not in _ITEM_OR_INCOMPLETE]
    rows.extend((f"  FAILED: {reason}", "failed") for reason in others)
    counts = [f"{len(not_passed)} required item(s) not passed"] if not_passed else []
    if others or incomplete:
        counts.append(f"{len(others) + len(incomplete)} other reason(s)")
    rows.append((f"DoD {c.level}: {c.verdict.upper()}" + (f" ({', '.join(counts)})" if counts else ""),
                 c.verdict))
    return rows


def checklist_lines(c: Checklist) -> list[str]:
    """The checklist: one line per item (required ones starred), then the verdict."""
    return [line for line, _ in checklist_rows(c)]


def last_line(c: Checklist, exit_code: int) -> str:
    """fpt's last word in the terminal: the verdict and the exit code, whatever other plugins printed."""
    return f"fpt: DoD {c.level} {c.verdict.upper()}; exit code {exit_code}"
