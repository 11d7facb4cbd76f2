"""fpt.report.checklist: each kind of item facts in words, the reasons a level fails, the written form."""

from __future__ import annotations

import pytest

from fpt.evidence.checks import ProbeEvidence, ReplayEvidence
from fpt.evidence.continuity import ReadBack
from fpt.evidence.explore import ExploreRecord
from fpt.evidence.findings import Finding
from fpt.judge.continuity import Degradation, EventDegradation
from fpt.judge.dod.catalogue import FAILED, NOT_EVIDENCED, PASSED
from fpt.judge.dod.checklist import Checklist, ItemOutcome, TestCounts
from fpt.judge.dod.facts import (
    Alone,
    AloneFacts,
    Baseline,
    BaselineFacts,
    BaselineRow,
    DataLoss,
    DataLossFacts,
    DegradationFacts,
    Executed,
    ExecutedFacts,
    Facts,
    Limits,
    MergedFacts,
    Narrowed,
    Negative,
    NegativeFacts,
    Recovery,
    Scaling,
    Selected,
    SelectionFacts,
    SpikeFacts,
    Strength,
    StrengthFacts,
    StressFacts,
    Swap,
    SwapFacts,
    ThresholdFacts,
    WrittenFacts,
)
from fpt.judge.gate import validate
from fpt.report.checklist import checklist_dict, detail, example_lines, facts_words, item_dict, reasons
from fpt.report.markdown import checklist_markdown

ROW = BaselineRow(test="t::x", step="book", p90_ms=200.0, baseline_p90_ms=100.0, p90_limit_ms=120.0,
                  error_rate=0.0, baseline_error_rate=0.0, passed=False)

