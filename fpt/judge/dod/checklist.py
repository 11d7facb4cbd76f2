"""The checklist as typed data: each item's outcome, the session's test counts, what blocks the
level, and the inverse of the written form (the gate reads files back with :meth:`Checklist.from_dict`).

The written form, with its words, is :func:`fpt.report.checklist.checklist_dict`'s; :func:`digest` is
shared by the writer and the gate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, cast

from fpt.config.shard import Shard
from fpt.evidence.explore import ExploreRecord
from fpt.evidence.findings import Finding, Json
from fpt.evidence.narrowing import Selection, Weakening
from fpt.evidence.provenance import Provenance
from fpt.evidence.stats import FailureRow, StepRow
from fpt.judge.dod.catalogue import FAILED, PASSED
from fpt.judge.dod.facts import Facts, WrittenFacts
from fpt.judge.loadtypes import LoadRow, ResourceRow
from fpt.judge.outcome import Status


@dataclass(frozen=True, kw_only=True)
class TestCounts:
    """Outcomes of the FPT tests of the session (tests marked ``fpt``)."""

    __test__ = False  # not a pytest class, whatever its name

    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def ran(self) -> int:
        """Tests that ran (passed or failed)."""
        return self.passed + self.failed

    def to_dict(self) -> dict[str, int]:
        """Plain-data form."""
        return {"passed": self.passed, "failed": self.failed, "skipped": self.skipped}


class ThresholdRow(TypedDict):
    """One of a run's thresholds in its :class:`RunRow`: measured (``None``: not evidenced), and in words."""

    expr: str
    measured: float | None
    passed: bool
    detail: str


class RunRow(TypedDict):
    """What a run did, in numbers: one entry of :attr:`Checklist.runs` and of ``runs`` in ``fpt-dod.json``
    (made by :func:`fpt.judge.dod.evaluate.run_evidence`).

    A file written by an older fpt may lack some keys: what reads a file back reads them with ``get``.
    """

    test: str
    flow: str
    profile: str
    target: str
    shape: str
    target_rate: float
    achieved_rate: float
    users: int
    iterations: int
    dropped: int
    duration_s: float
    peak_inflight: int
    overlap_request_pairs: int
    checks: list[str]
    swap_verdict: str
    inspected: int
    cancelled: int
    dropped_late: int
    arrivals: str
    steps_without_overlap: list[str]
    findings: dict[str, int]
    thresholds: list[ThresholdRow]
    p90_ms: float | None
    error_rate: float
    worker: str
    incomplete: bool
    abandoned: int
    seed: int
    steps: list[StepRow]
    failures: list[FailureRow]
    resources: list[ResourceRow]
    load: LoadRow
    #: the run's own failed checks, in words (or each problem's key)
    check_failures: list[str]
    #: an OpenAPI hunt's operations (:meth:`fpt.evidence.coverage.ApiCoverage.to_dict`)
    coverage: NotRequired[Mapping[str, Json]]


@dataclass(frozen=True, kw_only=True)
class ItemOutcome:
    """One checklist item: its status, the facts behind it, which tests showed it, the numbers
    written as its evidence, and the findings it shows as examples."""

    name: str
    status: Status
    facts: Facts
    tests: tuple[str, ...] = ()
    evidence: Mapping[str, Json] = field(default_factory=dict)
    #: findings shown as examples, worded into the written evidence's ``examples`` by
    #: :func:`fpt.report.checklist.item_dict` (None: the item has no examples, or was read from a
    #: file, whose evidence keeps the examples as written)
    examples: tuple[Finding, ...] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemOutcome:
        """An item as a file has it: its words are kept to be shown (:class:`WrittenFacts`)."""
        return cls(name=d["name"], status=Status(d["status"]), facts=WrittenFacts(detail=d["detail"]),
                   tests=tuple(d["tests"]), evidence=dict(d["evidence"]))


class ExploreWhy(StrEnum):
    """Why an exploration fails the checklist."""

    FOUND_FAILURE = "found_failure"
    TRIED_NOTHING = "tried_nothing"
    STOPPED = "stopped"


def explore_problem(ex: ExploreRecord) -> ExploreWhy | None:
    """Why an exploration fails the checklist (None when it tried examples and all passed).

    Like a run's own checks: a failure found fails the checklist whatever the test did with the
    exception (``pytest.raises``, ``try``), and an exploration that tried nothing proves nothing.
    """
    if ex.failed:
        return ExploreWhy.FOUND_FAILURE
    if not ex.examples:
        return ExploreWhy.TRIED_NOTHING
    if ex.error:
        return ExploreWhy.STOPPED
    return None


class BlockerKind(StrEnum):
    """What keeps a checklist from passing its level (the order of :attr:`Checklist.blockers`)."""

    PARTIAL = "partial"
    """a shard's own checklist: it never passes alone"""
    INCOMPLETE = "incomplete"
    """part of the session is missing (``subject``: why, as the session recorded it)"""
    MISSING_PART = "missing_part"
    """run ``subject`` is missing a worker's part"""
    NOTHING_REQUIRED = "nothing_required"
    TESTS_FAILED = "tests_failed"
    """``count`` FPT tests failed"""
    SOURCE_FAILED = "source_failed"
    """a file merged by the gate (``subject``) did not pass its own verdict"""
    RUN_CHECKS = "run_checks"
    """run ``index`` of :attr:`Checklist.runs` failed its own checks"""
    EXPLORATION = "exploration"
    """exploration ``index`` of :attr:`Checklist.explorations` failed (``explore``: why)"""
    ITEM = "item"
    """required item ``subject`` did not pass"""


