"""A snapshot of a running load for the live progress line (rendered in fpt.report.terminal)."""


from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Progress:
    """A snapshot for the live progress line."""

    elapsed: float
    duration: float
    started: int
    rate: float
    p90_ms: float
    errors: int
    findings: int
    #: the test (node id) and what the run is doing: alone, load (or a scale phase), read-back, done
    name: str = ""
    phase: str = "load"
    target_rate: float = 0.0