WORDS: list[tuple[str, Facts, str]] = [
    ("suite.executed", ExecutedFacts(why=Executed.NO_TEST, skipped=2), "no FPT test ran (2 skipped)"),
    ("suite.executed", ExecutedFacts(why=Executed.NO_ITERATION), "FPT tests ran but no iteration started"),
    ("suite.executed", ExecutedFacts(why=Executed.RAN, ran=3, runs=2, iterations=40),
     "3 FPT tests ran, 2 load runs, 40 iterations"),
    ("functional.single_user", AloneFacts(why=Alone.FAILS, flows=("a", "b")),
     "fails for one user alone: a, b"),
    ("functional.single_user", AloneFacts(why=Alone.NEVER, flows=("a",), tests=("t::a",)),
     "never run alone (alone=0): a (t::a)"),
    ("functional.single_user", AloneFacts(why=Alone.PASSES, flows=("a",)), "1 flow(s) pass alone: a"),
    ("data_swap.multi_user_live", SwapFacts(why=Swap.NO_RUN, profile="live"), "no multi-user live run"),
    ("data_swap.multi_user_live",
     SwapFacts(why=Swap.SWAPS, profile="live", swaps=4, kinds=("concurrency", "cache_shared_state")),
     "4 responses carried another user's data (cache/shared state, concurrency)"),
    ("data_swap.multi_user_live", SwapFacts(why=Swap.SWAPS, profile="live", swaps=1),
     "1 responses carried another user's data (data swap)"),
    ("data_swap.multi_user_live", SwapFacts(why=Swap.SOME_NOT_INSPECTED, profile="live", tests=("t::a",
     "t::b")),
     "no data-swap check inspected a successful answer of t::a, t::b"),
    ("data_swap.multi_user_live", SwapFacts(why=Swap.ONLY_ERRORS, profile="live", steps=("pay",)),
     "step pay answered only errors: no answer there could be checked for another user's data"),
    ("data_swap.multi_user_live", SwapFacts(why=Swap.ONLY_ERRORS, profile="live", steps=("a", "b")),
     "steps a, b answered only errors: no answer there could be checked for another user's data"),
    ("data_swap.high_traffic_virtual",
     SwapFacts(why=Swap.TOO_SLOW, profile="virtual", required_rate=50.0, best_rate=12.34),
     "no virtual run achieved the high-traffic rate of 50/s (best 12.3/s)"),
    ("data_swap.high_traffic_virtual",
     SwapFacts(why=Swap.CLEAN, profile="virtual", runs=2, inspected=80, pairs=31),
     "0 swaps in 80 checked answers of 2 runs with 31 overlapping pairs of different users"),
    ("data_swap.negative_concurrency",
     NegativeFacts(why=Negative.LEAKED, leaked=2, kinds=("authorization",), probes=ProbeEvidence(tried=5)),
     "2 of 5 cross-user attempts (probes and replays) got the owner's data (authorization: BOLA/IDOR)"),
    ("data_swap.negative_concurrency",
     NegativeFacts(why=Negative.LEAKED, leaked=1, probes=ProbeEvidence(tried=1)),
     "1 of 1 cross-user attempts (probes and replays) got the owner's data (concurrency or cache/shared "
     "state)"),
    ("data_swap.negative_concurrency",
     NegativeFacts(why=Negative.REPLAYS_REFUSED, replay=ReplayEvidence(tried=4, denied=3, own=1)),
     "3 of 4 requests replayed as another user refused with that user's working credentials, 0 leaked "
     "(1 answered with its own data, 0 unproven)"),
    ("autoscaling.no_data_loss", DataLossFacts(why=DataLoss.LOST, lost=2, readback=ReadBack(tried=9)),
     "2 of 9 acknowledged writes lost"),
    ("autoscaling.no_data_loss",
     DataLossFacts(why=DataLoss.NOT_ALL_READ, readback=ReadBack(errors=1, skipped=2, not_kept=2)),
     "1 read-backs failed and 2 were not made (2 writes past the run's read-back sample)"),
    ("autoscaling.degradation", DegradationFacts(why=Scaling.NO_RUN), "no run had scale events"),
    ("autoscaling.degradation", DegradationFacts(why=Scaling.NOT_SHOWN, runs=((),)),
     "a scale event failed or a phase had no iterations"),
    ("autoscaling.degradation",
     DegradationFacts(why=Scaling.JUDGED,
                      runs=((EventDegradation(index=1, kind=Degradation.NO_ITERATIONS),),)),
     "event 1: no iterations to compare before/during"),
    ("performance.error_rate", ThresholdFacts(why=Limits.NONE_SET),
     "no error-rate threshold was set and measured"),
    ("performance.response_time", ThresholdFacts(why=Limits.MET, measured=2),
     "2 response-time thresholds met"),
    ("performance.soak_memory", ThresholdFacts(why=Limits.SHORT_SPAN, best_span=12.4, min_span=60.0),
     "the service's RSS was sampled over 12s at most, under soak_min_span (60s)"),
    ("performance.stress_recovery", StressFacts(why=Recovery.NO_RUN),
     "no stress run (rate=fpt.step_up(...))"),
    ("performance.spike", SpikeFacts(why=Recovery.NO_RUN), "no spike run (rate=fpt.spike(...))"),
    ("performance.baseline", BaselineFacts(why=Baseline.NOT_COMPARED),
     "no baseline compared (--fpt-compare NAME)"),
    ("performance.baseline", BaselineFacts(why=Baseline.REGRESSED, name="b", compared=3, regressed=(ROW,)),
     "1 of 3 steps regressed against 'b': t::x book: p90 100.0 -> 200.0ms, errors 0.00% -> 0.00%"),
    ("performance.baseline", BaselineFacts(why=Baseline.UNREADABLE, error="no such baseline"),
     "no such baseline"),
    ("suite.selection", SelectionFacts(why=Selected.PARTIAL, deselected=("a", "b", "c",
     "d"), last_failed=True),
     "4 FPT tests deselected (a, b, c and 1 more); a --lf re-run (files without a failure last time were "
     "not collected)"),
    ("suite.selection", SelectionFacts(why=Selected.ALL, ran=5), "every collected FPT test ran (5)"),
    ("checks.full_strength",
     StrengthFacts(why=Strength.NARROWED, narrowings=2,
                   settings=(Narrowed(key="probe_share", source="ini"),)),
     "2 settings narrowed a check: probe_share (ini)"),
    ("checks.full_strength", StrengthFacts(why=Strength.FULL, runs=3),
     "every check at full strength in 3 runs"),
    ("performance.baseline", WrittenFacts(detail="as an earlier fpt wrote it"), "as an earlier fpt wrote it"),
    ("suite.executed", MergedFacts(parts=(ExecutedFacts(why=Executed.NO_ITERATION), WrittenFacts(detail="x"),
                                          ExecutedFacts(why=Executed.NO_ITERATION))),
     "FPT tests ran but no iteration started | x"),
]


@pytest.mark.parametrize(("name", "facts", "words"), WORDS)
def test_each_kind_of_facts_has_its_words(name: str, facts: Facts, words: str) -> None:
    assert facts_words(facts, name) == words
    assert detail(ItemOutcome(name=name, status=NOT_EVIDENCED, facts=facts)) == words


def test_facts_without_words_are_refused_not_shown_empty() -> None:
    with pytest.raises(TypeError, match="no words for"):
        facts_words(object(), "suite.executed")


def _checklist(**kw: object) -> Checklist:
    items = tuple(ItemOutcome(name=n, status=PASSED, facts=WrittenFacts(detail="ok"))
                  for n in ("suite.executed", "functional.single_user"))
    return Checklist(level="mine", required=("suite.executed",), items=items, **kw)  # type: ignore[arg-type]


