"""Per-pytest-session state, and what happens at its end: checklist, baseline, reports, verdict."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fpt.config.settings import FptConfig
from fpt.config.shard import Shard
from fpt.evidence.narrowing import Selection
from fpt.evidence.provenance import Provenance
from fpt.evidence.result import RunResult
from fpt.judge.dod.catalogue import DEFAULT_LEVELS
from fpt.judge.dod.checklist import Checklist, ItemOutcome, TestCounts

if TYPE_CHECKING:
    from fpt.evidence.explore import ExploreRecord


@dataclass
class FptSession:
    """Kept under a ``pytest.StashKey`` from configure to the terminal summary."""

    config: FptConfig
    worker: str = "main"
    results: list[RunResult] = field(default_factory=list)
    #: results sent by xdist workers, merged into ``results`` at session finish
    worker_results: list[RunResult] = field(default_factory=list)
    #: every ``fpt_load.explore`` call of the session (and of its xdist workers)
    explorations: list[ExploreRecord] = field(default_factory=list)
    #: why the run is incomplete (a worker went down): the checklist cannot pass
    incomplete: list[str] = field(default_factory=list)
    #: checklist items each DoD level requires
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    #: outcomes of tests marked ``fpt``: passed / failed / skipped
    outcomes: dict[str, int] = field(default_factory=lambda: {"passed": 0, "failed": 0, "skipped": 0})
    checklist: Checklist | None = None
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the incomplete checklist written at session start, removed if no FPT test ran
    placeholder: list[Path] = field(default_factory=list)
    #: undoes the SIGTERM handler installed for the session, if one was
    restore_signals: Callable[[], object] | None = None
    #: this session is one shard of a run: its checklist is partial (see fpt.config.shard)
    shard: Shard | None = None
    #: set when pytest's test loop ended normally (not by Ctrl-C, nor a collection error)
    ran_to_end: bool = False
    #: this session's id, start and CI job, written into every checklist it writes
    provenance: Provenance | None = None
    #: FPT tests collected and then deselected (-k, --deselect, --sw), and whether it is a --lf re-run
    selection: Selection = field(default_factory=Selection)

    def start(self) -> None:
        """Replace any earlier checklist by an incomplete one (controller or single process only)."""
        from fpt.judge.dod.evaluate import evaluate
        from fpt.report.outputs import write_placeholder

        if self.worker != "main":
            return
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        pending = evaluate([], level=self.config.dod_level, levels=self.levels,
                           incomplete=[f"session started at {started} and has not finished "
                                       "(interrupted, killed, or still running)"], session=self.provenance)
        try:
            self.placeholder = write_placeholder(pending, self.config.report_dir)
        except OSError as e:
            self.notes.append(f"could not write the placeholder checklist to {self.config.report_dir}: {e}")

    def record(self, result: RunResult) -> None:
        """Keep one run's result for the summary and the checklist."""
        self.results.append(result)

    def record_explore(self, record: ExploreRecord) -> None:
        """Keep one exploration's outcome: it counts in the checklist whatever the test did with it."""
        self.explorations.append(record)

    def note(self, text: str) -> None:
        """One line for the summary, once however many runs give it (a proxy in the environment, ...)."""
        if text not in self.notes:
            self.notes.append(text)

    def count(self, outcome: str) -> None:
        """One FPT test ended ``passed``, ``failed`` or ``skipped``."""
        self.outcomes[outcome] += 1

    @property
    def had_fpt(self) -> bool:
        """Whether this session ran (or tried to run) any FPT test."""
        return bool(self.results or self.explorations or self.incomplete or any(self.outcomes.values())
                    or self.selection.deselected)

    def finish(self, *, interrupted: str = "",
               details: Mapping[str, object] | None = None) -> Checklist | None:
        """Judge the checklist, compare/save the baseline, write every report; None without FPT tests.

        ``interrupted`` says why the session stopped early (Ctrl-C, SIGTERM): the checklist is
        then incomplete whatever it holds.
        """
        from fpt.evidence.narrowing import of_session
        from fpt.judge import baseline
        from fpt.judge.dod.evaluate import evaluate
        from fpt.report.checklist import unfit_words
        from fpt.report.outputs import write_all
        from fpt.report.problems import problem_line
        from fpt.report.thresholds import threshold_words

        if self.worker != "main":
            return None
        if not self.had_fpt and not interrupted:  # interrupted: an FPT test may have been running
            for path in self.placeholder:
                path.unlink(missing_ok=True)
            if self.placeholder:
                with contextlib.suppress(OSError):  # only when empty: never remove a user's files
                    self.placeholder[0].parent.rmdir()
            return None
        if interrupted:
            self.incomplete.append(interrupted)
        cfg = self.config
        compared: ItemOutcome | None = None
        if cfg.compare:
            try:
                stored = baseline.load(cfg.baseline_dir, cfg.compare)
                compared = baseline.compare(self.results, stored, p90_regression=cfg.baseline_p90_regression,
                                            error_increase=cfg.baseline_error_increase, name=cfg.compare)
            except ValueError as e:
                compared = baseline.unreadable(str(e))
        tests = TestCounts(**self.outcomes)
        self.checklist = evaluate(self.results, level=cfg.dod_level, levels=self.levels, tests=tests,
                                  incomplete=self.incomplete, baseline=compared,
                                  high_traffic_rate=cfg.high_traffic_rate, explorations=self.explorations,
                                  session=self.provenance, selection=self.selection, weakened=of_session(cfg),
                                  problem_words=problem_line, threshold_words=threshold_words)
        if self.shard is not None:
            self.checklist = dataclasses.replace(self.checklist, shard=self.shard)
        if cfg.save_baseline:
            why = baseline.unfit(self.checklist, self.results)
            if why is not None:  # a broken reference would pass broken runs later: keep the old baseline
                self.notes.append(f"baseline {cfg.save_baseline!r} NOT saved (nothing written): "
                                  f"{unfit_words(why, self.checklist)}")
            else:
                path = baseline.save(self.results, cfg.baseline_dir, cfg.save_baseline)
                self.notes.append(f"baseline {cfg.save_baseline!r} saved to {path}")
        try:
            self.written = write_all(self.checklist, self.results, cfg.report_dir, details=details)
        except Exception as e:  # a report must never hide the verdict: say so, keep going
            self.notes.append(f"reports not written to {cfg.report_dir}: {type(e).__name__}: {e}")
        return self.checklist

