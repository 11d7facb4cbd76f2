"""The HTML report: checklist, runs, failures, findings and plots, one self-contained page.

Templated with Jinja2 (autoescaped: nothing a service returned can inject markup)
and plotted with Matplotlib's SVG backend, inlined: the page needs no network, no
CDN and no JavaScript, so it opens the same in a browser, a CI artifact viewer or
headless Chromium.

Per run: a header with the run's parameters and verdict; the load over time (total
throughput against the target rate, in-flight iterations, errors by step and kind)
with scale events as labelled bands beside the per-phase table; latency as small
multiples, one panel per step; the read-back on its own panel (its burst would
flatten the load); the failures table; findings grouped by kind with both users,
masked values with fingerprints (equal or different at a glance), and a redacted
``curl`` line for the request.
"""

from __future__ import annotations

import io
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from fpt.config.redact import url as redact_url
from fpt.evidence.findings import SWAP_KINDS, Finding, texts
from fpt.evidence.metrics import StepMetrics
from fpt.evidence.result import RunResult
from fpt.evidence.stats import failure_rows, step_stats
from fpt.judge.dod.catalogue import ITEMS
from fpt.judge.dod.checklist import Checklist
from fpt.judge.outcome import ProblemKind
from fpt.judge.verdict import problems, swap_verdict
from fpt.report.checklist import detail, incomplete_lines, reasons
from fpt.report.continuity import continuity_view, phase_rows
from fpt.report.problems import failures, problem_line
from fpt.report.thresholds import threshold_words

PERCENTILES = (50, 90, 99)
READBACK_STEP = "fpt.readback"  # the read-back's step (fpt.run.detectors.continuity.READBACK_STEP)
EVENT_COLOUR = "#8e44ad"
EXAMPLES_PER_KIND = 4
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


def _svg(fig: Any) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inlined in HTML


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    fig.set_layout_engine("constrained")
    return fig


def _whole_seconds(axes: Sequence[Any]) -> None:
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _readback_start(r: RunResult) -> float | None:
    """Run second the read-back began (the end of the last load phase), None without one."""
    phases = phase_rows(r)
    ends = [p.get("end", 0.0) for p in phases.values()]
    return max(ends) if ends else None


def _load_seconds(r: RunResult) -> list[int]:
    """Whole seconds (or whole series buckets, past an hour) of the load window: the partial last
    one and the read-back left out."""
    last = int(r.engine.window)  # a second that only partly ran would drop towards zero
    rb = _readback_start(r)
    if rb is not None:
        last = min(last, int(rb))
    res = r.metrics.resolution
    return list(range(0, max(last - res + 1, 0), res))


def _mark_events(r: RunResult, axes: Sequence[Any], label_ax: Any) -> None:
    """Scale phases as shaded bands, events as lines, labelled above the top panel (off the data)."""
    c = continuity_view(r)
    for name, ph in c.get("phases", {}).items():
        if name.startswith("during") and "start" in ph and "end" in ph:
            for ax in axes:
                ax.axvspan(ph["start"], ph["end"], color=EVENT_COLOUR, alpha=0.10, linewidth=0)
    for n, ev in enumerate(c.get("events", []), 1):
        at = ev.get("at", 0)
        for ax in axes:
            ax.axvline(at, color=EVENT_COLOUR, linestyle="-.", linewidth=1)
        state = "" if ev.get("ok") else " (failed)"
        # Alternate heights: labels of events close together do not overwrite each other.
        label_ax.text(at, 1.02 if n % 2 else 1.12,
                      f"{n}: {ev.get('label') or ('scale to ' + str(ev.get('target')))}{state}",
                      transform=label_ax.get_xaxis_transform(), fontsize=8, color=EVENT_COLOUR,
                      ha="left", va="bottom", clip_on=False)


