"""The Definition-of-Done checklist: pure functions of the run results, and the gate's verdict.

Each item ends ``passed``, ``failed`` or ``not_evidenced``. An item is passed only
when a run showed it: a data-swap item needs a run with overlapping requests, a
scaling item needs events that moved traffic, a threshold item needs a measured
value. A level (``squad``, ``release``, or one from ``[tool.fpt.dod]``) names the
items it requires; the checklist passes when every required item passed and no
part of the run is missing (a crashed xdist worker).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fpt.config.errors import ConfigError
from fpt.config.redact import url as redact_url
from fpt.config.shard import Shard
from fpt.config.thresholds import Threshold, ThresholdOutcome, parse_threshold
from fpt.evidence.checks import ProbeEvidence, ReplayEvidence
from fpt.evidence.continuity import ContinuityEvidence, ReadBack
from fpt.evidence.findings import SWAP_KINDS
from fpt.evidence.loadtypes import SpikeEvidence, StressEvidence
from fpt.evidence.narrowing import SELECTION_ITEM, STRENGTH_ITEM, Selection, Weakening
from fpt.evidence.provenance import Provenance
from fpt.evidence.result import RunResult
from fpt.evidence.stats import FAILURE_ROWS, failure_rows, step_stats
from fpt.judge.continuity import (
    ContinuityJudgement,
    Degradation,
    Direction,
    EventDegradation,
    EventMove,
    Move,
    judge_run,
)
from fpt.judge.loadtypes import (
    SpikeKind,
    StressKind,
    harness_series,
    load_row,
    recovered,
    resources_evidence,
    rss_span,
    service_series,
    spike_kind,
    spike_passed,
    spike_status,
    stress_kind,
    stress_status,
)
from fpt.judge.outcome import Problem, Status
from fpt.judge.thresholds import measure
from fpt.judge.verdict import SHORT_WORDS, examples, problems, swap_kinds, swap_verdict

if TYPE_CHECKING:
    from fpt.evidence.explore import ExploreRecord

SCHEMA_VERSION = 2
PASSED, FAILED, NOT_EVIDENCED = "passed", "failed", "not_evidenced"
STATUSES = (PASSED, FAILED, NOT_EVIDENCED)

ITEMS: dict[str, str] = {
    "suite.executed": "at least one FPT test ran (not all skipped)",
    "functional.single_user": "each flow passes for one user alone",
    "data_swap.multi_user_live": "zero swaps under multi-user load, live profile",
    "data_swap.high_traffic_virtual": "zero swaps at high traffic, virtual profile",
    "data_swap.negative_concurrency": "cross-user access attempts all denied",
    "autoscaling.session_continuity": "no broken session across scale out and in",
    "autoscaling.no_data_loss": "every acknowledged write read back",
    "autoscaling.degradation": "p90 / error rate during scaling within limits",
    "performance.response_time": "p90 (and configured percentiles) within SLA",
    "performance.error_rate": "error rate within limit",
    "performance.throughput": "achieved rate >= 95% of target, dropped within limit",
    "performance.baseline": "no regression against the stored baseline",
    "performance.stress_recovery": "stress: a stair broke (rate and how named) and the service recovered",
    "performance.spike": "spike: errors during it within limit, back to baseline in time",
    "performance.soak_memory": "soak: the service's own RSS growth within limit over a long enough span",
    "performance.volume": "volume: p90 growth with seeded records per user within limit",
    SELECTION_ITEM: "every collected FPT test ran (none deselected by -k, --deselect, --lf)",
    STRENGTH_ITEM: "no check narrowed below its floor (shared/public routes, scan or hunting off, "
                   "loose limits)",
}
DEFAULT_LEVELS: dict[str, tuple[str, ...]] = {
    "squad": ("suite.executed", "functional.single_user", "data_swap.multi_user_live",
              "data_swap.high_traffic_virtual", "data_swap.negative_concurrency",
              "performance.error_rate", "performance.throughput"),
    "release": tuple(ITEMS),
}
DEFAULT_THROUGHPUT = ("throughput>=95%", "dropped<=1%")
"""Applied to every run that sets no throughput or dropped threshold of its own."""
DEFAULT_SOAK = ("service_rss_growth<10%",)
"""Applied to every run whose service RSS samples span soak_min_span and that sets no limit of its own."""
DEFAULT_VOLUME = ("volume_p90_growth<50%",)
"""Applied to every volume run that sets no volume_p90_growth limit of its own."""
EXAMPLES = 3


@dataclass(frozen=True, kw_only=True)
class TestCounts:
    """Outcomes of the FPT tests of the session (tests marked ``fpt``)."""

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


@dataclass(frozen=True, kw_only=True)
class ItemOutcome:
    """One checklist item: its status, why, which tests showed it, and the numbers."""

    name: str
    status: str
    detail: str
    tests: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"name": self.name, "description": ITEMS.get(self.name, ""), "status": self.status,
                "detail": self.detail, "tests": list(self.tests), "evidence": self.evidence}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemOutcome:
        """Inverse of :meth:`to_dict`."""
        return cls(name=d["name"], status=d["status"], detail=d["detail"], tests=tuple(d["tests"]),
                   evidence=dict(d["evidence"]))


@dataclass(frozen=True, kw_only=True)
class Checklist:
    """The whole checklist of a session (or of several, merged by the gate)."""

    level: str
    required: tuple[str, ...]
    items: tuple[ItemOutcome, ...]
    tests: TestCounts = TestCounts()
    incomplete: tuple[str, ...] = ()
    runs: tuple[dict[str, Any], ...] = ()
    created: str = ""
    sources: tuple[str, ...] = ()
    #: files merged by the gate whose own verdict was not passed
    failed_sources: tuple[str, ...] = ()
    #: each ``fpt_load.explore`` call (``ExploreRecord.to_dict``): examples tried, failures found
    explorations: tuple[dict[str, Any], ...] = ()
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
    def reasons(self) -> list[str]:
        """Why the gate fails at this level (empty when it passes)."""
        out = [f"incomplete: {r}" for r in self.incomplete]
        if self.shard is not None:
            out.insert(0, f"partial: shard {self.shard.label} of session {self.shard.session}; merge "
                          "every shard with `fpt merge` and gate the merged checklist")
        if not self.required:
            out.append(f"level {self.level!r} requires no item: it proves nothing")
        if self.tests.failed:
            out.append(f"{self.tests.failed} FPT test{'s' if self.tests.failed != 1 else ''} failed")
        out.extend(f"{src}: its own verdict was not passed" for src in self.failed_sources)
        for run in self.runs:
            if run.get("check_failures"):
                first = str(run["check_failures"][0]).split("\n", 1)[0]
                out.append(f"run {run['test']} failed its checks ({len(run['check_failures'])}): {first}")
        out.extend(r for r in map(explore_reason, self.explorations) if r)
        for name in self.required:
            i = self.item(name)
            if i.status != PASSED:
                out.append(f"{name} {i.status.replace('_', ' ')}: {i.detail}")
        return out

    @property
    def verdict(self) -> str:
        """``passed`` or ``failed`` for the level."""
        return FAILED if self.reasons else PASSED

    def to_dict(self) -> dict[str, Any]:
        """Plain, schema-versioned form with a digest over everything else."""
        body: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "tool": "fpt", "created": self.created,
            "level": self.level, "required": list(self.required), "verdict": self.verdict,
            "reasons": self.reasons, "incomplete": list(self.incomplete), "tests": self.tests.to_dict(),
            "items": [i.to_dict() for i in self.items], "runs": list(self.runs),
            "sources": list(self.sources), "failed_sources": list(self.failed_sources),
            "explorations": list(self.explorations),
            "session": self.session.to_dict() if self.session else None,
            "selection": self.selection.to_dict(), "weakened": [w.to_dict() for w in self.weakened],
        }
        if self.shard is not None:
            body["shard"] = self.shard.to_dict()
        body["digest"] = digest(body)
        return body

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checklist:
        """Inverse of :meth:`to_dict` (validate and check the digest first: see ``fpt.judge.gate``)."""
        t = d["tests"]
        return cls(level=d["level"], required=tuple(d["required"]),
                   items=tuple(ItemOutcome.from_dict(i) for i in d["items"]),
                   tests=TestCounts(passed=t["passed"], failed=t["failed"], skipped=t["skipped"]),
                   incomplete=tuple(d["incomplete"]), runs=tuple(d["runs"]), created=d["created"],
                   sources=tuple(d.get("sources", ())), failed_sources=tuple(d.get("failed_sources", ())),
                   explorations=tuple(d.get("explorations", ())),
                   shard=Shard.from_dict(d["shard"]) if d.get("shard") else None,
                   session=Provenance.from_dict(d["session"]) if d.get("session") else None,
                   selection=Selection.from_dict(d.get("selection")),
                   weakened=tuple(Weakening.from_dict(w) for w in d.get("weakened", ())))


def explore_reason(ex: Mapping[str, Any]) -> str:
    """Why an exploration fails the checklist ("" when it tried examples and all passed).

    Like a run's own checks: a failure found fails the checklist whatever the test did with the
    exception (``pytest.raises``, ``try``), and an exploration that tried nothing proves nothing.
    """
    where = f"explore {ex['test']} ({ex['flow']})"
    if ex["failed"]:
        first = str(ex["minimal"]).split("\n", 1)[0] or ex["error"]
        return f"{where} found a failing input ({', '.join(ex['kinds']) or 'error'}): {first}"
    if not ex["examples"]:
        return f"{where} tried no example: {ex['error'] or 'nothing was explored'}"
    if ex["error"]:
        return f"{where} stopped after {ex['examples']} examples: {ex['error']}"
    return ""


def digest(body: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of ``body`` without its ``digest`` (and ``signature``, made over
    the digest): detects edits and truncation."""
    canon = json.dumps({k: v for k, v in body.items() if k not in ("digest", "signature")}, sort_keys=True,
                       separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()


# -- evidence helpers -------------------------------------------------------------------------------

def _examples(results: Iterable[RunResult], kinds: Sequence[str]) -> list[str]:
    out: list[str] = []
    for r in results:
        for kind in kinds:
            # spread over the run and over users, not the first users alone
            out.extend(f.one_line() for f in examples(r.findings.of(kind), EXAMPLES))
    return out[:EXAMPLES]


def _count(results: Iterable[RunResult], kinds: Sequence[str]) -> int:
    return sum(r.findings.counts.get(k, 0) for r in results for k in kinds)


def _names(results: Iterable[RunResult]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.name for r in results))


