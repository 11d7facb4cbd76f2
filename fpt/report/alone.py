"""The single-user phase in words: each reason it failed as one line."""

from __future__ import annotations

from fpt.evidence.checks import AloneFailure, AloneTrouble
from fpt.report.findings import finding_line


def alone_reason(a: AloneFailure) -> str:
    """One reason the single-user phase failed (a sentence read from an earlier file: as written)."""
    t = a.trouble
    if t is AloneTrouble.NOT_FINISHED:
        return (f"did not finish {a.iterations} iterations alone within {a.deadline_s:g}s "
                "(the flow or the service hangs)")
    if t is AloneTrouble.ABANDONED:
        return ("an iteration alone did not stop when cancelled and was abandoned "
                "(a flow that swallows cancellation: a bare except around an await)")
    if t is AloneTrouble.FINDING and a.finding is not None:
        return finding_line(a.finding)
    if t is AloneTrouble.ERRORS:
        return f"{a.failed} of {a.iterations} iterations had errors {dict(a.errors)}"
    return a.text