def load_plot(r: RunResult) -> str:
    """Total throughput against the target, in-flight iterations, and errors by step and kind, per second."""
    seconds = _load_seconds(r)
    series = r.metrics.series
    res = r.metrics.resolution  # seconds a point covers (1 up to an hour): every count is per second
    steps = [s for s in r.metrics.steps if s != READBACK_STEP]

    def flow(s: int) -> StepMetrics | None:
        return series.get(s, {}).get("@flow")

    errors: dict[str, list[float]] = {}
    for i, s in enumerate(seconds):
        for step in steps:
            m = series.get(s, {}).get(step)
            for kind, n in (m.errors.items() if m is not None else ()):
                errors.setdefault(f"{step}: {kind}", [0.0] * len(seconds))[i] += n / res
    rows = 3 if errors else 2
    fig = _figure(9, 2.1 * rows + 0.6)
    axes = fig.subplots(rows, 1, sharex=True)
    ax_tp, ax_in = axes[0], axes[1]
    done = [(flow(s).count / res if flow(s) is not None else 0) for s in seconds]  # type: ignore[union-attr]
    reqs = [series.get(s, {})["*"].count / res if "*" in series.get(s, {}) else 0 for s in seconds]
    ax_tp.plot(seconds, done, color=COLOURS[0], linewidth=1.6, label="iterations completed /s")
    ax_tp.plot(seconds, reqs, color=COLOURS[7], linewidth=1, linestyle=":", label="HTTP requests /s")
    targets = r.metrics.targets
    if targets:
        ax_tp.plot(seconds, [sum(targets.get(s + k, 0.0) for k in range(res)) / res for s in seconds],
                   color="#c0392b", linestyle="--",
                   linewidth=1, label=f"target ({r.shape})")
    else:  # a result written before per-second targets were kept
        ax_tp.axhline(r.target_rate, color="#c0392b", linestyle="--", linewidth=1,
                      label=f"target {r.target_rate:g}/s (mean over the run)")
    ax_tp.set_ylabel("per second")
    ax_tp.set_ylim(bottom=0)
    ax_tp.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    # Little's law: iterations ending in a second x their mean duration = mean iterations in flight.
    inflight = [(m.count / res * m.hist.mean / 1e6) if (m := flow(s)) is not None and m.count else 0.0
                for s in seconds]
    ax_in.plot(seconds, inflight, color=COLOURS[4], linewidth=1.4,
               label="in flight (mean; Little's law)")
    ax_in.axhline(r.engine.peak_inflight, color=COLOURS[4], linestyle=":", linewidth=1,
                  label=f"peak {r.engine.peak_inflight} (engine)")
    ax_in.set_ylabel("iterations")
    ax_in.set_ylim(bottom=0)
    ax_in.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if errors:
        ax_err = axes[2]
        bottom = [0.0] * len(seconds)
        for n, (label, counts) in enumerate(sorted(errors.items())):
            ax_err.bar(seconds, counts, bottom=bottom, width=0.8 * res, label=label,
                       color=COLOURS[(n + 3) % len(COLOURS)])
            bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
        ax_err.set_ylabel("failed /s")
        ax_err.set_ylim(bottom=0)
        ax_err.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes[-1].set_xlabel("seconds since the load started")
    _whole_seconds(axes)
    _mark_events(r, axes, ax_tp)
    return _svg(fig)