ProblemWords = Callable[[RunResult, Problem], str]
"""How a run's problem is put in words (:func:`fpt.report.problems.problem_line`, given by the caller:
the judge makes no sentences of its own for them)."""


def run_evidence(r: RunResult, words: ProblemWords | None = None) -> dict[str, Any]:
    """What a run did, in numbers, for the checklist's ``runs`` list (``words``: see :data:`ProblemWords`;
    without it each problem is its compact :attr:`~fpt.judge.outcome.Problem.key`)."""
    e = r.engine
    return {
        "test": r.name, "flow": r.flow, "profile": r.profile, "target": redact_url(r.target),
        "shape": r.shape, "target_rate": round(r.target_rate, 3), "achieved_rate": round(r.achieved_rate, 3),
        "users": r.users, "iterations": e.started, "dropped": e.dropped, "duration_s": round(r.duration, 3),
        "peak_inflight": e.peak_inflight, "overlap_request_pairs": r.evidence.overlap_pairs,
        "checks": list(r.evidence.checks), "swap_verdict": swap_verdict(r),
        "inspected": r.evidence.inspected, "cancelled": e.cancelled, "dropped_late": e.dropped_late,
        "arrivals": r.evidence.arrivals or r.arrivals,
        "steps_without_overlap": list(r.evidence.steps_without_overlap),
        "findings": dict(sorted(r.findings.counts.items())),
        "thresholds": [{"expr": t.expr, "measured": t.measured, "passed": t.passed, "detail": t.detail}
                       for t in r.thresholds],
        "p90_ms": round(r.metrics.flow.hist.percentile(90) / 1000, 3) if r.metrics.flow.count else None,
        "error_rate": round(r.metrics.flow.error_rate, 6), "worker": r.worker, "incomplete": r.incomplete,
        "abandoned": r.abandoned,
        "seed": r.seed,
        # per-step statistics and the failures table (fpt.evidence.stats), also written as CSV
        "steps": step_stats(r), "failures": failure_rows(r, FAILURE_ROWS),
        "resources": resources_evidence(r.resources), "load": load_row(r.load),
        # Whatever the test did with them (check=False, pytest.raises, a skip after the run): a run
        # that failed its own checks fails the checklist. Thresholds are judged by the items.
        "check_failures": [words(r, p) if words is not None else p.key
                           for p in problems(r, thresholds=False)],
        # an OpenAPI hunt: every operation of the document, exercised, checked, probed or skipped (why)
        **({"coverage": r.coverage.to_dict()} if r.coverage is not None else {}),
    }