REASONS: list[tuple[dict[str, object], list[str]]] = [
    ({}, []),
    ({"tests": TestCounts(failed=1)}, ["1 FPT test failed"]),
    ({"tests": TestCounts(failed=2), "incomplete": ("worker gw1 went down",), "missing_parts": ("t::a",)},
     ["incomplete: worker gw1 went down", "incomplete: run t::a is missing a worker's part",
      "2 FPT tests failed"]),
    ({"failed_sources": ("a.json",)}, ["a.json: its own verdict was not passed"]),
    ({"runs": ({"test": "t::a", "check_failures": ["3 data_swap\nmore", "x"]},)},
     ["run t::a failed its checks (2): 3 data_swap"]),
    ({"explorations": (ExploreRecord(test="t::e", flow="f", examples=0, error="Unsatisfiable"),)},
     ["explore t::e (f) tried no example: Unsatisfiable"]),
]


@pytest.mark.parametrize(("kw", "expected"), REASONS)
def test_the_reasons_are_the_blockers_in_words(kw: dict[str, object], expected: list[str]) -> None:
    c = _checklist(**kw)
    assert reasons(c) == expected
    assert c.verdict == (FAILED if expected else PASSED)


def test_a_required_item_not_passed_is_a_reason_with_its_words() -> None:
    c = _checklist()
    c = Checklist(level=c.level, required=c.required, items=(
        ItemOutcome(name="suite.executed", status=NOT_EVIDENCED, facts=ExecutedFacts(why=Executed.NO_TEST)),))
    assert reasons(c) == ["suite.executed not evidenced: no FPT test ran (0 skipped)"]


def test_the_written_form_reads_back_to_the_same_typed_outcomes() -> None:
    c = Checklist(level="mine", required=("suite.executed",), items=(
        ItemOutcome(name="suite.executed", status=PASSED, tests=("t::a",), evidence={"runs": 1},
                    facts=ExecutedFacts(why=Executed.RAN, ran=1, runs=1, iterations=9)),
        *(ItemOutcome(name=n, status=NOT_EVIDENCED, facts=SwapFacts(why=Swap.NO_RUN, profile="live"))
          for n in ("functional.single_user", "data_swap.multi_user_live", "data_swap.high_traffic_virtual",
                    "data_swap.negative_concurrency", "autoscaling.session_continuity",
                    "autoscaling.no_data_loss", "autoscaling.degradation", "performance.response_time",
                    "performance.error_rate", "performance.throughput", "performance.baseline",
                    "performance.stress_recovery", "performance.spike", "performance.soak_memory",
                    "performance.volume"))))
    data = checklist_dict(c)
    back = validate(data)
    assert back.verdict == c.verdict == PASSED
    assert [(i.name, i.status, i.tests, detail(i)) for i in back.items] == \
        [(i.name, i.status, i.tests, detail(i)) for i in c.items]
    assert checklist_dict(back)["items"] == data["items"]


SWAP = Finding(kind="data_swap", message="foreign canary", step="me", method="GET", path="/me", user="user#2",
               other_user="user#3")
SWAP_LINE = "[data_swap] foreign canary in step 'me' (GET /me) — user#2 saw user#3's data"
LEAK = Finding(kind="cross_user", message="read another's visit", step="visit", user="user#4")
LEAK_LINE = "[cross_user] read another's visit in step 'visit' — user#4"


@pytest.mark.parametrize(("examples", "evidence", "written"), [
    ((SWAP, LEAK), {"swaps": 1}, [SWAP_LINE, LEAK_LINE]),
    ((), {"swaps": 0}, []),
    # no examples (an item that shows none): no key
    (None, {"swaps": 0}, None),
    # read back from a file: the lines as it wrote them
    (None, {"swaps": 1, "examples": ["as written"]}, ["as written"]),
])
def test_an_items_example_findings_are_written_as_lines(examples: tuple[Finding, ...] | None,
                                                        evidence: dict[str, object],
                                                        written: list[str] | None) -> None:
    item = ItemOutcome(name="data_swap.multi_user_live", status=FAILED, examples=examples,
                       evidence=evidence,  # type: ignore[arg-type]
                       facts=SwapFacts(why=Swap.SWAPS, profile="live", swaps=1))
    ev = item_dict(item)["evidence"]
    assert ev.get("examples") == written
    assert ev["swaps"] == evidence["swaps"]
    assert example_lines(item) == (written or [])


def test_the_markdown_shows_the_examples_of_items_not_passed() -> None:
    items = (ItemOutcome(name="data_swap.multi_user_live", status=FAILED, examples=(SWAP,),
                         facts=SwapFacts(why=Swap.SWAPS, profile="live", swaps=1)),
             ItemOutcome(name="data_swap.negative_concurrency", status=PASSED, examples=(LEAK,),
                         facts=NegativeFacts(why=Negative.REFUSED)))
    md = checklist_markdown(Checklist(level="mine", required=(), items=items))
    assert f"### Findings (first examples)\n\n- {SWAP_LINE}\n" in md
    assert LEAK_LINE not in md
