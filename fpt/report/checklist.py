"""The checklist in words: each item's facts as its sentence, the reasons a level fails, and the
written form of ``fpt-dod.json`` (the terminal, Markdown, HTML and JUnit outputs use these).

The judge (:mod:`fpt.judge.dod`) returns typed outcomes; every sentence about them is made here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import singledispatch
from typing import Any

from fpt.evidence.explore import ExploreRecord
from fpt.evidence.findings import Json, texts
from fpt.judge.baseline import Unfit, UnfitWhy
from fpt.judge.dod.catalogue import EXAMPLES, ITEMS, SCHEMA_VERSION
from fpt.judge.dod.checklist import Blocker, BlockerKind, Checklist, ExploreWhy, ItemOutcome, digest
from fpt.judge.dod.facts import (
    Alone,
    AloneFacts,
    Baseline,
    BaselineFacts,
    BaselineRow,
    Continuity,
    ContinuityFacts,
    DataLoss,
    DataLossFacts,
    DegradationFacts,
    Executed,
    ExecutedFacts,
    Limits,
    MergedFacts,
    Negative,
    NegativeFacts,
    Recovery,
    Scaling,
    Selected,
    SelectionFacts,
    SpikeFacts,
    SpikeRun,
    Strength,
    StrengthFacts,
    StressFacts,
    StressRun,
    Swap,
    SwapFacts,
    ThresholdFacts,
    WrittenFacts,
)
from fpt.judge.loadtypes import SpikeKind, StressKind
from fpt.report.alone import alone_reason
from fpt.report.continuity import degradation_line, move_detail
from fpt.report.findings import finding_line
from fpt.report.loadtypes import how_words
from fpt.report.thresholds import threshold_words
from fpt.report.verdict import SHORT_WORDS

# -- one item's facts -------------------------------------------------------------------------------


def detail(item: ItemOutcome) -> str:
    """What item ``item`` found, in one sentence (the ``detail`` of the checklist)."""
    return facts_words(item.facts, item.name)


@singledispatch
def facts_words(facts: object, name: str) -> str:
    """The sentence for one kind of facts of item ``name``."""
    raise TypeError(f"no words for {type(facts).__name__}")


@facts_words.register
def _executed(f: ExecutedFacts, name: str) -> str:
    if f.why is Executed.NO_TEST:
        return f"no FPT test ran ({f.skipped} skipped)"
    if f.why is Executed.NO_ITERATION:
        return "FPT tests ran but no iteration started"
    return f"{f.ran} FPT tests ran, {f.runs} load runs, {f.iterations} iterations"


@facts_words.register
def _alone(f: AloneFacts, name: str) -> str:
    flows = ", ".join(f.flows)
    return {Alone.NO_PHASE: "no run had a single-user phase (alone=0)",
            Alone.FAILS: f"fails for one user alone: {flows}",
            Alone.NEVER: f"never run alone (alone=0): {flows} ({', '.join(f.tests)})",
            Alone.PASSES: f"{len(f.flows)} flow(s) pass alone: {flows}"}[f.why]


def swap_words(kinds: Sequence[str]) -> list[str]:
    """The run line's words for verdict kinds ("cache/shared state", "concurrency"), sorted."""
    return sorted({SHORT_WORDS.get(k, k) for k in kinds})


def _plural(n: int, word: str) -> str:
    return word + ("s" if n > 1 else "")


@facts_words.register
def _swap(f: SwapFacts, name: str) -> str:
    if f.why is Swap.SWAPS:
        kinds = ", ".join(swap_words(f.kinds)) or "data swap"
        return f"{f.swaps} responses carried another user's data ({kinds})"
    steps = ", ".join(f.steps)
    return {
        Swap.NO_RUN: f"no multi-user {f.profile} run",
        Swap.NOT_INSPECTED: "no data-swap check inspected a successful answer (canary scan off, no "
                            "expect_owner, or every request failed)",
        Swap.SOME_NOT_INSPECTED: f"no data-swap check inspected a successful answer of {', '.join(f.tests)}",
        Swap.ONLY_ERRORS: f"{_plural(len(f.steps), 'step')} {steps} answered only errors: no answer there "
                          "could be checked for another user's data",
        Swap.NOT_SCANNED: f"{f.unscanned_answers} answers were larger than scan_limit, not scanned whole "
                          f"({f.unscanned_bytes} bytes unscanned): another user's data there could not have "
                          "shown (raise scan_limit)",
        Swap.STEPS_WITHOUT_OVERLAP: f"checked steps that never overlapped another user's: {steps} (a swap "
                                    "there could not have shown; raise the rate or the burst)",
        Swap.NO_OVERLAP: "no two users' checked, successful answers overlapped: a swap could not have shown",
        Swap.TOO_SLOW: f"no {f.profile} run achieved the high-traffic rate of {f.required_rate:g}/s "
                       f"(best {f.best_rate:.1f}/s)",
        Swap.CLEAN: f"0 swaps in {f.inspected} checked answers of {f.runs} runs with {f.pairs} overlapping "
                    "pairs of different users",
    }[f.why]