Item = Callable[[Sequence[RunResult]], ItemOutcome]


def _swap_item(name: str, profile: str, min_rate: float = 0.0) -> Item:
    def judge(results: Sequence[RunResult]) -> ItemOutcome:
        runs = [r for r in results if r.profile == profile and r.users > 1]
        if not runs:
            return ItemOutcome(name=name, status=NOT_EVIDENCED, detail=f"no multi-user {profile} run")
        n = _count(runs, SWAP_KINDS)
        ev: dict[str, Any] = {
            "runs": len(runs), "swaps": n, "examples": _examples(runs, SWAP_KINDS),
            # the run line's words ("cache/shared state", "concurrency"), not the field's spelling
            "kinds": sorted({SHORT_WORDS.get(f.verdict_kind, f.verdict_kind) for r in runs
                             for f in r.findings.examples if f.kind in SWAP_KINDS}),
            "inspected": sum(r.evidence.inspected for r in runs),
            "overlap_request_pairs": sum(r.evidence.inspected_overlap_pairs for r in runs),
            "peak_inflight": max(r.engine.peak_inflight for r in runs),
            "achieved_rate": max(r.achieved_rate for r in runs), "required_rate": min_rate,
            "steps_without_overlap": sorted({s for r in runs for s in r.evidence.steps_without_overlap})}
        if n:
            return ItemOutcome(name=name, status=FAILED, tests=_names(runs), evidence=ev,
                               detail=f"{n} responses carried another user's data "
                                      f"({', '.join(ev['kinds']) or 'data swap'})")
        checked = [r for r in runs if r.evidence.inspected]
        if not checked:
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev,
                               detail="no data-swap check inspected a successful answer (canary scan off, "
                                      "no expect_owner, or every request failed)")
        unchecked = [r for r in runs if not r.evidence.inspected]
        if unchecked:
            # The item speaks for every such run: one checked run does not vouch for another.
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(unchecked), evidence=ev,
                               detail=f"no data-swap check inspected a successful answer of "
                                      f"{', '.join(_names(unchecked))}")
        dark = sorted({s.step for r in runs for s in r.evidence.steps
                       if s.responses and not s.ok and not s.step.startswith("fpt.")})
        if dark:
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev,
                               detail=f"step{'s' if len(dark) > 1 else ''} {', '.join(dark)} answered only "
                                      "errors: no answer there could be checked for another user's data")
        cut = [r for r in runs if r.evidence.scan.truncated]
        if cut:
            # Every byte a user receives is scanned, or counted as not scanned: an answer not seen whole
            # could have carried another user's data past the limit.
            ev["unscanned_answers"] = sum(r.evidence.scan.truncated for r in cut)
            ev["unscanned_bytes"] = sum(r.evidence.scan.skipped_bytes for r in cut)
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(cut), evidence=ev,
                               detail=f"{ev['unscanned_answers']} answers were larger than scan_limit, "
                                      f"not scanned whole ({ev['unscanned_bytes']} bytes unscanned): another "
                                      "user's data there could not have shown (raise scan_limit)")
        if ev["steps_without_overlap"]:
            # A checked step that never ran concurrently could not have shown a concurrency swap.
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev,
                               detail="checked steps that never overlapped another user's: "
                                      f"{', '.join(ev['steps_without_overlap'])} (a swap there could not "
                                      "have shown; raise the rate or the burst)")
        shown = [r for r in checked if r.evidence.inspected_overlap_pairs > 0]
        if not shown:
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev,
                               detail="no two users' checked, successful answers overlapped: "
                                      "a swap could not have shown")
        fast = [r for r in shown if r.achieved_rate >= min_rate * 0.95]
        if not fast:
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(shown), evidence=ev,
                               detail=f"no {profile} run achieved the high-traffic rate of {min_rate:g}/s "
                                      f"(best {ev['achieved_rate']:.1f}/s)")
        pairs = sum(r.evidence.inspected_overlap_pairs for r in fast)
        inspected = sum(r.evidence.inspected for r in fast)
        return ItemOutcome(name=name, status=PASSED, tests=_names(fast), evidence=ev,
                           detail=f"0 swaps in {inspected} checked answers of {len(fast)} runs with "
                                  f"{pairs} overlapping pairs of different users")
    return judge


