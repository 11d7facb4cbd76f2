"""An exploration's minimal failing input in words: ``fpt_load.explore``'s failure and its record's line."""

from __future__ import annotations

from fpt.evidence.explore import ExampleFailure, ExploreRecord
from fpt.report.findings import finding_line


def record_line(r: ExploreRecord) -> str:
    """One exploration in one line, for the terminal summary: examples tried, failing ones and the first
    line of the minimal failing input, or why it stopped."""
    head = f"explore {r.test} ({r.flow}): {r.examples} examples"
    if r.failed:
        first = (r.minimal or r.error).split("\n", 1)[0]
        return f"{head}, {r.failed} failing ({', '.join(r.kinds)}): {first}"
    if r.error:
        return f"{head}, stopped: {r.error}"
    return head + (", all passed" if r.examples else ": nothing explored")


def minimal_line(m: ExampleFailure) -> str:
    """``input <repr> -> what failed``: up to three of its findings, else the last error, else its kind."""
    what = "; ".join(finding_line(f) for f in m.findings[:3]) or m.last_error or f"an error ({m.error})"
    return f"input {m.input} -> {what}"


def explore_failure(flow: str, m: ExampleFailure) -> str:
    """``fpt_load.explore``'s failure message: the flow, the minimal input and what failed, then
    Hypothesis's notes on it."""
    notes = "\n".join(m.notes)
    return (f"fpt: {flow} fails on a generated input (minimal, after shrinking): {minimal_line(m)}\n"
            f"{notes}").rstrip()