def latency_plot(r: RunResult) -> str:
    """Small multiples: p50 / p90 / p99 per second, one panel per step, each on its own scale."""
    seconds = _load_seconds(r)
    steps = [s for s in r.metrics.steps if s != READBACK_STEP] or ["@flow"]
    cols = min(3, len(steps))
    nrows = -(-len(steps) // cols)
    fig = _figure(9, 1.9 * nrows + 0.5)
    grid = fig.subplots(nrows, cols, sharex=True, squeeze=False)
    styles = {50: (":", COLOURS[2]), 90: ("-", COLOURS[0]), 99: ("--", COLOURS[3])}
    for n, step in enumerate(steps):
        ax = grid[n // cols][n % cols]
        for p in PERCENTILES:
            xs, ys = [], []
            for s in seconds:
                m = r.metrics.series.get(s, {}).get(step)
                if m is not None and m.count:
                    xs.append(s)
                    ys.append(m.hist.percentile(p) / 1000)
            style, colour = styles[p]
            ax.plot(xs, ys, style, color=colour, linewidth=1.1, label=f"p{p}",
                    marker="." if len(xs) < 8 else None, markersize=4)
        ax.set_title("(flow)" if step == "@flow" else step, fontsize=9)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=7)
        # Scale phases shaded here too; their labels stay on the load plot.
        for name, ph in phase_rows(r).items():
            if name.startswith("during"):
                ax.axvspan(ph["start"], ph["end"], color=EVENT_COLOUR, alpha=0.10, linewidth=0)
        if n % cols == 0:
            ax.set_ylabel("ms", fontsize=8)
    _whole_seconds([ax for row in grid for ax in row])
    for n in range(len(steps), nrows * cols):
        grid[n // cols][n % cols].set_visible(False)
    handles, labels = grid[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=8, frameon=False)
    return _svg(fig)


def readback_plot(r: RunResult) -> str | None:
    """Read-back requests per second after the load, on their own scale; None without a read-back."""
    start = _readback_start(r)
    if start is None:
        return None
    series = r.metrics.series
    seconds = sorted(s for s in series if s >= int(start) and READBACK_STEP in series[s])
    if not seconds:
        return None
    fig = _figure(9, 1.8)
    ax = fig.subplots()
    res = r.metrics.resolution
    ok = [(series[s][READBACK_STEP].count - series[s][READBACK_STEP].failed) / res for s in seconds]
    bad = [series[s][READBACK_STEP].failed / res for s in seconds]
    ax.bar(seconds, ok, width=0.8 * res, color=COLOURS[2], label="answered")
    ax.bar(seconds, bad, bottom=ok, width=0.8 * res, color=COLOURS[3], label="failed")
    ax.set_ylabel("reads /s")
    ax.set_xlabel("seconds since the load started")
    ax.set_xlim(seconds[0] - 1, seconds[-1] + 1)
    _whole_seconds([ax])
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _svg(fig)


#: the percentile spectrum of the distribution plot (HdrHistogram's own plot: 1/(1-p) on a log axis)
SPECTRUM = (0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999)


def distribution_plot(r: RunResult) -> str:
    """HDR latency distribution: the percentile spectrum of every step (and of the flow), one line each.

    As HdrHistogram plots it: x is 1/(1-p) on a log axis, so the tail (99%, 99.9%) gets as much
    room as the median; each line ends at the step's max, at the percentile its count can show.
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    steps = [(s, m) for s, m in r.metrics.steps.items() if s != READBACK_STEP and m.count]
    steps.append(("(flow)", r.metrics.flow))
    fig = _figure(9, 3.4)
    ax = fig.subplots()
    top = 1.0
    for n, (name, m) in enumerate(steps):
        if not m.count:
            continue
        xs = [1.0 / (1.0 - p / 100.0) for p in SPECTRUM if 1.0 / (1.0 - p / 100.0) < m.count]
        ys = [m.hist.percentile(p) / 1000 for p in SPECTRUM[:len(xs)]]
        xs.append(float(max(m.count, 2)))
        ys.append(m.hist.max / 1000)
        top = max(top, xs[-1])
        ax.plot(xs, ys, color=COLOURS[n % len(COLOURS)], linewidth=2.0 if name == "(flow)" else 1.3,
                linestyle="--" if name == "(flow)" else "-", label=f"{name} (n={m.count})",
                drawstyle="steps-post")
    ax.set_xscale("log")
    ticks = [t for t in (1.0, 2.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0) if t <= top * 1.01]
    names = {1.0: "0%", 2.0: "50%", 10.0: "90%", 100.0: "99%", 1000.0: "99.9%", 10000.0: "99.99%",
             100000.0: "99.999%"}
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([names[t] for t in ticks])
    ax.set_xlabel("percentile")
    ax.set_ylabel("ms")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _svg(fig)


def endpoint_rows(r: RunResult) -> list[dict[str, Any]]:
    """Per endpoint (method and route template, ids folded), most requested first."""
    window = r.engine.window
    rows = []
    for key, m in sorted(r.metrics.endpoints.items(), key=lambda kv: (-kv[1].count, kv[0])):
        method, _, route = key.partition(" ")
        rows.append({"method": method, "route": route or key, "count": m.count,
                     "errors": f"{m.error_rate * 100:.2f}%",
                     "why": ", ".join(f"{k} {v}" for k, v in sorted(m.errors.items())),
                     **{f"p{p}": _ms(m.hist.percentile(p) / 1000 if m.count else None)
                        for p in (50, 90, 95, 99)},
                     "max": _ms(m.hist.max / 1000 if m.count else None),
                     "rate": f"{m.count / window:.1f}" if window > 0 else "-"})
    return rows


def totals(c: Checklist, results: Sequence[RunResult]) -> list[tuple[str, str]]:
    """The session in one block, before anything else: what ran, how much, and what it found."""
    its = sum(r.engine.started for r in results)
    reqs = sum(r.metrics.requests.count for r in results)
    failed = sum(r.metrics.requests.failed for r in results)
    findings = sum(r.findings.total for r in results)
    swaps = sum(r.swaps for r in results)
    bad_runs = sum(1 for r in results if failures(r))
    return [
        ("verdict", f"{c.verdict.upper()} at level {c.level}"),
        ("required items", f"{sum(1 for n in c.required if c.item(n).status == 'passed')} of "
                           f"{len(c.required)} passed"),
        ("FPT tests", f"{c.tests.ran} ran: {c.tests.passed} passed, {c.tests.failed} failed, "
                      f"{c.tests.skipped} skipped"),
        ("load runs", f"{len(results)} ({bad_runs} failed their checks)"),
        ("iterations", str(its)),
        ("requests", f"{reqs} ({failed} failed, {failed / reqs * 100 if reqs else 0:.2f}%)"),
        ("findings", f"{findings} ({swaps} data swaps)"),
    ]


def _values(f: Finding) -> list[dict[str, Any]]:
    ev = f.evidence
    exp, found = texts(ev.get("expected")), texts(ev.get("found"))
    efp = texts(ev.get("expected_fp")) or [""] * len(exp)
    ffp = texts(ev.get("found_fp")) or [""] * len(found)
    fields = texts(ev.get("fields")) or [""] * len(exp)
    return [{"field": str(k), "expected": str(e), "found": str(x), "efp": str(a), "ffp": str(b),
             "same": bool(a) and a == b}
            for k, e, x, a, b in zip(fields, exp, found, efp, ffp, strict=False)]


def curl_line(r: RunResult, f: Finding) -> str:
    """A runnable ``curl`` that repeats the finding's request as its user: the secret is an
    environment variable (``FPT_COOKIE``, that user's session cookie), never written here."""
    if not f.path:
        return ""
    base = r.target if r.target.startswith(("http://", "https://")) else "$FPT_BASE_URL"
    parts = ["curl", "-sS", "-X", f.method or "GET", redact_url(base.rstrip("/") + f.path)]
    if f.request_id:
        parts += ["-H", f"x-fpt-request: {f.request_id}"]
    cmd = " ".join(shlex.quote(p) if not p.startswith("$") else p for p in parts)
    who = f.user if f.user and f.user != "anonymous" else ""
    if not who:
        return cmd
    return f'{cmd} -H "Cookie: $FPT_COOKIE"  # FPT_COOKIE: {who}\'s session cookie (not written here)'


def _findings(r: RunResult) -> list[dict[str, Any]]:
    from fpt.judge.verdict import examples
    from fpt.report.verdict import VERDICT_WORDS

    groups = []
    for kind, n in sorted(r.findings.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        kept = r.findings.of(kind)
        words = sorted({f.verdict_kind for f in kept}) if kind in (*SWAP_KINDS, "cross_user") else []
        rows = []
        for f in examples(kept, EXAMPLES_PER_KIND):
            extra = {k: v for k, v in f.evidence.items()
                     if k not in ("expected", "found", "expected_fp", "found_fp", "fields")}
            rows.append({"user": f.user, "other": f.other_user, "step": f.step, "message": f.message,
                         "request": " ".join(x for x in (f.method, f.path) if x), "id": f.request_id,
                         "at": f"{f.at:.2f}s", "phase": f.phase, "vals": _values(f),
                         "concurrent": "-" if f.concurrent is None else "yes" if f.concurrent else "no",
                         "extra": ", ".join(f"{k}: {v}" for k, v in extra.items()),
                         "curl": curl_line(r, f)})
        groups.append({"kind": kind, "count": n, "kept": len(kept),
                       "users": len({f.user for f in kept}),
                       "words": [VERDICT_WORDS.get(w, w) for w in words], "rows": rows})
    return groups


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _run_view(r: RunResult, n: int) -> dict[str, Any]:
    from fpt.report.terminal import peak_text
    from fpt.report.verdict import headline

    rows = [{"step": x["step"], "kind": x["kind"], "count": x["count"],
             "errors": f"{x['error_rate'] * 100:.2f}%",
             "why": ", ".join(f"{k} {v}" for k, v in {**x["errors"], **x["statuses"]}.items()),
             "p50": _ms(x["p50_ms"]), "p90": _ms(x["p90_ms"]), "p95": _ms(x["p95_ms"]),
             "p99": _ms(x["p99_ms"]), "max": _ms(x["max_ms"]),
             "rate": f"{x['throughput_per_s']:.1f}"} for x in step_stats(r)]
    found = problems(r)
    # the thresholds have a table of their own
    failing = [problem_line(r, p) for p in found if p.kind is not ProblemKind.THRESHOLD]
    e = r.engine
    c = continuity_view(r)
    params = [
        ("flow", r.flow), ("profile", r.profile), ("target", redact_url(r.target)), ("shape", r.shape),
        ("arrivals", r.arrivals), ("users", str(r.users)), ("seed", str(r.seed)),
        ("duration", f"{r.duration:g}s"),
        ("rate", f"{r.achieved_rate:.2f}/s achieved of {r.target_rate:.2f}/s"),
        ("iterations", f"{e.started} started, {e.dropped} dropped, {e.cancelled} cancelled"),
        ("in flight", f"{peak_text(r)}, mean {e.mean_inflight:.2f}"),
        ("overlap", f"{r.evidence.inspected_overlap_pairs} checked pairs of different users' answers "
                    f"in flight together" + (" (counted within each worker)" if r.workers > 1 else "")),
        ("checks", ", ".join(r.evidence.checks) or "none"),
        ("worker", r.worker),
    ]
    rb = c.get("readback")
    return {
        "anchor": f"run-{n}", "name": r.name, "passed": not found,
        "headline": headline(r) if found else "all checks passed",
        "params": [params[i:i + 3] for i in range(0, len(params), 3)],
        "failing": failing,
        "verdict": swap_verdict(r), "rows": rows,
        "thresholds": [{"detail": threshold_words(t), "passed": t.passed} for t in r.thresholds],
        "load_plot": load_plot(r) if r.metrics.series else "",
        "latency_plot": latency_plot(r) if r.metrics.series else "",
        "readback_plot": readback_plot(r) if c else None,
        "readback": rb, "broken_sessions": c.get("broken_sessions", 0),
        "has_errors": any(r.metrics.series.get(s, {}).get(st) is not None
                          and r.metrics.series[s][st].failed for s in r.metrics.series
                          for st in r.metrics.steps if st != READBACK_STEP),
        "phases": c.get("phases", {}), "events": c.get("events", []),
        "degradation": c.get("degradation", {}),
        "failures": failure_rows(r, 50), "findings": _findings(r),
        "coverage": coverage_rows(r.coverage) if r.coverage is not None else None,
        "coverage_title": r.coverage.title if r.coverage is not None else "",
        "endpoints": endpoint_rows(r),
        "distribution_plot": distribution_plot(r) if r.metrics.flow.count else "",
    }


def coverage_rows(cov: Any) -> list[dict[str, Any]]:
    """The OpenAPI hunt's coverage table (fpt.report.coverage)."""
    from fpt.report.coverage import rows

    return rows(cov)


def render(checklist: Checklist, results: Sequence[RunResult],
           details: Mapping[str, Any] | None = None) -> str:
    """The whole page; ``details``: the session's run details (fpt.rundetails.gather)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("fpt.report", "templates"),
                      autoescape=select_autoescape(["html"]))
    template = env.get_template("report.html")
    return template.render(c=checklist, items=ITEMS, details_of=detail, reasons=reasons(checklist),
                           incomplete=incomplete_lines(checklist),
                           runs=[_run_view(r, n) for n, r in enumerate(results, 1)],
                           totals=totals(checklist, results), details=details or {})