def _single_user(results: Sequence[RunResult]) -> ItemOutcome:
    name = "functional.single_user"
    runs = [r for r in results if r.evidence.alone is not None]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, detail="no run had a single-user phase (alone=0)")
    bad = [r for r in runs if r.evidence.alone is None or not r.evidence.alone.passed]
    flows = sorted({r.flow for r in runs})
    ev = {"flows": flows, "runs": len(runs),
          "failures": [f"{r.flow}: {'; '.join(r.evidence.alone.failures if r.evidence.alone else ())[:300]}"
                       for r in bad]}
    if bad:
        return ItemOutcome(name=name, status=FAILED, tests=_names(bad), evidence=ev,
                           detail=f"fails for one user alone: {', '.join(sorted({r.flow for r in bad}))}")
    never = [r for r in results if r.flow not in flows]
    if never:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(never), evidence=ev,
                           detail=f"never run alone (alone=0): {', '.join(sorted({r.flow for r in never}))} "
                                  f"({', '.join(_names(never))})")
    return ItemOutcome(name=name, status=PASSED, tests=_names(runs), evidence=ev,
                       detail=f"{len(flows)} flow(s) pass alone: {', '.join(flows)}")


def _negative(results: Sequence[RunResult]) -> ItemOutcome:
    name = "data_swap.negative_concurrency"
    runs = [r for r in results if r.evidence.probes.enabled or r.evidence.replay.enabled]
    p = ProbeEvidence()
    rp = ReplayEvidence()
    for r in runs:
        p = p + r.evidence.probes
        rp = rp + r.evidence.replay
    leaks = _count(runs, ("cross_user",))
    ev = {**p.to_dict(), "cross_user_findings": leaks, "examples": _examples(runs, ("cross_user",)),
          "replay": rp.to_dict()}
    leaked = max(leaks, p.leaked + rp.leaked + rp.anon_leaked)
    if leaked:
        # The words of the run line, as proven by asking each leak again alone after the load.
        # A replay that leaked once and not when asked again is a data_swap finding (concurrency).
        # Without a cross_user finding, every leak became a data_swap finding (not authorization).
        shown = [f for r in runs for f in r.findings.examples if f.kind == "cross_user"
                 or (f.kind in SWAP_KINDS and f.evidence.get("detector") == "replay")]
        # Without a kept example, the run line's words for those swaps.
        words = sorted({SHORT_WORDS.get(f.verdict_kind, f.verdict_kind) for f in shown}
                       or ({"authorization"} if leaks else
                           {SHORT_WORDS[k] for r in runs for k in swap_kinds(r)
                            if k in ("concurrency", "cache_shared_state")})
                       or {"concurrency or cache/shared state"})
        ev["kinds"] = words
        label = ", ".join(w + (": BOLA/IDOR" if w == "authorization" else "") for w in words)
        return ItemOutcome(name=name, status=FAILED, tests=_names(runs), evidence=ev,
                           detail=f"{leaked} of {p.tried + rp.tried + rp.anon_tried} cross-user attempts "
                                  f"(probes and replays) got the owner's data ({label})")
    if not p.denied and rp.denied:
        return ItemOutcome(name=name, status=PASSED, tests=_names(runs), evidence=ev,
                           detail=f"{rp.denied} of {rp.tried} requests replayed as another user refused with "
                                  f"that user's working credentials, 0 leaked ({rp.own} answered with its "
                                  f"own data, {rp.unproven} unproven)")
    if not p.denied:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev,
                           detail=f"no cross-user attempt was refused with working credentials "
                                  f"({p.tried} tried: {p.unproven} unproven, {p.allowed} answered 2xx "
                                  f"without the owner's data (unproven), {p.errors} errors, "
                                  f"{p.inconclusive} inconclusive, {p.public} public, {p.no_target} "
                                  "without a target)")
    return ItemOutcome(name=name, status=PASSED, tests=_names(runs), evidence=ev,
                       detail=f"{p.denied} of {p.tried} cross-user attempts refused with the prober's own "
                              f"working credentials, 0 leaked ({p.unproven} unproven, {p.allowed} answered "
                              f"2xx without the owner's data (unproven), {p.errors} errors)"
                              + (f"; replays as another user: {rp.denied} refused, {rp.own} own data, "
                                 f"0 leaked" if rp.enabled else ""))


def _scaled(results: Sequence[RunResult]) -> list[tuple[RunResult, ContinuityEvidence, ContinuityJudgement]]:
    out = []
    for r in results:
        j = judge_run(r)
        if r.continuity is not None and j is not None:
            out.append((r, r.continuity, j))
    return out


def _event_evidence(m: EventMove) -> dict[str, Any]:
    return {**m.event.to_dict(), "index": m.index, "direction": str(m.direction), "moved_traffic": m.moved,
            "move": str(m.move), "replicas": list(m.replicas)}


_UNMOVED = {Move.NO_REPLICA_HEADER: "no response named its replica (is the served-by header set?)",
            Move.NO_NEW_REPLICA: "no user reached a new replica",
            Move.NOT_DRAINED: "no user's replica was drained"}


def _unmoved(m: EventMove) -> str:
    if m.move is Move.EVENT_FAILED:
        return f"event failed: {m.event.error}"
    return _UNMOVED.get(m.move, str(m.move))


def _continuity(results: Sequence[RunResult]) -> ItemOutcome:
    name = "autoscaling.session_continuity"
    scaled = _scaled(results)
    runs = [r for r, _, _ in scaled]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, detail="no run had scale events")
    broken = _count(runs, ("session",))
    directions = {d for _, _, j in scaled for d in j.directions}
    unevidenced = [j for _, _, j in scaled if not j.evidenced]
    ev = {"runs": len(runs), "broken_sessions": broken, "examples": _examples(runs, ("session",)),
          "events": [_event_evidence(m) for _, _, j in scaled for m in j.moves],
          "user_moves": sum(c.user_moves for _, c, _ in scaled)}
    if broken:
        return ItemOutcome(name=name, status=FAILED, tests=_names(runs), evidence=ev,
                           detail=f"{broken} broken sessions across scale events")
    if unevidenced or not {Direction.OUT, Direction.IN} <= directions:
        missing = sorted({Direction.OUT, Direction.IN} - directions)
        detail = ("; ".join(_unmoved(m) for j in unevidenced for m in j.unmoved)
                  or f"no scale-{'/'.join(missing)} that moved traffic")
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev, detail=detail)
    return ItemOutcome(name=name, status=PASSED, tests=_names(runs), evidence=ev,
                       detail=f"0 broken sessions; scale out and in moved traffic "
                              f"({ev['user_moves']} user moves)")


