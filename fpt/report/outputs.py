"""Write the session's reports: fpt-dod.json, fpt-dod.md, the HTML page, and the CI job summary."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from fpt.config import redact
from fpt.evidence.result import RunResult
from fpt.judge.dod.checklist import Checklist
from fpt.judge.verdict import swap_verdict
from fpt.report.checklist import checklist_dict

JSON_NAME, MD_NAME, HTML_NAME = "fpt-dod.json", "fpt-dod.md", "fpt-report.html"
STEPS_CSV, FAILURES_CSV = "fpt-steps.csv", "fpt-failures.csv"
STEP_COLUMNS = ("test", "step", "kind", "count", "failed", "error_rate", "p50_ms", "p90_ms", "p95_ms",
                "p99_ms", "max_ms", "mean_ms", "throughput_per_s", "errors", "statuses")
FAILURE_COLUMNS = ("test", "step", "status", "message", "count", "first_seen_s", "source")


def _counts(d: Mapping[str, int]) -> str:
    return ";".join(f"{k}={n}" for k, n in d.items())


def csv_texts(checklist: Checklist) -> tuple[str, str]:
    """``fpt-steps.csv`` and ``fpt-failures.csv``: one row per step / failure of every run.

    Taken from the checklist's runs (what fpt-dod.json holds), so the CSV and the JSON agree.
    """
    steps, failures = io.StringIO(), io.StringIO()
    sw = csv.DictWriter(steps, STEP_COLUMNS, lineterminator="\n")
    fw = csv.DictWriter(failures, FAILURE_COLUMNS, lineterminator="\n")
    sw.writeheader()
    fw.writeheader()
    for run in checklist.runs:
        for row in run.get("steps", []):
            sw.writerow({**{k: row.get(k) for k in STEP_COLUMNS if k not in ("errors", "statuses")},
                         "test": run["test"], "errors": _counts(row.get("errors", {})),
                         "statuses": _counts(row.get("statuses", {}))})
        for failure in run.get("failures", []):
            fw.writerow({**{k: failure.get(k) for k in FAILURE_COLUMNS}, "test": run["test"]})
    return steps.getvalue(), failures.getvalue()


def write_all(checklist: Checklist, results: Sequence[RunResult], directory: str | Path,
              environ: Mapping[str, str] = os.environ,
              details: Mapping[str, object] | None = None) -> list[Path]:
    """Every report into ``directory``; the Markdown also to ``$GITHUB_STEP_SUMMARY`` when set.

    ``details``: the session's run details for the HTML page (fpt.rundetails.gather).
    """
    from fpt.report.html import render
    from fpt.report.markdown import checklist_markdown

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    checklist = redact.deep(checklist)  # before the digest: the gate still accepts the file
    md = redact.scrub(checklist_markdown(checklist))
    out = [d / JSON_NAME, d / MD_NAME, d / HTML_NAME, d / STEPS_CSV, d / FAILURES_CSV]
    # Written to a temporary name and renamed: a reader never sees half a checklist.
    for path, text in zip(out, (json.dumps(signed(checklist_dict(checklist), environ), indent=2) + "\n", md,
                                redact.scrub(render(checklist, results, details)),
                                *(redact.scrub(c) for c in csv_texts(checklist))), strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(md + "\n")
        out.append(Path(summary))
    return out


def signed(body: dict[str, object], environ: Mapping[str, str] = os.environ) -> dict[str, object]:
    """``body`` with an HMAC-SHA256 ``signature`` over its digest when ``FPT_SIGNING_KEY`` is set."""
    from fpt.evidence.provenance import KEY_ENV, signature

    key = environ.get(KEY_ENV, "")
    return {**body, "signature": signature(str(body["digest"]), key)} if key else body


def write_placeholder(checklist: Checklist, directory: str | Path) -> list[Path]:
    """At session start: an *incomplete* checklist in place of whatever an earlier session left.

    An interrupted or killed session then leaves a file the gate refuses, never a stale
    green one; the older Markdown and HTML reports are removed for the same reason.
    """
    from fpt.report.markdown import checklist_markdown

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for stale in (HTML_NAME, STEPS_CSV, FAILURES_CSV):
        (d / stale).unlink(missing_ok=True)
    out = []
    for path, text in ((d / JSON_NAME, json.dumps(checklist_dict(checklist), indent=2) + "\n"),
                       (d / MD_NAME, checklist_markdown(checklist))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        out.append(path)
    return out


def junit_properties(r: RunResult) -> list[tuple[str, object]]:
    """``(name, value)`` pairs for the JUnit XML ``<properties>`` of the test that ran ``r``."""
    props: list[tuple[str, object]] = [
        ("fpt.profile", r.profile), ("fpt.achieved_rate", round(r.achieved_rate, 3)),
        ("fpt.target_rate", round(r.target_rate, 3)), ("fpt.users", r.users),
        ("fpt.iterations", r.engine.started), ("fpt.dropped", r.engine.dropped),
        ("fpt.peak_inflight", r.engine.peak_inflight),
        ("fpt.overlap_request_pairs", r.evidence.overlap_pairs),
        ("fpt.swap_verdict", swap_verdict(r)), ("fpt.swaps", r.swaps),
        ("fpt.error_rate", round(r.metrics.flow.error_rate, 6)),
    ]
    if r.metrics.flow.count:
        props.append(("fpt.p90_ms", round(r.metrics.flow.hist.percentile(90) / 1000, 3)))
    props.extend((f"fpt.findings.{k}", n) for k, n in sorted(r.findings.counts.items()))
    props.extend((f"fpt.threshold.{t.expr}", "passed" if t.passed else "failed") for t in r.thresholds)
    return [(redact.scrub(k), redact.scrub(v) if isinstance(v, str) else v) for k, v in props]
