"""The coverage table of an OpenAPI hunt: every operation, what it got, or why it was never called."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fpt.evidence.coverage import ApiCoverage, OperationCoverage, OpOutcome, SkipReason

#: what each skip reason means, for a reader
REASONS = {
    SkipReason.EXCLUDED: "excluded by the squad",
    SkipReason.AUTH: "a sign-in route (the auth function's)",
    SkipReason.NO_PARAMETER: "no way to build parameter",
    SkipReason.FILE_UPLOAD: "needs a file upload",
    SkipReason.UNSUPPORTED_BODY: "body type not generated",
    SkipReason.NO_SCHEMA: "no value could be generated",
}
OUTCOMES = {
    OpOutcome.CHECKED: "checked",
    OpOutcome.EXERCISED: "exercised, nothing of the user's to check",
    OpOutcome.REFUSED: "refused to its own user (needs a role the auth function does not give)",
    OpOutcome.FAILED: "never answered 2xx",
    OpOutcome.NOT_REACHED: "never called (what it needs never succeeded)",
    OpOutcome.SKIPPED: "skipped",
}
COLUMNS = ("operation", "kind", "calls", "2xx", "checked", "probed", "outcome")


def why(op: OperationCoverage) -> str:
    """The outcome of one operation in words (with its reason or statuses)."""
    if op.skipped is not None:
        text = f"skipped: {REASONS[op.skipped]}"
        return f"{text} {op.detail}" if op.detail else text
    text = OUTCOMES[op.outcome]
    if op.outcome in (OpOutcome.FAILED, OpOutcome.REFUSED) and op.statuses:
        text += " (" + ", ".join(f"HTTP {k}: {n}" for k, n in sorted(op.statuses.items())) + ")"
    return text


def rows(cov: ApiCoverage) -> list[dict[str, Any]]:
    """One row per operation, in document order (the HTML table's)."""
    return [{"operation": f"{op.method} {op.path}", "op_id": op.op_id, "kind": str(op.kind),
             "calls": op.calls, "ok": op.ok, "checked": op.checked, "probed": op.probed,
             "outcome": str(op.outcome), "why": why(op)} for op in cov.operations]


def coverage_lines(cov: ApiCoverage | None) -> list[str]:
    """The terminal's coverage table (empty when the run was not an OpenAPI hunt)."""
    if cov is None:
        return []
    counts = cov.counts()
    head = (f"coverage of {cov.title or 'the API'}: {len(cov.operations)} operations, "
            + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    table: list[Sequence[str]] = [COLUMNS]
    for r in rows(cov):
        table.append((r["operation"], r["kind"], str(r["calls"]), str(r["ok"]), str(r["checked"]),
                      str(r["probed"]), r["why"]))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(COLUMNS) - 1)]
    out = [head]
    for n, row in enumerate(table):
        cells = [str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                               strict=False))]
        out.append("  ".join([*cells, row[-1]]).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in [*widths, len(COLUMNS[-1])]))
    return out
