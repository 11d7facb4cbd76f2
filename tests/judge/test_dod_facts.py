"""Typed item outcomes: each judge returns a status and facts (a StrEnum reason and the figures), no words."""

from __future__ import annotations

import dataclasses

import pytest

from fpt.evidence.narrowing import Selection, Weakening
from fpt.judge.baseline import UnfitWhy, compare, unfit, unreadable
from fpt.judge.dod.catalogue import FAILED, ITEMS, NOT_EVIDENCED, PASSED
from fpt.judge.dod.checklist import BlockerKind, Checklist, ItemOutcome, TestCounts
from fpt.judge.dod.evaluate import evaluate, selection_item, strength_item
from fpt.judge.dod.facts import (
    Baseline,
    BaselineFacts,
    Executed,
    ExecutedFacts,
    MergedFacts,
    Narrowed,
    Selected,
    SelectionFacts,
    Strength,
    StrengthFacts,
    WrittenFacts,
)
from fpt.judge.dod.merge import merge
from fpt.judge.outcome import Status


def test_an_empty_session_is_typed_through_and_through() -> None:
    c = evaluate([], level="squad", tests=TestCounts(skipped=2))
    assert [i.name for i in c.items] == list(ITEMS)
    assert all(isinstance(i.status, Status) for i in c.items)
    assert c.item("suite.executed").facts == ExecutedFacts(why=Executed.NO_TEST, skipped=2)
    assert c.verdict is FAILED
    assert [b.subject for b in c.blockers if b.kind is BlockerKind.ITEM] == list(c.required)


SELECTIONS = [
    (Selection(), 0, NOT_EVIDENCED, SelectionFacts(why=Selected.NO_TEST)),
    (Selection(), 4, PASSED, SelectionFacts(why=Selected.ALL, ran=4)),
    (Selection(deselected=("t::a",)), 4, FAILED, SelectionFacts(why=Selected.PARTIAL, deselected=("t::a",))),
    (Selection(last_failed=True), 1, FAILED, SelectionFacts(why=Selected.PARTIAL, last_failed=True)),
]


@pytest.mark.parametrize(("selection", "ran", "status", "facts"), SELECTIONS)
def test_selection_item(selection: Selection, ran: int, status: Status, facts: SelectionFacts) -> None:
    item = selection_item(selection, ran)
    assert (item.status, item.facts) == (status, facts)


def _weak(key: str, source: str, test: str = "") -> Weakening:
    return Weakening(key=key, value=0, source=source, test=test)


STRENGTHS = [
    ((), 0, NOT_EVIDENCED, StrengthFacts(why=Strength.NO_RUN)),
    ((), 3, PASSED, StrengthFacts(why=Strength.FULL, runs=3)),
    ((_weak("probe_share", "ini", "t::a"), _weak("probe_share", "ini", "t::b")), 2, FAILED,
     StrengthFacts(why=Strength.NARROWED, narrowings=2,
                   settings=(Narrowed(key="probe_share", source="ini"),))),
]


@pytest.mark.parametrize(("weakened", "runs", "status", "facts"), STRENGTHS)
def test_strength_item(weakened: tuple[Weakening, ...], runs: int, status: Status,
                       facts: StrengthFacts) -> None:
    item = strength_item(weakened, runs)
    assert (item.status, item.facts) == (status, facts)


def _stored(p90: float, errors: float = 0.0) -> dict[str, object]:
    return {"runs": {"t::x": {"book": {"p90_ms": p90, "error_rate": errors, "count": 10}}}}


def test_baseline_facts_and_an_unreadable_baseline() -> None:
    none = compare([], _stored(100), p90_regression=0.2, error_increase=0.01, name="b")
    assert none.status == NOT_EVIDENCED
    assert none.facts == BaselineFacts(why=Baseline.NO_TEST, name="b", p90_regression=0.2,
                                       error_increase=0.01)
    bad = unreadable("name a stored baseline")
    assert bad.facts == BaselineFacts(why=Baseline.UNREADABLE, error="name a stored baseline")


def test_merged_items_keep_the_parts_facts_and_the_worst_status() -> None:
    a = evaluate([], level="squad")
    passed = ItemOutcome(name="suite.executed", status=PASSED, tests=("t::a",),
                         facts=ExecutedFacts(why=Executed.RAN, ran=1, runs=1, iterations=3))
    b = dataclasses.replace(a, items=tuple(passed if i.name == passed.name else i for i in a.items))
    merged = merge([a, b], level="squad", levels={"squad": ("suite.executed",)})
    item = merged.item("suite.executed")
    assert item.status is PASSED
    assert item.facts == MergedFacts(parts=(passed.facts,))
    assert item.tests == ("t::a",)
    # each file failed its own squad level: merged, they still fail the gate (for that reason alone)
    assert [b.kind for b in merged.blockers] == [BlockerKind.SOURCE_FAILED] * 2


def test_an_item_read_from_a_file_keeps_its_words_as_written() -> None:
    item = ItemOutcome.from_dict({"name": "suite.executed", "status": "failed", "detail": "as written",
                                  "tests": ["t::a"], "evidence": {"runs": 1}})
    assert item.status is FAILED
    assert item.facts == WrittenFacts(detail="as written")


def test_unfit_is_typed() -> None:
    c = evaluate([], level="squad", tests=TestCounts(failed=1), incomplete=["gw1 went down"])
    assert unfit(c, []) is not None
    assert unfit(c, []).why is UnfitWhy.INCOMPLETE  # type: ignore[union-attr]
    c = Checklist(level="squad", required=(), items=(), tests=TestCounts(failed=1))
    assert unfit(c, []).why is UnfitWhy.NOTHING_MEASURED  # type: ignore[union-attr]


def test_items_carry_their_example_findings_not_lines() -> None:
    from fpt.evidence.findings import Finding, FindingLog
    from fpt.judge.dod.catalogue import EXAMPLES
    from fpt.judge.verdict import examples

    from .runs import run

    log = FindingLog()
    for k in range(3):
        log.add(Finding(kind="data_swap", message="foreign canary", user=f"user#{k}", at=float(k)))
    c = evaluate([run(findings=log)], level="squad")
    live = c.item("data_swap.multi_user_live")
    # spread over the run and its users, as the reports show them
    assert live.examples == tuple(examples(log.of("data_swap"), EXAMPLES))
    assert len(live.examples or ()) == 3
    assert "examples" not in live.evidence
    assert c.item("data_swap.negative_concurrency").examples == ()
    # an item with no examples to show has none, and one read back from a file keeps its words
    assert c.item("suite.executed").examples is None
    assert ItemOutcome.from_dict({"name": "data_swap.multi_user_live", "status": "failed", "detail": "x",
                                  "tests": [], "evidence": {"examples": ["as written"]}}).examples is None
