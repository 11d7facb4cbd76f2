"""What each checklist item found, as typed facts: why it ended as it did (a ``StrEnum``) and the
counts, names, measured values and limits behind it. No sentences: :mod:`fpt.report.checklist`
puts each kind of facts in words.

One small frozen dataclass per kind of item; :data:`Facts` is their union. Two kinds are not
judged here: :class:`MergedFacts` (the gate's merge of several files' items) and
:class:`WrittenFacts` (an item read back from a file, whose words are shown as written and never
decided on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from fpt.config.thresholds import ThresholdOutcome
from fpt.evidence.checks import AloneFailure, ProbeEvidence, ReplayEvidence
from fpt.evidence.continuity import ReadBack
from fpt.evidence.loadtypes import SpikeEvidence, StressEvidence
from fpt.judge.continuity import Direction, EventDegradation, EventMove
from fpt.judge.loadtypes import SpikeKind, StressKind


class Executed(StrEnum):
    """``suite.executed``: why."""

    NO_TEST = "no_test"
    NO_ITERATION = "no_iteration"
    RAN = "ran"


@dataclass(frozen=True, kw_only=True)
class ExecutedFacts:
    """FPT tests that ran and were skipped, load runs and iterations started."""

    why: Executed
    ran: int = 0
    skipped: int = 0
    runs: int = 0
    iterations: int = 0


class Alone(StrEnum):
    """``functional.single_user``: why."""

    NO_PHASE = "no_phase"
    FAILS = "fails"
    NEVER = "never"
    PASSES = "passes"


@dataclass(frozen=True, kw_only=True)
class AloneFacts:
    """The flows concerned (failing, never run alone, or passing), the tests that never ran alone, and
    each failing run's flow with why it failed alone."""

    why: Alone
    flows: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    failing: tuple[tuple[str, tuple[AloneFailure, ...]], ...] = ()


class Swap(StrEnum):
    """A data-swap item (live or virtual): why, in the order the judge asks."""

    NO_RUN = "no_run"
    SWAPS = "swaps"
    NOT_INSPECTED = "not_inspected"
    SOME_NOT_INSPECTED = "some_not_inspected"
    ONLY_ERRORS = "only_errors"
    NOT_SCANNED = "not_scanned"
    STEPS_WITHOUT_OVERLAP = "steps_without_overlap"
    NO_OVERLAP = "no_overlap"
    TOO_SLOW = "too_slow"
    CLEAN = "clean"


@dataclass(frozen=True, kw_only=True)
class SwapFacts:
    """A data-swap item's figures.

    ``kinds``: the swaps' verdict kinds (``concurrency``...); ``tests``: the runs not inspected;
    ``steps``: the steps that answered only errors, or never overlapped; ``runs``, ``inspected`` and
    ``pairs``: the runs that passed, their checked answers and overlapping pairs.
    """

    why: Swap
    profile: str
    swaps: int = 0
    kinds: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    unscanned_answers: int = 0
    unscanned_bytes: int = 0
    required_rate: float = 0.0
    best_rate: float = 0.0
    runs: int = 0
    inspected: int = 0
    pairs: int = 0


class Negative(StrEnum):
    """``data_swap.negative_concurrency``: why."""

    LEAKED = "leaked"
    REPLAYS_REFUSED = "replays_refused"
    NONE_REFUSED = "none_refused"
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True)
class NegativeFacts:
    """Cross-user attempts: the probes' and replays' counts, leaks and their verdict kinds (empty when
    the kind is unknown: concurrency or cache/shared state)."""

    why: Negative
    leaked: int = 0
    kinds: tuple[str, ...] = ()
    probes: ProbeEvidence = field(default_factory=ProbeEvidence)
    replay: ReplayEvidence = field(default_factory=ReplayEvidence)


class Continuity(StrEnum):
    """``autoscaling.session_continuity``: why."""

    NO_RUN = "no_run"
    BROKEN = "broken"
    NOT_MOVED = "not_moved"
    MOVED = "moved"


@dataclass(frozen=True, kw_only=True)
class ContinuityFacts:
    """Broken sessions; the events that did not move traffic and the directions never shown."""

    why: Continuity
    broken: int = 0
    unmoved: tuple[EventMove, ...] = ()
    missing: tuple[Direction, ...] = ()
    user_moves: int = 0


class DataLoss(StrEnum):
    """``autoscaling.no_data_loss``: why."""

    LOST = "lost"
    NONE_READ = "none_read"
    NOT_ALL_READ = "not_all_read"
    ALL_READ = "all_read"


@dataclass(frozen=True, kw_only=True)
class DataLossFacts:
    """Writes lost and the read-back's counts."""

    why: DataLoss
    lost: int = 0
    readback: ReadBack = field(default_factory=ReadBack)


class Scaling(StrEnum):
    """``autoscaling.degradation``: why."""

    NO_RUN = "no_run"
    NOT_SHOWN = "not_shown"
    """an event failed or a phase had no iterations to compare"""
    JUDGED = "judged"


@dataclass(frozen=True, kw_only=True)
class DegradationFacts:
    """Each scaled run's events, judged before/during."""

    why: Scaling
    runs: tuple[tuple[EventDegradation, ...], ...] = ()


