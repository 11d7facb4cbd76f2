"""Synthetic run results for the pure judge tests: no service, no load, no pytest machinery."""

from __future__ import annotations

from typing import Any

from fpt.config.hist import Histogram
from fpt.evidence.engine import EngineStats
from fpt.evidence.findings import FindingLog
from fpt.evidence.metrics import Metrics
from fpt.evidence.result import RunResult


def engine(**kw: Any) -> EngineStats:
    """Engine figures of a small run that started and finished ten iterations."""
    base: dict[str, Any] = dict(planned=10, started=10, completed=10, crashed=0, dropped_no_user=0,
                                dropped_cap=0, cancelled=0, overlapped_starts=0, window=10.0, elapsed=10.0,
                                peak_inflight=2, mean_inflight=1.0, lateness=Histogram())
    return EngineStats(**{**base, **kw})


def run(**kw: Any) -> RunResult:
    """A run result with ``kw`` over plain defaults."""
    base: dict[str, Any] = dict(name="t", flow="f", profile="live", target="http://127.0.0.1:1", shape="1/s",
                                target_rate=1.0, duration=10.0, users=4, seed=1, arrivals="uniform",
                                engine=engine(), metrics=Metrics(), findings=FindingLog())
    return RunResult(**{**base, **kw})