def _data_loss(results: Sequence[RunResult]) -> ItemOutcome:
    name = "autoscaling.no_data_loss"
    scaled = _scaled(results)
    runs = [r for r, _, _ in scaled]
    rb = ReadBack()
    for _, c, _ in scaled:
        rb = rb + c.readback
    lost = max(rb.lost, _count(runs, ("data_loss",)))
    ev = {**rb.to_dict(), "examples": _examples(runs, ("data_loss",))}
    if lost:
        return ItemOutcome(name=name, status=FAILED, tests=_names(runs), evidence=ev,
                           detail=f"{lost} of {rb.tried} acknowledged writes lost")
    if not rb.tried:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev,
                           detail="no acknowledged write was read back (no scale run, or empty ledgers)")
    if rb.errors or rb.skipped:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev,
                           detail=f"{rb.errors} read-backs failed and {rb.skipped} were not made"
                           + (f" ({rb.not_kept} writes past the run's read-back sample)" if rb.not_kept
                              else ""))
    return ItemOutcome(name=name, status=PASSED, tests=_names(runs), evidence=ev,
                       detail=f"all {rb.ok} acknowledged writes read back")


def _degradation_text(d: EventDegradation) -> str:
    if d.kind is Degradation.NO_ITERATIONS:
        return f"event {d.index}: no iterations to compare before/during"
    return (f"event {d.index}: p90 {(d.p90_before_us or 0) / 1000:.1f}ms -> "
            f"{(d.p90_during_us or 0) / 1000:.1f}ms (limit x{d.p90_factor:g}), errors "
            f"{(d.error_rate or 0) * 100:.2f}% (limit {d.error_rate_limit * 100:g}%) "
            f"{'ok' if d.kind is Degradation.WITHIN else 'FAILED'}")


def _degradation(results: Sequence[RunResult]) -> ItemOutcome:
    name = "autoscaling.degradation"
    scaled = _scaled(results)
    runs = [r for r, _, _ in scaled]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, detail="no run had scale events")
    details = ["; ".join(_degradation_text(d) for d in j.degradation) for _, _, j in scaled]
    ev = {"phases": {r.name: _phases(r, c) for r, c, _ in scaled}, "detail": details,
          "events": [{"index": d.index, "kind": str(d.kind), "p90_before_us": d.p90_before_us,
                      "p90_during_us": d.p90_during_us, "error_rate": d.error_rate,
                      "p90_factor": d.p90_factor, "error_rate_limit": d.error_rate_limit}
                     for _, _, j in scaled for d in j.degradation]}
    detail = "; ".join(d for d in details if d)
    statuses = {j.degradation_status for _, _, j in scaled}
    if Status.NOT_EVIDENCED in statuses:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(runs), evidence=ev,
                           detail=detail or "a scale event failed or a phase had no iterations")
    status = FAILED if Status.FAILED in statuses else PASSED
    return ItemOutcome(name=name, status=status, tests=_names(runs), evidence=ev, detail=detail)


def _phases(r: RunResult, c: ContinuityEvidence) -> dict[str, dict[str, Any]]:
    """Each phase's boundaries and figures (p90 in ms, error rate, iterations)."""
    out = {}
    for p in c.timeline.phases:
        m = r.metrics.phases.get(p.name)
        if m is not None:
            out[p.name] = {"start": round(p.start, 3), "end": round(p.end, 3), "iterations": m.count,
                           "p50_ms": m.hist.percentile(50) / 1000, "p90_ms": m.hist.percentile(90) / 1000,
                           "error_rate": m.error_rate}
    return out


def _threshold_item(name: str, metrics: Callable[[str], bool], what: str,
                    defaults: Sequence[str] = (), whole_flow: bool = False) -> Item:
    """``whole_flow``: a run's thresholds of this kind judge it only when one covers the whole
    flow (a limit on one step leaves every other step's errors unjudged)."""
    extra = tuple(parse_threshold(d) for d in defaults)

    def judge(results: Sequence[RunResult]) -> ItemOutcome:
        outcomes: list[tuple[RunResult, ThresholdOutcome]] = []
        partial: list[tuple[RunResult, list[str]]] = []
        for r in results:
            own = [(t.threshold.metric, t) for t in r.thresholds]
            own = [(m, t) for m, t in own if metrics(m)]
            outcomes.extend((r, t) for _, t in own)
            if whole_flow and own and all(t.threshold.step for _, t in own):
                partial.append((r, [t.expr for _, t in own]))
            if extra and r.engine.planned and r.broke_at_rate is None:
                have = {m for m, _ in own}
                outcomes.extend((r, measure(r, th)) for th in extra if th.metric not in have)
        measured = [(r, t) for r, t in outcomes if t.measured is not None]
        failed = [(r, t) for r, t in measured if not t.passed]
        unmeasured = [(r, t) for r, t in outcomes if t.measured is None]
        ev = {"thresholds": [{"test": r.name, "expr": t.expr, "measured": t.measured, "passed": t.passed,
                              "detail": t.detail} for r, t in outcomes]}
        if failed:
            return ItemOutcome(name=name, status=FAILED, tests=_names(r for r, _ in failed), evidence=ev,
                               detail="; ".join(t.detail for _, t in failed[:EXAMPLES]))
        if unmeasured:
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(r for r, _ in unmeasured),
                               evidence=ev, detail="; ".join(t.detail for _, t in unmeasured[:EXAMPLES]))
        if partial:
            return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(r for r, _ in partial),
                               evidence=ev, detail="; ".join(
                                   f"{r.name}: no whole-flow {what} threshold, only {', '.join(e)} (the "
                                   "other steps were not judged)" for r, e in partial[:EXAMPLES]))
        if not measured:
            return ItemOutcome(name=name, status=NOT_EVIDENCED, evidence=ev,
                               detail=f"no {what} threshold was set and measured")
        return ItemOutcome(name=name, status=PASSED, tests=_names(r for r, _ in measured), evidence=ev,
                           detail=f"{len(measured)} {what} thresholds met")
    return judge