def leak_words(kinds: Sequence[str]) -> list[str]:
    """The words for cross-user leaks' verdict kinds (unknown: concurrency or cache/shared state)."""
    return swap_words(kinds) or ["concurrency or cache/shared state"]


@facts_words.register
def _negative(f: NegativeFacts, name: str) -> str:
    p, rp = f.probes, f.replay
    if f.why is Negative.LEAKED:
        label = ", ".join(w + (": BOLA/IDOR" if w == "authorization" else "") for w in leak_words(f.kinds))
        return (f"{f.leaked} of {p.tried + rp.tried + rp.anon_tried} cross-user attempts (probes and "
                f"replays) got the owner's data ({label})")
    if f.why is Negative.REPLAYS_REFUSED:
        return (f"{rp.denied} of {rp.tried} requests replayed as another user refused with that user's "
                f"working credentials, 0 leaked ({rp.own} answered with its own data, {rp.unproven} "
                "unproven)")
    if f.why is Negative.NONE_REFUSED:
        return (f"no cross-user attempt was refused with working credentials ({p.tried} tried: {p.unproven} "
                f"unproven, {p.allowed} answered 2xx without the owner's data (unproven), {p.errors} errors, "
                f"{p.inconclusive} inconclusive, {p.public} public, {p.no_target} without a target)")
    return (f"{p.denied} of {p.tried} cross-user attempts refused with the prober's own working credentials, "
            f"0 leaked ({p.unproven} unproven, {p.allowed} answered 2xx without the owner's data (unproven), "
            f"{p.errors} errors)"
            + (f"; replays as another user: {rp.denied} refused, {rp.own} own data, 0 leaked"
               if rp.enabled else ""))


@facts_words.register
def _continuity(f: ContinuityFacts, name: str) -> str:
    if f.why is Continuity.NO_RUN:
        return "no run had scale events"
    if f.why is Continuity.BROKEN:
        return f"{f.broken} broken sessions across scale events"
    if f.why is Continuity.NOT_MOVED:
        return ("; ".join(move_detail(m) for m in f.unmoved)
                or f"no scale-{'/'.join(f.missing)} that moved traffic")
    return f"0 broken sessions; scale out and in moved traffic ({f.user_moves} user moves)"


@facts_words.register
def _data_loss(f: DataLossFacts, name: str) -> str:
    rb = f.readback
    return {
        DataLoss.LOST: f"{f.lost} of {rb.tried} acknowledged writes lost",
        DataLoss.NONE_READ: "no acknowledged write was read back (no scale run, or empty ledgers)",
        DataLoss.NOT_ALL_READ: f"{rb.errors} read-backs failed and {rb.skipped} were not made"
                               + (f" ({rb.not_kept} writes past the run's read-back sample)" if rb.not_kept
                                  else ""),
        DataLoss.ALL_READ: f"all {rb.ok} acknowledged writes read back",
    }[f.why]


def _degradation_runs(f: DegradationFacts) -> list[str]:
    return ["; ".join(degradation_line(d) for d in run) for run in f.runs]


@facts_words.register
def _degradation(f: DegradationFacts, name: str) -> str:
    if f.why is Scaling.NO_RUN:
        return "no run had scale events"
    text = "; ".join(d for d in _degradation_runs(f) if d)
    return text or ("a scale event failed or a phase had no iterations" if f.why is Scaling.NOT_SHOWN else "")


_WHAT = {"performance.response_time": "response-time", "performance.error_rate": "error-rate",
         "performance.throughput": "throughput", "performance.soak_memory": "service_rss_growth",
         "performance.volume": "volume_p90_growth"}


