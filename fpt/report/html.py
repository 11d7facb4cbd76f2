"""The HTML report: checklist, runs, findings and plots, one self-contained page.

Templated with Jinja2 (autoescaped: nothing a service returned can inject markup)
and plotted with Matplotlib's SVG backend, inlined: the page needs no network, no
CDN and no JavaScript, so it opens the same in a browser, a CI artifact viewer or
headless Chromium.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from fpt.dod import ITEMS, Checklist
from fpt.redact import url as redact_url
from fpt.result import RunResult

PERCENTILES = (50, 90, 99)


def _svg(fig: Any) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inlined in HTML


def run_plot(r: RunResult) -> str:
    """Throughput per step, p50/p90/p99 per step, and errors, per second; scale events marked."""
    from matplotlib.figure import Figure

    seconds = sorted(r.metrics.series)
    steps = [s for s in r.metrics.steps]
    fig = Figure(figsize=(9, 7.5))
    ax_tp, ax_lat, ax_err = fig.subplots(3, 1, sharex=True)
    for step in steps:
        counts = [r.metrics.series[s][step].count if step in r.metrics.series[s] else 0 for s in seconds]
        ax_tp.plot(seconds, counts, label=step, linewidth=1.2)
    ax_tp.set_ylabel("transactions/s")
    ax_tp.set_title(f"{r.name}: throughput per step")
    for step in steps:
        for p, style in zip(PERCENTILES, (":", "-", "--"), strict=True):
            xs: list[float] = []
            ys: list[float] = []
            for s in seconds:
                m = r.metrics.series[s].get(step)
                if m is not None and m.count:
                    xs.append(s)
                    ys.append(m.hist.percentile(p) / 1000)
            ax_lat.plot(xs, ys, style, linewidth=1, label=f"{step} p{p}")
    ax_lat.set_ylabel("ms")
    ax_lat.set_title("p50 (dotted) / p90 (solid) / p99 (dashed) per step")
    errs = [sum(m.failed for name, m in r.metrics.series[s].items() if name in steps) for s in seconds]
    ax_err.bar(seconds, errs, color="#c0392b", width=0.8)
    ax_err.set_ylabel("failed transactions")
    ax_err.set_xlabel("seconds since start")
    ax_err.set_title("errors per second")
    for ev in (r.continuity or {}).get("events", []):
        for ax in (ax_tp, ax_lat, ax_err):
            ax.axvline(ev.get("at", 0), color="#8e44ad", linestyle="-.", linewidth=1)
        ax_tp.annotate(f"scale to {ev.get('to')}", (ev.get("at", 0), 0), xytext=(3, 3),
                       textcoords="offset points", fontsize=8, color="#8e44ad")
    for name, ph in (r.continuity or {}).get("phases", {}).items():
        if name.startswith("during") and "start" in ph and "end" in ph:
            for ax in (ax_tp, ax_lat, ax_err):
                ax.axvspan(ph["start"], ph["end"], color="#8e44ad", alpha=0.08)
    if steps:
        ax_tp.legend(fontsize=7, ncol=4, loc="upper right")
        ax_lat.legend(fontsize=6, ncol=4, loc="upper right")
    fig.tight_layout()
    return _svg(fig)


def _run_view(r: RunResult) -> dict[str, Any]:
    rows = []
    for name, m in [*r.metrics.steps.items(), ("(flow)", r.metrics.flow)]:
        s = m.hist.summary()
        rows.append({"step": name, "count": m.count, "errors": f"{m.error_rate * 100:.2f}%",
                     **{k: f"{v / 1000:.1f}" for k, v in s.items()
                        if k in ("p50", "p90", "p95", "p99", "max")}})
    findings = [{"line": f.one_line(), "evidence": ", ".join(f"{k}: {v}" for k, v in f.evidence.items()),
                 "request": f.request_id, "at": f"{f.at:.2f}s"}
                for kind in sorted(r.findings.counts) for f in r.findings.of(kind)[:10]]
    return {"name": r.name, "flow": r.flow, "profile": r.profile, "target": redact_url(r.target),
            "rate": f"{r.achieved_rate:.2f}/s of {r.target_rate:.2f}/s", "users": r.users,
            "iterations": r.engine.started, "dropped": r.engine.dropped, "verdict": r.swap_verdict,
            "peak": r.engine.peak_inflight, "pairs": r.evidence.overlap_pairs,
            "rows": rows, "findings": findings, "counts": dict(sorted(r.findings.counts.items())),
            "thresholds": [t.detail for t in r.thresholds], "plot": run_plot(r),
            "phases": (r.continuity or {}).get("phases", {}),
            "events": (r.continuity or {}).get("events", [])}


def render(checklist: Checklist, results: Sequence[RunResult]) -> str:
    """The whole page."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("fpt.report", "templates"),
                      autoescape=select_autoescape(["html"]))
    template = env.get_template("report.html")
    return template.render(c=checklist, items=ITEMS, runs=[_run_view(r) for r in results])