def _stress_text(r: RunResult, st: StressEvidence) -> str:
    kind = stress_kind(st)
    if kind is StressKind.HELD_EVERY_STAIR:
        return f"{r.name}: every stair held (up to {st.stairs[-1].rate if st.stairs else 0:g}/s)"
    broke = f"{r.name}: broke at {st.broke_rate:g}/s ({'; '.join(st.how)})"
    if kind is StressKind.RECOVERY_NOT_OBSERVED:
        return f"{broke}; recovery not observed"
    if kind is StressKind.RECOVERED:
        return f"{broke}; recovered after {st.recovered_after:.0f}s (limit {st.recovery_within:g}s)"
    return f"{broke}; did NOT recover within {st.recovery_within:g}s ({st.recovery_seconds:.0f}s watched)"


def _stress(results: Sequence[RunResult]) -> ItemOutcome:
    name = "performance.stress_recovery"
    runs = [(r, r.load.stress) for r in results if r.load.stress is not None]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, detail="no stress run (rate=fpt.step_up(...))")
    ev = {"runs": [{"test": r.name, **st.to_dict(), "recovered": recovered(st), "kind": str(stress_kind(st))}
                   for r, st in runs]}
    by = {s: [(r, st) for r, st in runs if stress_status(st) is s] for s in Status}
    if by[Status.FAILED]:
        bad = by[Status.FAILED]
        return ItemOutcome(name=name, status=FAILED, tests=_names(r for r, _ in bad), evidence=ev,
                           detail="; ".join(_stress_text(r, st) for r, st in bad[:EXAMPLES]))
    shown = by[Status.PASSED]
    if not shown:
        # Holding every stair shows no breaking point, and a break without a watched
        # recovery window shows nothing about recovery.
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(r for r, _ in runs), evidence=ev,
                           detail="no stress run both broke a stair and watched a recovery window: "
                                  + "; ".join(_stress_text(r, st) for r, st in runs[:EXAMPLES]))
    return ItemOutcome(name=name, status=PASSED, tests=_names(r for r, _ in shown), evidence=ev,
                       detail="; ".join(_stress_text(r, st) for r, st in shown[:EXAMPLES]))


_SPIKE_WORDS = {SpikeKind.NOT_EVIDENCED: "not evidenced (no baseline, no iteration during the spike, or no "
                                         "time after it)",
                SpikeKind.ERRORS_OVER: "errors during the spike over the limit",
                SpikeKind.NOT_BACK: "NOT back to baseline in time",
                SpikeKind.BACK: "back to baseline in time"}


def _spike_text(r: RunResult, sp: SpikeEvidence) -> str:
    kind = spike_kind(sp)
    if kind is SpikeKind.NOT_EVIDENCED:
        return f"{r.name}: {_SPIKE_WORDS[kind]}"
    limit = f"limit {sp.error_limit * 100:g}%" if sp.error_limit is not None else "no errors allowed"
    back = f"after {sp.back_after:.0f}s" if sp.back_after is not None else f"{sp.after_seconds:.0f}s watched"
    return (f"{r.name}: {sp.base:g}/s -> {sp.peak:g}/s, {(sp.during_error_rate or 0) * 100:.2f}% errors "
            f"during ({limit}); {_SPIKE_WORDS[kind]} ({back}, limit {sp.within:g}s)")


def _spike(results: Sequence[RunResult]) -> ItemOutcome:
    name = "performance.spike"
    runs = [(r, r.load.spike) for r in results if r.load.spike is not None]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, detail="no spike run (rate=fpt.spike(...))")
    ev = {"runs": [{"test": r.name, **sp.to_dict(), "passed": spike_passed(sp), "kind": str(spike_kind(sp))}
                   for r, sp in runs]}
    by = {s: [(r, sp) for r, sp in runs if spike_status(sp) is s] for s in Status}
    status = next(s for s in (Status.FAILED, Status.PASSED, Status.NOT_EVIDENCED) if by[s])
    shown = by[status]
    return ItemOutcome(name=name, status=str(status), tests=_names(r for r, _ in shown), evidence=ev,
                       detail="; ".join(_spike_text(r, sp) for r, sp in shown[:EXAMPLES]))


