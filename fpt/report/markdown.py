"""The checklist as Markdown: fit for a pull-request comment, a job summary or a release QA record."""

from __future__ import annotations

from fpt.judge.dod.catalogue import ITEMS, PASSED
from fpt.judge.dod.checklist import Checklist
from fpt.report.checklist import detail, example_lines, incomplete_lines, reasons

MARK = {"passed": "✅ passed", "failed": "❌ failed", "not_evidenced": "⚠️ not evidenced"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def checklist_markdown(c: Checklist) -> str:
    """Verdict, the item table (required items marked) and the runs behind it."""
    lines = [
        f"## fpt Definition of Done — level `{c.level}`: **{c.verdict.upper()}**", "",
        f"{c.tests.ran} FPT tests ran ({c.tests.passed} passed, {c.tests.failed} failed, "
        f"{c.tests.skipped} skipped); {len(c.runs)} load runs.", "",
    ]
    for reason in incomplete_lines(c):
        lines.append(f"> **Incomplete:** {_cell(reason)}")
    if c.incomplete:
        lines.append("")
    lines += ["| item | required | status | evidence |", "|---|:-:|---|---|"]
    for i in c.items:
        req = "yes" if i.name in c.required else ""
        what = ITEMS.get(i.name, "")
        lines.append(f"| `{i.name}` — {what} | {req} | {MARK[i.status]} | {_cell(detail(i))} |")
    failing = reasons(c)
    if failing:
        lines += ["", "### Why the gate fails", ""] + [f"- {_cell(r)}" for r in failing]
    if c.runs:
        lines += ["", "### Runs", "",
                  "| test | profile | rate achieved / target | users | iterations | overlap pairs | "
                  "p90 ms | errors | findings |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in c.runs:
            findings = ", ".join(f"{k} {n}" for k, n in r["findings"].items()) or "none"
            p90 = f"{r['p90_ms']:.1f}" if r.get("p90_ms") is not None else "-"
            lines.append(
                f"| `{_cell(r['test'])}` | {r['profile']} "
                f"| {r['achieved_rate']:.2f} / {r['target_rate']:.2f}/s "
                f"| {r['users']} | {r['iterations']} | {r['overlap_request_pairs']} | {p90} "
                f"| {r['error_rate'] * 100:.2f}% | {_cell(findings)} |")
    fails = [(r["test"], f) for r in c.runs for f in r.get("failures", [])]
    if fails:
        fails.sort(key=lambda tf: -tf[1]["count"])
        top = min(10, len(fails))
        lines += ["", f"### Failures (top {top} of {len(fails)}; all in fpt-failures.csv)",
                  "", "| test | step | status / exception | message | count |", "|---|---|---|---|--:|"]
        lines += [f"| `{_cell(t)}` | {_cell(f['step'])} | {_cell(f['status'])} | {_cell(f['message'])} "
                  f"| {f['count']} |" for t, f in fails[:10]]
    examples = [e for i in c.items if i.status != PASSED for e in example_lines(i)]
    if examples:
        lines += ["", "### Findings (first examples)", ""] + [f"- {_cell(e)}" for e in examples[:10]]
    return "\n".join(lines) + "\n"