class Limits(StrEnum):
    """A threshold item (response time, error rate, throughput, soak memory, volume): why."""

    FAILED = "failed"
    UNMEASURED = "unmeasured"
    PARTIAL = "partial"
    NONE_SET = "none_set"
    MET = "met"
    NOT_SAMPLED = "not_sampled"
    """soak: no run sampled the service's memory"""
    SHORT_SPAN = "short_span"
    """soak: the service's memory was sampled over too short a span"""
    NO_VOLUME_RUN = "no_volume_run"


@dataclass(frozen=True, kw_only=True)
class TestThreshold:
    """A threshold judged on one test's run."""

    __test__ = False  # not a pytest class, whatever its name

    test: str
    outcome: ThresholdOutcome


@dataclass(frozen=True, kw_only=True)
class StepOnly:
    """A run whose thresholds of this kind each cover one step, never the whole flow."""

    test: str
    exprs: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ThresholdFacts:
    """Every threshold of the item's kind, the ones shown (failed or unmeasured), the runs limited
    per step only, and (soak) the longest span sampled against the shortest soak_min_span."""

    why: Limits
    thresholds: tuple[TestThreshold, ...] = ()
    shown: tuple[ThresholdOutcome, ...] = ()
    partial: tuple[StepOnly, ...] = ()
    measured: int = 0
    best_span: float = 0.0
    min_span: float = 0.0


class Recovery(StrEnum):
    """``performance.stress_recovery`` and ``performance.spike``: why."""

    NO_RUN = "no_run"
    FAILED = "failed"
    NOT_SHOWN = "not_shown"
    PASSED = "passed"


@dataclass(frozen=True, kw_only=True)
class StressRun:
    """One stress run: its test, what it showed and its evidence."""

    test: str
    kind: StressKind
    evidence: StressEvidence


@dataclass(frozen=True, kw_only=True)
class StressFacts:
    """The stress runs shown (at most a few)."""

    why: Recovery
    shown: tuple[StressRun, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SpikeRun:
    """One spike run: its test, what it showed and its evidence."""

    test: str
    kind: SpikeKind
    evidence: SpikeEvidence


@dataclass(frozen=True, kw_only=True)
class SpikeFacts:
    """The spike runs shown (at most a few)."""

    why: Recovery
    shown: tuple[SpikeRun, ...] = ()


class Baseline(StrEnum):
    """``performance.baseline``: why."""

    NOT_COMPARED = "not_compared"
    UNREADABLE = "unreadable"
    NO_TEST = "no_test"
    REGRESSED = "regressed"
    MISSING = "missing"
    WITHIN = "within"


@dataclass(frozen=True, kw_only=True)
class BaselineRow:
    """One step compared with its baseline."""

    test: str
    step: str
    p90_ms: float
    baseline_p90_ms: float
    p90_limit_ms: float
    error_rate: float
    baseline_error_rate: float
    passed: bool

    def to_dict(self) -> dict[str, str | float | bool]:
        """Plain-data form."""
        return {"test": self.test, "step": self.step, "p90_ms": self.p90_ms,
                "baseline_p90_ms": self.baseline_p90_ms, "p90_limit_ms": self.p90_limit_ms,
                "error_rate": self.error_rate, "baseline_error_rate": self.baseline_error_rate,
                "passed": self.passed}


@dataclass(frozen=True, kw_only=True)
class BaselineFacts:
    """The baseline's name, the steps compared (and regressed), the steps it does not have, the
    limits; ``error``: why the baseline could not be read."""

    why: Baseline
    name: str = ""
    compared: int = 0
    regressed: tuple[BaselineRow, ...] = ()
    missing: tuple[str, ...] = ()
    p90_regression: float = 0.0
    error_increase: float = 0.0
    error: str = ""


class Selected(StrEnum):
    """``suite.selection``: why."""

    PARTIAL = "partial"
    NO_TEST = "no_test"
    ALL = "all"


@dataclass(frozen=True, kw_only=True)
class SelectionFacts:
    """The FPT tests deselected, whether it was a ``--lf`` re-run, how many ran."""

    why: Selected
    deselected: tuple[str, ...] = ()
    last_failed: bool = False
    ran: int = 0


class Strength(StrEnum):
    """``checks.full_strength``: why."""

    NARROWED = "narrowed"
    NO_RUN = "no_run"
    FULL = "full"


@dataclass(frozen=True, kw_only=True)
class Narrowed:
    """A setting that narrowed a check, and where it came from."""

    key: str
    source: str


@dataclass(frozen=True, kw_only=True)
class StrengthFacts:
    """The settings that narrowed a check (each once), how many narrowings, how many runs."""

    why: Strength
    settings: tuple[Narrowed, ...] = ()
    narrowings: int = 0
    runs: int = 0


@dataclass(frozen=True, kw_only=True)
class WrittenFacts:
    """An item read back from a file: its words as the fpt that wrote it put them (shown, never
    decided on: the status and the evidence are)."""

    detail: str


@dataclass(frozen=True, kw_only=True)
class MergedFacts:
    """The gate's merge of one item over several files: the facts of the parts it kept."""

    parts: tuple[Facts, ...]


Facts = (ExecutedFacts | AloneFacts | SwapFacts | NegativeFacts | ContinuityFacts | DataLossFacts
         | DegradationFacts | ThresholdFacts | StressFacts | SpikeFacts | BaselineFacts | SelectionFacts
         | StrengthFacts | WrittenFacts | MergedFacts)
"""What an item found: one kind of facts per kind of item."""
