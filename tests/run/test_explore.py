"""Boundary and negative inputs through Hypothesis: shrinks to a minimal failing input."""

from __future__ import annotations

import pytest

EXPLORE_APP = '''
import fpt
from fpt.strategies import boundary_text, wrong_types
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def note(request):
    body = await request.json()
    value = body.get("note")
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        return JSONResponse({"error": "note must be 1-200 characters"}, status_code=422)
    if BUGGY and len(value) > 20:
        raise RuntimeError("column too short")
    return JSONResponse({"note": value}, status_code=201)

BUGGY = False
app = Starlette(routes=[Route("/notes", note, methods=["POST"])])

async def post_note(user, value):
    async with user.step("note", expect_status={201, 422}):
        r = await user.http.post("/notes", json={"note": value})
        if r.status_code == 422:
            fpt.check(r.json().get("error"), "refusal without a message")

strategy = st.one_of(boundary_text(max_size=400), wrong_types())
'''


@pytest.mark.parametrize("buggy", [False, True])
def test_explore_both_ways(pytester: pytest.Pytester, buggy: bool) -> None:
    pytester.makepyfile(exploreapp=EXPLORE_APP)
    pytester.syspathinsert()
    pytester.makepyfile(test_e=f'''
        import exploreapp

        def test_negative_inputs(fpt_load):
            exploreapp.BUGGY = {buggy}
            r = fpt_load.explore(exploreapp.post_note, exploreapp.strategy, profile="virtual",
                                 target=exploreapp.app, max_examples=60, seed=3)
            assert r.examples >= 30
    ''')
    res = pytester.runpytest()
    if not buggy:
        res.assert_outcomes(passed=1)
        return
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines([
        "*FptFailure: fpt: post_note fails on a generated input (minimal, after shrinking): "
        "input * -> POST /notes answered 500",
    ])
    # shrinking keeps the input just past the buggy limit, not one of the 400-character ones
    line = next(x for x in res.stdout.lines if x.startswith("E") and "minimal, after shrinking" in x)
    shown = line.split("shrinking): input ", 1)[1].rsplit(" -> ", 1)[0]
    assert 20 < len(eval(shown)) < 40


def test_an_exploration_counts_in_the_checklist_whatever_the_test_did() -> None:
    from fpt.evidence.explore import ExploreRecord, ExploreResult
    from fpt.judge.dod.checklist import Checklist
    from fpt.judge.dod.evaluate import evaluate
    from fpt.report.checklist import checklist_dict, reasons

    found = ExploreResult(examples=12, failed=3, kinds=["functional", "functional"])
    records = [ExploreRecord.of(ExploreResult(examples=5), test="t::ok", flow="f"),
               ExploreRecord.of(found, test="t::bad", flow="f",
                                minimal="input 'xxxx' -> [functional] refused\nmore"),
               ExploreRecord.of(ExploreResult(error="Unsatisfiable: nothing"), test="t::none", flow="f")]
    assert [ExploreRecord.from_dict(r.to_dict()) for r in records] == records
    assert [r.passed for r in records] == [True, False, False]
    c = evaluate([], level="squad", explorations=records)
    assert reasons(Checklist.from_dict(checklist_dict(c))) == reasons(c)
    explored = [r for r in reasons(c) if r.startswith("explore ")]
    assert explored == [
        "explore t::bad (f) found a failing input (functional): input 'xxxx' -> [functional] refused",
        "explore t::none (f) tried no example: Unsatisfiable: nothing"]