@facts_words.register
def _thresholds(f: ThresholdFacts, name: str) -> str:
    what = _WHAT.get(name, name)
    if f.why in (Limits.FAILED, Limits.UNMEASURED):
        return "; ".join(threshold_words(t) for t in f.shown)
    if f.why is Limits.PARTIAL:
        return "; ".join(f"{p.test}: no whole-flow {what} threshold, only {', '.join(p.exprs)} (the other "
                         "steps were not judged)" for p in f.partial)
    if f.why is Limits.NONE_SET:
        return f"no {what} threshold was set and measured"
    if f.why is Limits.NOT_SAMPLED:
        return "no run sampled the service's memory (service_pids, metrics_url or service_pid=)"
    if f.why is Limits.SHORT_SPAN:
        return (f"the service's RSS was sampled over {f.best_span:.0f}s at most, under soak_min_span "
                f"({f.min_span:g}s)")
    if f.why is Limits.NO_VOLUME_RUN:
        return "no volume run (fpt_load(..., seed_volume=(seed_fn, [0, 100, 1000])))"
    return f"{f.measured} {what} thresholds met"


def stress_words(s: StressRun) -> str:
    """One stress run: where it broke and whether it recovered."""
    st = s.evidence
    if s.kind is StressKind.HELD_EVERY_STAIR:
        return f"{s.test}: every stair held (up to {st.stairs[-1].rate if st.stairs else 0:g}/s)"
    broke = f"{s.test}: broke at {st.broke_rate:g}/s ({how_words(st)})"
    if s.kind is StressKind.RECOVERY_NOT_OBSERVED:
        return f"{broke}; recovery not observed"
    if s.kind is StressKind.RECOVERED:
        return f"{broke}; recovered after {st.recovered_after:.0f}s (limit {st.recovery_within:g}s)"
    return f"{broke}; did NOT recover within {st.recovery_within:g}s ({st.recovery_seconds:.0f}s watched)"


@facts_words.register
def _stress(f: StressFacts, name: str) -> str:
    if f.why is Recovery.NO_RUN:
        return "no stress run (rate=fpt.step_up(...))"
    text = "; ".join(stress_words(s) for s in f.shown)
    if f.why is Recovery.NOT_SHOWN:
        return "no stress run both broke a stair and watched a recovery window: " + text
    return text


SPIKE_WORDS = {SpikeKind.NOT_EVIDENCED: "not evidenced (no baseline, no iteration during the spike, or no "
                                        "time after it)",
               SpikeKind.ERRORS_OVER: "errors during the spike over the limit",
               SpikeKind.NOT_BACK: "NOT back to baseline in time",
               SpikeKind.BACK: "back to baseline in time"}
"""What a spike run showed, in words."""


def spike_words(s: SpikeRun) -> str:
    """One spike run: its rates, errors during it, and whether it came back in time."""
    sp = s.evidence
    if s.kind is SpikeKind.NOT_EVIDENCED:
        return f"{s.test}: {SPIKE_WORDS[s.kind]}"
    limit = f"limit {sp.error_limit * 100:g}%" if sp.error_limit is not None else "no errors allowed"
    back = f"after {sp.back_after:.0f}s" if sp.back_after is not None else f"{sp.after_seconds:.0f}s watched"
    return (f"{s.test}: {sp.base:g}/s -> {sp.peak:g}/s, {(sp.during_error_rate or 0) * 100:.2f}% errors "
            f"during ({limit}); {SPIKE_WORDS[s.kind]} ({back}, limit {sp.within:g}s)")


@facts_words.register
def _spike(f: SpikeFacts, name: str) -> str:
    if f.why is Recovery.NO_RUN:
        return "no spike run (rate=fpt.spike(...))"
    return "; ".join(spike_words(s) for s in f.shown)


def _regressed(r: BaselineRow) -> str:
    return (f"{r.test} {r.step}: p90 {r.baseline_p90_ms:.1f} -> {r.p90_ms:.1f}ms, "
            f"errors {r.baseline_error_rate * 100:.2f}% -> {r.error_rate * 100:.2f}%")