def _soak(results: Sequence[RunResult]) -> ItemOutcome:
    name = "performance.soak_memory"
    judge = _threshold_item(name, lambda m: m == "service_rss_growth", "service_rss_growth")
    # The default limit applies only where it can be measured: a run that sampled the service
    # long enough. Elsewhere it would be 'not evidenced' noise on every short run.
    long_runs = [r for r in results
                 if any(rss_span(s) >= r.load.soak_min_span for s in service_series(r.resources))]
    default = parse_threshold(DEFAULT_SOAK[0])
    outcome = judge([_with_default(r, default) if r in long_runs else r for r in results])
    sampled = [r for r in results if service_series(r.resources)]
    ev = {**outcome.evidence,
          "service": [{"test": r.name, **s.summary(), "rss_span_s": round(rss_span(s), 3),
                       "soak_min_span_s": r.load.soak_min_span}
                      for r in sampled for s in service_series(r.resources)],
          # fpt's own memory, so a harness leak is never blamed on the service
          "fpt": [{"test": r.name, **s.summary()} for r in results for s in harness_series(r.resources)]}
    if outcome.status == NOT_EVIDENCED and not sampled:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, evidence=ev,
                           detail="no run sampled the service's memory (service_pids, metrics_url or "
                                  "service_pid=)")
    own = any(parse_threshold(t.expr).metric == default.metric for r in results for t in r.thresholds)
    if outcome.status == NOT_EVIDENCED and not long_runs and not own:
        best = max((rss_span(s) for r in sampled for s in service_series(r.resources)), default=0.0)
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(sampled), evidence=ev,
                           detail=f"the service's RSS was sampled over {best:.0f}s at most, under "
                                  f"soak_min_span ({min(r.load.soak_min_span for r in sampled):g}s)")
    return dataclasses.replace(outcome, evidence=ev)


def _volume(results: Sequence[RunResult]) -> ItemOutcome:
    name = "performance.volume"
    judge = _threshold_item(name, lambda m: m == "volume_p90_growth", "volume_p90_growth")
    default = parse_threshold(DEFAULT_VOLUME[0])
    runs = [r for r in results if r.load.volume is not None]
    outcome = judge([_with_default(r, default) if r in runs else r for r in results])
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, evidence=outcome.evidence,
                           detail="no volume run (fpt_load(..., seed_volume=(seed_fn, [0, 100, 1000])))")
    ev = {**outcome.evidence, "volumes": [{"test": r.name, **r.load.volume.to_dict()}
                                          for r in runs if r.load.volume]}
    return dataclasses.replace(outcome, evidence=ev)


def _with_default(r: RunResult, th: Threshold) -> RunResult:
    """``r`` with ``th`` measured on it, unless it set a limit on that metric itself."""
    if any(parse_threshold(t.expr).metric == th.metric for t in r.thresholds):
        return r
    return dataclasses.replace(r, thresholds=(*r.thresholds, measure(r, th)))


def _is_latency(metric: str) -> bool:
    return metric.startswith("p") or metric in ("max", "mean")


def item_judges(*, high_traffic_rate: float = 50.0) -> dict[str, Item]:
    """The judge of each run-evidenced item (``high_traffic_rate``: what a virtual run must achieve)."""
    return {**ITEM_JUDGES, "data_swap.high_traffic_virtual": _swap_item(
        "data_swap.high_traffic_virtual", "virtual", high_traffic_rate)}


ITEM_JUDGES: dict[str, Item] = {
    "functional.single_user": _single_user,
    "data_swap.multi_user_live": _swap_item("data_swap.multi_user_live", "live"),
    "data_swap.high_traffic_virtual": _swap_item("data_swap.high_traffic_virtual", "virtual", 50.0),
    "data_swap.negative_concurrency": _negative,
    "autoscaling.session_continuity": _continuity,
    "autoscaling.no_data_loss": _data_loss,
    "autoscaling.degradation": _degradation,
    "performance.response_time": _threshold_item("performance.response_time", _is_latency, "response-time"),
    "performance.error_rate": _threshold_item("performance.error_rate", lambda m: m == "errors",
                                              "error-rate", whole_flow=True),
    "performance.throughput": _threshold_item("performance.throughput",
                                              lambda m: m in ("throughput", "dropped"), "throughput",
                                              DEFAULT_THROUGHPUT),
    "performance.stress_recovery": _stress,
    "performance.spike": _spike,
    "performance.soak_memory": _soak,
    "performance.volume": _volume,
}


def _executed(results: Sequence[RunResult], tests: TestCounts) -> ItemOutcome:
    name = "suite.executed"
    iterations = sum(r.engine.started for r in results)
    ev = {**tests.to_dict(), "runs": len(results), "iterations": iterations}
    if tests.ran == 0 and not results:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, evidence=ev,
                           detail=f"no FPT test ran ({tests.skipped} skipped)")
    if iterations == 0:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=_names(results), evidence=ev,
                           detail="FPT tests ran but no iteration started")
    return ItemOutcome(name=name, status=PASSED, tests=_names(results), evidence=ev,
                       detail=f"{tests.ran} FPT tests ran, {len(results)} load runs, {iterations} iterations")


def evaluate(results: Sequence[RunResult], *, level: str = "squad",
             levels: Mapping[str, Sequence[str]] | None = None, tests: TestCounts | None = None,
             incomplete: Sequence[str] = (), baseline: ItemOutcome | None = None,
             high_traffic_rate: float = 50.0, explorations: Sequence[ExploreRecord] = (),
             session: Provenance | None = None, selection: Selection | None = None,
             weakened: Sequence[Weakening] = (), problem_words: ProblemWords | None = None) -> Checklist:
    """The checklist of a session's results at ``level`` (``problem_words``: see :data:`ProblemWords`)."""
    levels = dict(levels or DEFAULT_LEVELS)
    if level not in levels:
        raise ValueError(f"unknown DoD level {level!r}; known: {', '.join(sorted(levels))}")
    tests = tests or TestCounts(passed=len(_names(results)))
    items = [_executed(results, tests)]
    judges = item_judges(high_traffic_rate=high_traffic_rate)
    items.extend(judge(results) for judge in judges.values())
    items.append(baseline or ItemOutcome(name="performance.baseline", status=NOT_EVIDENCED,
                                         detail="no baseline compared (--fpt-compare NAME)"))
    weakened = (*weakened, *(w for r in results for w in r.weakened))
    selection = selection or Selection()
    items.append(selection_item(selection, tests.ran))
    items.append(strength_item(weakened, len(results)))
    order = list(ITEMS)
    items.sort(key=lambda i: order.index(i.name))
    missing = list(incomplete) + [f"run {r.name} is missing a worker's part" for r in results if r.incomplete]
    return Checklist(level=level, required=tuple(levels[level]), items=tuple(items), tests=tests,
                     incomplete=tuple(dict.fromkeys(missing)),
                     runs=tuple(run_evidence(r, problem_words) for r in results),
                     created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     explorations=tuple(e.to_dict() for e in explorations), session=session,
                     selection=selection, weakened=tuple(weakened))


