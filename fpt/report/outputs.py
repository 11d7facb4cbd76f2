"""Write the session's reports: fpt-dod.json, fpt-dod.md, the HTML page, and the CI job summary."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from fpt import redact
from fpt.dod import Checklist
from fpt.result import RunResult

JSON_NAME, MD_NAME, HTML_NAME = "fpt-dod.json", "fpt-dod.md", "fpt-report.html"


def write_all(checklist: Checklist, results: Sequence[RunResult], directory: str | Path,
              environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Every report into ``directory``; the Markdown also to ``$GITHUB_STEP_SUMMARY`` when set."""
    from fpt.report.html import render
    from fpt.report.markdown import checklist_markdown

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    checklist = redact.deep(checklist)  # before the digest: the gate still accepts the file
    md = redact.scrub(checklist_markdown(checklist))
    out = [d / JSON_NAME, d / MD_NAME, d / HTML_NAME]
    # Written to a temporary name and renamed: a reader never sees half a checklist.
    for path, text in zip(out, (json.dumps(checklist.to_dict(), indent=2) + "\n", md,
                                redact.scrub(render(checklist, results))), strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(md + "\n")
        out.append(Path(summary))
    return out


def write_placeholder(checklist: Checklist, directory: str | Path) -> list[Path]:
    """At session start: an *incomplete* checklist in place of whatever an earlier session left.

    An interrupted or killed session then leaves a file the gate refuses, never a stale
    green one; the older Markdown and HTML reports are removed for the same reason.
    """
    from fpt.report.markdown import checklist_markdown

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / HTML_NAME).unlink(missing_ok=True)
    out = []
    for path, text in ((d / JSON_NAME, json.dumps(checklist.to_dict(), indent=2) + "\n"),
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
        ("fpt.swap_verdict", r.swap_verdict), ("fpt.swaps", r.swaps),
        ("fpt.error_rate", round(r.metrics.flow.error_rate, 6)),
    ]
    if r.metrics.flow.count:
        props.append(("fpt.p90_ms", round(r.metrics.flow.hist.percentile(90) / 1000, 3)))
    props.extend((f"fpt.findings.{k}", n) for k, n in sorted(r.findings.counts.items()))
    props.extend((f"fpt.threshold.{t.expr}", "passed" if t.passed else "failed") for t in r.thresholds)
    return [(redact.scrub(k), redact.scrub(v) if isinstance(v, str) else v) for k, v in props]