@facts_words.register
def _baseline(f: BaselineFacts, name: str) -> str:
    if f.why is Baseline.NOT_COMPARED:
        return "no baseline compared (--fpt-compare NAME)"
    if f.why is Baseline.UNREADABLE:
        return f.error
    unmatched = (f"; {len(f.missing)} step(s) not in baseline {f.name!r}, not compared: "
                 f"{', '.join(f.missing[:5])}{' ...' if len(f.missing) > 5 else ''}") if f.missing else ""
    if f.why is Baseline.NO_TEST:
        return f"no test of this session is in baseline {f.name!r}{unmatched}"
    if f.why is Baseline.REGRESSED:
        shown = "; ".join(_regressed(r) for r in f.regressed[:EXAMPLES])
        return f"{len(f.regressed)} of {f.compared} steps regressed against {f.name!r}: {shown}{unmatched}"
    if f.why is Baseline.MISSING:
        return (f"{f.compared} steps within limits of baseline {f.name!r}{unmatched} (save a new baseline "
                f"with --fpt-save-baseline {f.name})")
    return (f"{f.compared} steps within p90 +{f.p90_regression * 100:g}% and errors "
            f"+{f.error_increase * 100:g}% of baseline {f.name!r}")


@facts_words.register
def _selection(f: SelectionFacts, name: str) -> str:
    if f.why is Selected.PARTIAL:
        parts = []
        if f.deselected:
            shown = ", ".join(f.deselected[:3])
            more = f" and {len(f.deselected) - 3} more" if len(f.deselected) > 3 else ""
            parts.append(f"{len(f.deselected)} FPT tests deselected ({shown}{more})")
        if f.last_failed:
            parts.append("a --lf re-run (files without a failure last time were not collected)")
        return "; ".join(parts)
    if f.why is Selected.NO_TEST:
        return "no FPT test ran"
    return f"every collected FPT test ran ({f.ran})"


@facts_words.register
def _strength(f: StrengthFacts, name: str) -> str:
    if f.why is Strength.NARROWED:
        keys = ", ".join(f"{s.key} ({s.source})" for s in f.settings)
        return f"{f.narrowings} settings narrowed a check: {keys}"
    if f.why is Strength.NO_RUN:
        return "no load run"
    return f"every check at full strength in {f.runs} runs"


@facts_words.register
def _written(f: WrittenFacts, name: str) -> str:
    return f.detail


@facts_words.register
def _merged(f: MergedFacts, name: str) -> str:
    return " | ".join(dict.fromkeys(facts_words(p, name) for p in f.parts))


# -- the item's words in its evidence -------------------------------------------------------------


def _threshold_rows(item: ItemOutcome, f: ThresholdFacts) -> dict[str, Any]:
    rows = [row for row in _list(item.evidence.get("thresholds")) if isinstance(row, Mapping)]
    return {"thresholds": [{**row, "detail": threshold_words(t.outcome)}
                           for row, t in zip(rows, f.thresholds, strict=True)]}


def _list(value: Json) -> Sequence[Json]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def example_lines(item: ItemOutcome) -> list[str]:
    """The item's examples, one line each: its findings in words, or as a file wrote them."""
    if item.examples is not None:
        return [finding_line(f) for f in item.examples]
    return texts(item.evidence.get("examples"))


def evidence_words(item: ItemOutcome) -> dict[str, Any]:
    """The words an item's written evidence carries next to its numbers (its example findings, the
    verdict words of its swaps, each scale event's figures, each threshold as judged)."""
    examples = {"examples": example_lines(item)} if item.examples is not None else {}
    return {**examples, **_facts_words(item)}


def _facts_words(item: ItemOutcome) -> dict[str, Any]:
    f = item.facts
    if isinstance(f, AloneFacts) and f.why is not Alone.NO_PHASE:
        return {"failures": [f"{flow}: {'; '.join(alone_reason(a) for a in failures)[:300]}"
                             for flow, failures in f.failing]}
    if isinstance(f, SwapFacts) and f.why is not Swap.NO_RUN:
        return {"kinds": swap_words(f.kinds)}
    if isinstance(f, NegativeFacts) and f.why is Negative.LEAKED:
        return {"kinds": leak_words(f.kinds)}
    if isinstance(f, DegradationFacts) and f.runs:
        return {"detail": _degradation_runs(f)}
    if isinstance(f, ThresholdFacts) and "thresholds" in item.evidence:
        return _threshold_rows(item, f)
    return {}


def item_dict(item: ItemOutcome) -> dict[str, Any]:
    """One item as ``fpt-dod.json`` has it."""
    return {"name": item.name, "description": ITEMS.get(item.name, ""), "status": str(item.status),
            "detail": detail(item), "tests": list(item.tests),
            "evidence": {**item.evidence, **evidence_words(item)}}


# -- the checklist --------------------------------------------------------------------------------


def missing_part_words(test: str) -> str:
    """A run that lacks a worker's part."""
    return f"run {test} is missing a worker's part"