def merge(lists: Sequence[Checklist], *, level: str, levels: Mapping[str, Sequence[str]]) -> Checklist:
    """Several squads' checklists as one.

    An item fails if any file failed it, passes if any passed it and none failed.
    """
    if level not in levels:
        raise ValueError(f"unknown DoD level {level!r}; known: {', '.join(sorted(levels))}")
    items = []
    for name in ITEMS:
        parts = [c.item(name) for c in lists if any(i.name == name for i in c.items)]
        status = (FAILED if any(p.status == FAILED for p in parts)
                  else PASSED if any(p.status == PASSED for p in parts) else NOT_EVIDENCED)
        chosen = [p for p in parts if p.status == status]
        items.append(ItemOutcome(
            name=name, status=status, detail=" | ".join(dict.fromkeys(p.detail for p in chosen)),
            tests=tuple(dict.fromkeys(t for p in chosen for t in p.tests)),
            evidence={"files": len(parts), "statuses": [p.status for p in parts]}))
    tests = TestCounts(passed=sum(c.tests.passed for c in lists), failed=sum(c.tests.failed for c in lists),
                       skipped=sum(c.tests.skipped for c in lists))
    return Checklist(level=level, required=tuple(levels[level]), items=tuple(items), tests=tests,
                     incomplete=tuple(x for c in lists for x in c.incomplete),
                     runs=tuple(r for c in lists for r in c.runs),
                     explorations=tuple(e for c in lists for e in c.explorations),
                     selection=Selection(
                         deselected=tuple(t for c in lists for t in c.selection.deselected),
                         last_failed=any(c.selection.last_failed for c in lists)),
                     weakened=tuple(w for c in lists for w in c.weakened),
                     created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     sources=tuple(s for c in lists for s in c.sources),
                     # A file that failed its own gate never turns green by being merged with others.
                     failed_sources=tuple(
                         (", ".join(c.sources) or f"checklist {i + 1}") for i, c in enumerate(lists)
                         if c.verdict != PASSED) + tuple(x for c in lists for x in c.failed_sources))


def parse_levels(table: Mapping[str, Any], source: str = "[tool.fpt.dod] in pyproject.toml"
                 ) -> dict[str, tuple[str, ...]]:
    """Levels from a ``[tool.fpt.dod]`` table over the defaults; a bad one is a ``ConfigError``."""
    if not isinstance(table, Mapping):
        raise ConfigError("dod", table, "be a table of levels such as release = [\"suite.executed\"]", source)
    levels = dict(DEFAULT_LEVELS)
    for name, value in table.items():
        if name == "level":
            continue
        allowed = f"be a non-empty list of checklist items ({', '.join(ITEMS)})"
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, str) and v in ITEMS for v in value)):
            raise ConfigError(f"dod.{name}", value, allowed, source)
        # "squad: passed" must mean what it means everywhere: a built-in level can be made
        # stricter, never weaker (a squad that wants less names its own level).
        missing = [v for v in DEFAULT_LEVELS.get(name, ()) if v not in value]
        if missing:
            raise ConfigError(f"dod.{name}", value, f"keep every item of the built-in {name} level (missing "
                              f"{', '.join(missing)}); name a new level to require less", source)
        levels[name] = tuple(value)
    return levels


def check_level(level: str, levels: Mapping[str, Sequence[str]], source: str = "") -> None:
    """A ``ConfigError`` unless ``level`` is one of ``levels``."""
    if level not in levels:
        raise ConfigError("dod_level", level, f"be one of the DoD levels ({', '.join(sorted(levels))})",
                          source)


def selection_item(selection: Selection, tests_ran: int) -> ItemOutcome:
    """``suite.selection``: every collected FPT test ran."""

    ev = selection.to_dict()
    if selection.partial:
        parts = []
        if selection.deselected:
            shown = ", ".join(selection.deselected[:3])
            more = f" and {len(selection.deselected) - 3} more" if len(selection.deselected) > 3 else ""
            parts.append(f"{len(selection.deselected)} FPT tests deselected ({shown}{more})")
        if selection.last_failed:
            parts.append("a --lf re-run (files without a failure last time were not collected)")
        return ItemOutcome(name=SELECTION_ITEM, status=FAILED, tests=selection.deselected, evidence=ev,
                           detail="; ".join(parts))
    if not tests_ran:
        return ItemOutcome(name=SELECTION_ITEM, status=NOT_EVIDENCED, evidence=ev, detail="no FPT test ran")
    return ItemOutcome(name=SELECTION_ITEM, status=PASSED, evidence=ev,
                       detail=f"every collected FPT test ran ({tests_ran})")


def strength_item(weakened: Sequence[Weakening], runs: int) -> ItemOutcome:
    """``checks.full_strength``: no setting narrowed a check below its floor."""

    ev = {"weakened": [w.to_dict() for w in weakened]}
    if weakened:
        keys = ", ".join(dict.fromkeys(f"{w.key} ({w.source})" for w in weakened))
        return ItemOutcome(name=STRENGTH_ITEM, status=FAILED, evidence=ev,
                           tests=tuple(dict.fromkeys(w.test for w in weakened if w.test)),
                           detail=f"{len(weakened)} settings narrowed a check: {keys}")
    if not runs:
        return ItemOutcome(name=STRENGTH_ITEM, status=NOT_EVIDENCED, evidence=ev, detail="no load run")
    return ItemOutcome(name=STRENGTH_ITEM, status=PASSED, evidence=ev,
                       detail=f"every check at full strength in {runs} runs")
