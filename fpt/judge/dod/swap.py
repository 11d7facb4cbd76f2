"""The data-swap items: zero swaps under multi-user load (live, virtual), flows that pass alone,
and cross-user attempts refused."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from fpt.evidence.checks import ProbeEvidence, ReplayEvidence
from fpt.evidence.findings import SWAP_KINDS, Detector, Json
from fpt.evidence.result import RunResult
from fpt.judge.dod.catalogue import FAILED, NOT_EVIDENCED, PASSED
from fpt.judge.dod.checklist import ItemOutcome
from fpt.judge.dod.facts import Alone, AloneFacts, Negative, NegativeFacts, Swap, SwapFacts
from fpt.judge.dod.tally import count, examples, names
from fpt.judge.verdict import swap_kinds

Item = Callable[[Sequence[RunResult]], ItemOutcome]
"""The judge of one item: every run of the session in, its outcome out."""


def _swap_evidence(runs: Sequence[RunResult], swaps: int, min_rate: float) -> dict[str, Json]:
    return {
        "runs": len(runs), "swaps": swaps,
        "inspected": sum(r.evidence.inspected for r in runs),
        "overlap_request_pairs": sum(r.evidence.inspected_overlap_pairs for r in runs),
        "peak_inflight": max(r.engine.peak_inflight for r in runs),
        "achieved_rate": max(r.achieved_rate for r in runs), "required_rate": min_rate,
        "steps_without_overlap": sorted({s for r in runs for s in r.evidence.steps_without_overlap})}


def _unswapped(runs: Sequence[RunResult], facts: SwapFacts) -> tuple[Swap, tuple[RunResult, ...], SwapFacts]:
    """Why runs without swaps are not evidence of none (``CLEAN`` when they are), the runs that
    show it, and the facts with what the reason needs."""
    checked = [r for r in runs if r.evidence.inspected]
    if not checked:
        return Swap.NOT_INSPECTED, tuple(runs), facts
    unchecked = tuple(r for r in runs if not r.evidence.inspected)
    if unchecked:
        # The item speaks for every such run: one checked run does not vouch for another.
        return Swap.SOME_NOT_INSPECTED, unchecked, replace(facts, tests=names(unchecked))
    dark = tuple(sorted({s.step for r in runs for s in r.evidence.steps
                         if s.responses and not s.ok and not s.step.startswith("fpt.")}))
    if dark:
        return Swap.ONLY_ERRORS, tuple(runs), replace(facts, steps=dark)
    cut = tuple(r for r in runs if r.evidence.scan.truncated)
    if cut:
        # Every byte a user receives is scanned, or counted as not scanned: an answer not seen whole
        # could have carried another user's data past the limit.
        return Swap.NOT_SCANNED, cut, replace(
            facts, unscanned_answers=sum(r.evidence.scan.truncated for r in cut),
            unscanned_bytes=sum(r.evidence.scan.skipped_bytes for r in cut))
    quiet = tuple(sorted({s for r in runs for s in r.evidence.steps_without_overlap}))
    if quiet:
        # A checked step that never ran concurrently could not have shown a concurrency swap.
        return Swap.STEPS_WITHOUT_OVERLAP, tuple(runs), replace(facts, steps=quiet)
    shown = tuple(r for r in checked if r.evidence.inspected_overlap_pairs > 0)
    if not shown:
        return Swap.NO_OVERLAP, tuple(runs), facts
    fast = tuple(r for r in shown if r.achieved_rate >= facts.required_rate * 0.95)
    if not fast:
        return Swap.TOO_SLOW, shown, facts
    return Swap.CLEAN, fast, replace(facts, runs=len(fast), inspected=sum(r.evidence.inspected for r in fast),
                                     pairs=sum(r.evidence.inspected_overlap_pairs for r in fast))


def swap_item(name: str, profile: str, min_rate: float = 0.0) -> Item:
    """The judge of a data-swap item: multi-user runs of ``profile`` at ``min_rate`` or more."""
    def judge(results: Sequence[RunResult]) -> ItemOutcome:
        runs = [r for r in results if r.profile == profile and r.users > 1]
        if not runs:
            return ItemOutcome(name=name, status=NOT_EVIDENCED,
                               facts=SwapFacts(why=Swap.NO_RUN, profile=profile))
        n = count(runs, SWAP_KINDS)
        ev = _swap_evidence(runs, n, min_rate)
        shown_swaps = examples(runs, SWAP_KINDS)
        facts = SwapFacts(why=Swap.SWAPS, profile=profile, swaps=n, required_rate=min_rate,
                          best_rate=max(r.achieved_rate for r in runs),
                          kinds=tuple(sorted({f.verdict_kind for r in runs for f in r.findings.examples
                                              if f.kind in SWAP_KINDS})))
        if n:
            return ItemOutcome(name=name, status=FAILED, tests=names(runs), evidence=ev, facts=facts,
                               examples=shown_swaps)
        why, shown, facts = _unswapped(runs, facts)
        if why is Swap.NOT_SCANNED:
            ev = {**ev, "unscanned_answers": facts.unscanned_answers,
                  "unscanned_bytes": facts.unscanned_bytes}
        return ItemOutcome(name=name, status=PASSED if why is Swap.CLEAN else NOT_EVIDENCED,
                           tests=names(shown), evidence=ev, facts=replace(facts, why=why),
                           examples=shown_swaps)
    return judge


def single_user(results: Sequence[RunResult]) -> ItemOutcome:
    """``functional.single_user``: each flow passes for one user alone."""
    name = "functional.single_user"
    runs = [r for r in results if r.evidence.alone is not None]
    if not runs:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, facts=AloneFacts(why=Alone.NO_PHASE))
    bad = [r for r in runs if r.evidence.alone is None or not r.evidence.alone.passed]
    flows = sorted({r.flow for r in runs})
    ev: dict[str, Json] = {"flows": flows, "runs": len(runs)}
    if bad:
        failing = tuple((r.flow, r.evidence.alone.failures if r.evidence.alone else ()) for r in bad)
        return ItemOutcome(name=name, status=FAILED, tests=names(bad), evidence=ev,
                           facts=AloneFacts(why=Alone.FAILS, flows=tuple(sorted({r.flow for r in bad})),
                                            failing=failing))
    never = [r for r in results if r.flow not in flows]
    if never:
        return ItemOutcome(name=name, status=NOT_EVIDENCED, tests=names(never), evidence=ev,
                           facts=AloneFacts(why=Alone.NEVER, flows=tuple(sorted({r.flow for r in never})),
                                            tests=names(never)))
    return ItemOutcome(name=name, status=PASSED, tests=names(runs), evidence=ev,
                       facts=AloneFacts(why=Alone.PASSES, flows=tuple(flows)))


def _leak_kinds(runs: Sequence[RunResult], leaks: int) -> tuple[str, ...]:
    """The verdict kinds of the leaks, as proven by asking each leak again alone after the load.

    A replay that leaked once and not when asked again is a data_swap finding (concurrency).
    Without a cross_user finding, every leak became a data_swap finding (not authorization).
    Empty: no kept example and no kind in the run lines (concurrency or cache/shared state).
    """
    shown = [f for r in runs for f in r.findings.examples if f.kind == "cross_user"
             or (f.kind in SWAP_KINDS and f.detector == Detector.REPLAY)]
    kinds = ({f.verdict_kind for f in shown}
             or ({"authorization"} if leaks else
                 {k for r in runs for k in swap_kinds(r) if k in ("concurrency", "cache_shared_state")}))
    return tuple(sorted(kinds))


def negative(results: Sequence[RunResult]) -> ItemOutcome:
    """``data_swap.negative_concurrency``: cross-user attempts refused, none leaked."""
    name = "data_swap.negative_concurrency"
    runs = [r for r in results if r.evidence.probes.enabled or r.evidence.replay.enabled]
    p = ProbeEvidence()
    rp = ReplayEvidence()
    for r in runs:
        p = p + r.evidence.probes
        rp = rp + r.evidence.replay
    leaks = count(runs, ("cross_user",))
    ev = {**p.to_dict(), "cross_user_findings": leaks, "replay": rp.to_dict()}
    leaked = max(leaks, p.leaked + rp.leaked + rp.anon_leaked)
    if leaked:
        why = Negative.LEAKED
    elif not p.denied:
        why = Negative.REPLAYS_REFUSED if rp.denied else Negative.NONE_REFUSED
    else:
        why = Negative.REFUSED
    status = {Negative.LEAKED: FAILED, Negative.NONE_REFUSED: NOT_EVIDENCED}.get(why, PASSED)
    facts = NegativeFacts(why=why, leaked=leaked, probes=p, replay=rp,
                          kinds=_leak_kinds(runs, leaks) if leaked else ())
    return ItemOutcome(name=name, status=status, tests=names(runs), evidence=ev, facts=facts,
                       examples=examples(runs, ("cross_user",)))
