"""fpt_load.openapi: a whole API hunted from its OpenAPI document, with no hand-written flow.

The service is tests/notes_api.py, written with FastAPI and hunted through its own generated
``/openapi.json``: each data-swap bug is caught by the detector that should catch it, the
correct service passes, and the coverage table names every operation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fpt.config.errors import ConfigError
from fpt.config.settings import FptConfig
from fpt.evidence.coverage import (
    ApiCoverage,
    OperationCoverage,
    OpKind,
    OpOutcome,
    SkipReason,
    merge_coverage,
)
from fpt.evidence.result import RunResult
from fpt.judge.verdict import swap_verdict
from fpt.load import LoadRunner
from fpt.report.problems import failures
from fpt.run.openapi import Overrides, plan
from tests.notes_api import auth, create_app

DOC = create_app().openapi()

#: operation -> outcome the hunt of the correct service must end with
EXPECTED = {
    "signUp": OpOutcome.SKIPPED, "logIn": OpOutcome.SKIPPED, "getMe": OpOutcome.CHECKED,
    "listNotes": OpOutcome.CHECKED, "createNote": OpOutcome.CHECKED, "getNote": OpOutcome.CHECKED,
    "updateNote": OpOutcome.CHECKED, "deleteNote": OpOutcome.EXERCISED, "attachFile": OpOutcome.SKIPPED,
    "adminStats": OpOutcome.REFUSED, "clinicSlots": OpOutcome.SKIPPED,
}


def hunt(bugs: tuple[str, ...] = (), **kwargs: Any) -> RunResult:
    app = create_app(bugs)
    runner = LoadRunner(FptConfig(seed=3), name=f"notes-{'-'.join(bugs) or 'clean'}", marker={},
                        record=lambda r: None)
    args: dict[str, Any] = {"target": app, "profile": "virtual", "users": 20, "rate": 40, "duration": "2s",
                            "burst": 10, "probe_share": 0.3, "replay_writes": True, "check": False, **kwargs}
    return runner.openapi("/openapi.json", auth=auth, **args)


def test_the_plan_binds_ids_by_name_and_says_why_each_skipped_operation_is_skipped() -> None:
    p = plan(DOC)
    kinds = {x.op.op_id: x.kind for x in p.planned}
    assert kinds == {"getMe": OpKind.READ, "listNotes": OpKind.LIST, "createNote": OpKind.CREATE,
                     "getNote": OpKind.READ, "updateNote": OpKind.UPDATE, "deleteNote": OpKind.DELETE,
                     "adminStats": OpKind.READ}
    get_note = next(x for x in p.planned if x.op.op_id == "getNote")
    assert [(lk.create, lk.param, lk.source, lk.by) for lk in get_note.links] == \
        [("createNote", "note_id", "id", "name")]
    assert {(s.op.op_id, s.reason, s.detail) for s in p.skipped} == {
        ("signUp", SkipReason.AUTH, ""), ("logIn", SkipReason.AUTH, ""),
        ("attachFile", SkipReason.FILE_UPLOAD, "multipart/form-data"),
        ("clinicSlots", SkipReason.NO_PARAMETER, "clinic_code")}


def test_declared_links_win_over_inference_and_overrides_come_from_x_fpt_or_keywords() -> None:
    doc = json.loads(json.dumps(DOC))
    doc["paths"]["/notes"]["post"]["responses"]["201"]["links"] = {
        "read": {"operationId": "getNote", "parameters": {"note_id": "$response.body#/id"}}}
    doc["x-fpt"] = {"exclude": ["admin"], "params": {"clinic_code": "C-1"}, "public": ["clinicSlots"]}
    p = plan(doc, Overrides.of(doc))
    get_note = next(x for x in p.planned if x.op.op_id == "getNote")
    assert get_note.links[0].by == "link"
    assert {s.op.op_id: s.reason for s in p.skipped}["adminStats"] == SkipReason.EXCLUDED
    assert "clinicSlots" in {x.op.op_id for x in p.planned}  # its parameter is given now
    assert p.public_paths == ("^/clinics/[^/]+/slots$",)
    # A keyword replaces the document's list.
    p = plan(doc, Overrides.of(doc, exclude=["DELETE /notes/{note_id}"]))
    assert {s.op.op_id for s in p.skipped if s.reason == SkipReason.EXCLUDED} == {"deleteNote"}


@pytest.mark.parametrize(("given", "key"), [
    ({"exclude": ["noSuchOperation"]}, "exclude"),
    ({"public": [3]}, "public"),
    ({"params": ["clinic_code"]}, "params"),
])
def test_a_bad_override_names_the_key_the_value_and_what_is_allowed(given: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        plan(DOC, Overrides.of(DOC, **given))
    assert e.value.key == key
    assert "must" in str(e.value)


@pytest.mark.parametrize(("doc", "says"), [
    ({"swagger": "2.0", "paths": {}}, "Swagger 2"),
    ({"openapi": "2.5", "paths": {}}, "3.0 or 3.1"),
    ({"openapi": "3.1.0"}, "paths"),
])
def test_a_document_fpt_cannot_read_is_a_clear_error(doc: dict[str, Any], says: str) -> None:
    from fpt.run.openapi import read_document

    with pytest.raises(ConfigError, match=says):
        read_document(doc)


def test_coverage_records_round_trip_and_merge_across_workers() -> None:
    a = ApiCoverage(title="Notes", operations=(
        OperationCoverage(op_id="getNote", method="GET", path="/notes/{note_id}", kind=OpKind.READ, calls=3,
                          ok=3, checked=3, probed=1, statuses={"200": 3}),
        OperationCoverage(op_id="attachFile", method="POST", path="/x", skipped=SkipReason.FILE_UPLOAD)))
    assert ApiCoverage.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    merged = merge_coverage([a, a])
    assert merged is not None
    assert merged.op("getNote").calls == 6
    assert merged.op("getNote").statuses == {"200": 6}
    assert merged.op("attachFile").outcome == OpOutcome.SKIPPED


def test_the_correct_service_passes_with_every_operation_accounted_for() -> None:
    r = hunt()
    assert failures(r) == [], failures(r)
    assert dict(r.findings.counts) == {}
    assert r.coverage is not None
    assert {op.op_id: op.outcome for op in r.coverage.operations} == EXPECTED
    note = r.coverage.op("getNote")
    assert note.probed > 0  # other users asked for this user's notes: all refused
    assert r.evidence.probes.denied > 0
    assert r.evidence.replay.denied > 0
    assert r.coverage.op("adminStats").statuses == {"403": r.coverage.op("adminStats").calls}
    # The coverage crosses processes and reaches the checklist's runs.
    again = RunResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again.coverage == r.coverage
    from fpt.judge.dod.evaluate import run_evidence
    from fpt.report.terminal import run_summary

    assert run_evidence(r)["coverage"]["outcomes"] == {"checked": 5, "exercised": 1, "refused": 1,
                                                       "skipped": 4}
    text = "\n".join(run_summary(r))
    assert "GET /clinics/{clinic_code}/slots" in text
    assert "skipped: no way to build parameter clinic_code" in text


@pytest.mark.parametrize(("bug", "kind", "step"), [
    ("read_no_owner", "cross_user", "fpt.probe"),     # another user's id read with its own credentials
    ("write_no_owner", "cross_user", "updateNote"),   # the PUT replayed as another user answered
    ("leaky_list", "foreign_canary", "listNotes"),    # every user's notes in the listing
])
def test_each_bug_is_caught_where_it_is(bug: str, kind: str, step: str) -> None:
    r = hunt((bug,))
    assert r.findings.counts.get(kind, 0) > 0, dict(r.findings.counts)
    assert step in {f.step for f in r.findings.of(kind)}
    assert failures(r)
    assert all(f.other_user != f.user for f in r.findings.of(kind))


def test_a_hunt_with_nothing_to_call_is_not_evidenced_never_passed() -> None:
    from fpt.judge.dod.evaluate import evaluate

    r = hunt(exclude=["notes", "getMe", "adminStats", "clinics"], users=10, rate=20, duration="1s")
    assert r.coverage is not None
    assert {op.outcome for op in r.coverage.operations} == {OpOutcome.SKIPPED}
    assert swap_verdict(r) == "not_checked"
    assert evaluate([r], level="squad").item("data_swap.high_traffic_virtual").status == "not_evidenced"


def test_a_document_off_the_perimeter_or_missing_is_a_clear_error() -> None:
    runner = LoadRunner(FptConfig(), name="t", marker={}, record=lambda r: None)
    with pytest.raises(ConfigError, match="OffPerimeter"):  # refused before any connection
        runner.openapi("http://example.com/openapi.json", auth=auth, target="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="answer 200"):
        runner.openapi("/no-such-document.json", auth=auth, target=create_app(), profile="virtual")
    with pytest.raises(ConfigError, match="auth"):
        runner.openapi(DOC, auth="sign me in", target=create_app(), profile="virtual")