@dataclass(frozen=True, kw_only=True)
class Blocker:
    """One reason the checklist fails its level."""

    kind: BlockerKind
    subject: str = ""
    count: int = 0
    index: int = -1
    explore: ExploreWhy | None = None


@dataclass(frozen=True, kw_only=True)
class Checklist:
    """The whole checklist of a session (or of several, merged by the gate)."""

    level: str
    required: tuple[str, ...]
    items: tuple[ItemOutcome, ...]
    tests: TestCounts = TestCounts()
    #: why part of the session is missing, as recorded (a crashed worker, an interruption)
    incomplete: tuple[str, ...] = ()
    #: runs missing a worker's part (their tests)
    missing_parts: tuple[str, ...] = ()
    runs: tuple[RunRow, ...] = ()
    created: str = ""
    sources: tuple[str, ...] = ()
    #: files merged by the gate whose own verdict was not passed
    failed_sources: tuple[str, ...] = ()
    #: each ``fpt_load.explore`` call: examples tried, failures found
    explorations: tuple[ExploreRecord, ...] = ()
    #: set on a shard's own checklist: partial, it never passes alone (``fpt merge`` the shards)
    shard: Shard | None = None
    #: the session that wrote it (id, start, CI job); None in a merged or hand-made checklist
    session: Provenance | None = None
    #: FPT tests the selection left out
    selection: Selection = field(default_factory=Selection)
    #: settings that narrowed a check, with their source and what they hid
    weakened: tuple[Weakening, ...] = ()

    def item(self, name: str) -> ItemOutcome:
        """The outcome of item ``name``."""
        return next(i for i in self.items if i.name == name)

    @property
    def blockers(self) -> tuple[Blocker, ...]:
        """Why the gate fails at this level (empty when it passes), in the order they are shown."""
        out = [Blocker(kind=BlockerKind.PARTIAL)] if self.shard is not None else []
        out.extend(Blocker(kind=BlockerKind.INCOMPLETE, subject=r) for r in self.incomplete)
        out.extend(Blocker(kind=BlockerKind.MISSING_PART, subject=t) for t in self.missing_parts)
        if not self.required:
            out.append(Blocker(kind=BlockerKind.NOTHING_REQUIRED))
        if self.tests.failed:
            out.append(Blocker(kind=BlockerKind.TESTS_FAILED, count=self.tests.failed))
        out.extend(Blocker(kind=BlockerKind.SOURCE_FAILED, subject=s) for s in self.failed_sources)
        out.extend(Blocker(kind=BlockerKind.RUN_CHECKS, subject=str(run["test"]), index=n,
                           count=len(run["check_failures"]))
                   for n, run in enumerate(self.runs) if run.get("check_failures"))
        out.extend(Blocker(kind=BlockerKind.EXPLORATION, subject=ex.test, index=n, explore=why)
                   for n, ex in enumerate(self.explorations) if (why := explore_problem(ex)) is not None)
        out.extend(Blocker(kind=BlockerKind.ITEM, subject=name) for name in self.required
                   if self.item(name).status != PASSED)
        return tuple(out)

    @property
    def verdict(self) -> Status:
        """``passed`` or ``failed`` for the level."""
        return FAILED if self.blockers else PASSED

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checklist:
        """Inverse of :func:`fpt.report.checklist.checklist_dict` (validate and check the digest first: see
        ``fpt.judge.gate``)."""
        t = d["tests"]
        return cls(level=d["level"], required=tuple(d["required"]),
                   items=tuple(ItemOutcome.from_dict(i) for i in d["items"]),
                   tests=TestCounts(passed=t["passed"], failed=t["failed"], skipped=t["skipped"]),
                   incomplete=tuple(d["incomplete"]), created=d["created"],
                   # the file's rows, as written (validated against the schema by the gate)
                   runs=tuple(cast(RunRow, r) for r in d["runs"]),
                   sources=tuple(d.get("sources", ())), failed_sources=tuple(d.get("failed_sources", ())),
                   explorations=tuple(ExploreRecord.from_dict(e) for e in d.get("explorations", ())),
                   shard=Shard.from_dict(d["shard"]) if d.get("shard") else None,
                   session=Provenance.from_dict(d["session"]) if d.get("session") else None,
                   selection=Selection.from_dict(d.get("selection")),
                   weakened=tuple(Weakening.from_dict(w) for w in d.get("weakened", ())))


def digest(body: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of ``body`` without its ``digest`` (and ``signature``, made over
    the digest): detects edits and truncation."""
    canon = json.dumps({k: v for k, v in body.items() if k not in ("digest", "signature")}, sort_keys=True,
                       separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()