def incomplete_lines(c: Checklist) -> list[str]:
    """Why part of the session is missing: as recorded, then each run missing a worker's part."""
    return list(dict.fromkeys([*c.incomplete, *map(missing_part_words, c.missing_parts)]))


def explore_reason(ex: ExploreRecord, why: ExploreWhy | None) -> str:
    """Why an exploration fails the checklist ("" when it does not)."""
    where = f"explore {ex.test} ({ex.flow})"
    if why is ExploreWhy.FOUND_FAILURE:
        first = str(ex.minimal).split("\n", 1)[0] or ex.error
        return f"{where} found a failing input ({', '.join(ex.kinds) or 'error'}): {first}"
    if why is ExploreWhy.TRIED_NOTHING:
        return f"{where} tried no example: {ex.error or 'nothing was explored'}"
    if why is ExploreWhy.STOPPED:
        return f"{where} stopped after {ex.examples} examples: {ex.error}"
    return ""


def item_reason(c: Checklist, name: str) -> str:
    """Why required item ``name`` keeps the level from passing."""
    i = c.item(name)
    return f"{name} {i.status.replace('_', ' ')}: {detail(i)}"


def blocker_words(c: Checklist, b: Blocker) -> str:
    """One reason the checklist fails its level."""
    if b.kind is BlockerKind.PARTIAL and c.shard is not None:
        return (f"partial: shard {c.shard.label} of session {c.shard.session}; merge every shard with "
                "`fpt merge` and gate the merged checklist")
    if b.kind is BlockerKind.RUN_CHECKS:
        run = c.runs[b.index]
        first = str(run["check_failures"][0]).split("\n", 1)[0]
        return f"run {run['test']} failed its checks ({len(run['check_failures'])}): {first}"
    if b.kind is BlockerKind.EXPLORATION:
        return explore_reason(c.explorations[b.index], b.explore)
    if b.kind is BlockerKind.ITEM:
        return item_reason(c, b.subject)
    return {
        BlockerKind.INCOMPLETE: f"incomplete: {b.subject}",
        BlockerKind.MISSING_PART: f"incomplete: {missing_part_words(b.subject)}",
        BlockerKind.NOTHING_REQUIRED: f"level {c.level!r} requires no item: it proves nothing",
        BlockerKind.TESTS_FAILED: f"{b.count} FPT test{'s' if b.count != 1 else ''} failed",
        BlockerKind.SOURCE_FAILED: f"{b.subject}: its own verdict was not passed",
    }[b.kind]


def reasons(c: Checklist) -> list[str]:
    """Why the gate fails at this level, in words (empty when it passes)."""
    return [blocker_words(c, b) for b in c.blockers]


def checklist_dict(c: Checklist) -> dict[str, Any]:
    """``fpt-dod.json``: plain, schema-versioned, with a digest over everything else (the inverse is
    :meth:`fpt.judge.dod.checklist.Checklist.from_dict`)."""
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "tool": "fpt", "created": c.created,
        "level": c.level, "required": list(c.required), "verdict": str(c.verdict),
        "reasons": reasons(c), "incomplete": incomplete_lines(c), "tests": c.tests.to_dict(),
        "items": [item_dict(i) for i in c.items], "runs": list(c.runs),
        "sources": list(c.sources), "failed_sources": list(c.failed_sources),
        "explorations": [e.to_dict() for e in c.explorations],
        "session": c.session.to_dict() if c.session else None,
        "selection": c.selection.to_dict(), "weakened": [w.to_dict() for w in c.weakened],
    }
    if c.shard is not None:
        body["shard"] = c.shard.to_dict()
    body["digest"] = digest(body)
    return body


def unfit_words(u: Unfit, c: Checklist) -> str:
    """Why a session was not saved as a baseline."""
    if u.why is UnfitWhy.EXPLORATION:
        return explore_reason(c.explorations[u.index], u.explore)
    return {
        UnfitWhy.INCOMPLETE: f"the run is incomplete ({u.subject})",
        UnfitWhy.MISSING_PART: f"the run is incomplete ({missing_part_words(u.subject)})",
        UnfitWhy.NOTHING_MEASURED: "no load run measured anything",
        UnfitWhy.TESTS_FAILED: f"{u.count} FPT test(s) failed",
        UnfitWhy.RUN_CHECKS: f"run {u.subject} failed its checks: {u.detail}",
        UnfitWhy.ITEMS_FAILED: f"checklist item(s) failed: {', '.join(u.items)}",
    }[u.why]

