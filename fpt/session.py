"""Per-pytest-session state: the base config and every run result of the session."""

from __future__ import annotations

from dataclasses import dataclass, field

from fpt.config import FptConfig
from fpt.result import RunResult


@dataclass
class FptSession:
    """Kept under a ``pytest.StashKey`` from configure to the terminal summary."""

    config: FptConfig
    worker: str = "main"
    results: list[RunResult] = field(default_factory=list)
    #: results sent by xdist workers, merged into ``results`` at session finish
    worker_results: list[RunResult] = field(default_factory=list)
    #: why the run is incomplete (a worker went down): the checklist cannot pass
    incomplete: list[str] = field(default_factory=list)

    def record(self, result: RunResult) -> None:
        """Keep one run's result for the summary and the checklist."""
        self.results.append(result)
