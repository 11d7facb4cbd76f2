"""fpt.evidence.checks: the single-user phase's reasons to fail, typed, and read back from old files."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fpt.evidence.checks import AloneEvidence, AloneFailure, AloneTrouble, Evidence, merge_evidence
from fpt.evidence.findings import Finding

REFUSED = Finding(kind="functional", message="login refused", step="login", user="solo#1", phase="alone",
                  evidence={"status": 403})

FAILURES = [
    (AloneFailure(trouble=AloneTrouble.NOT_FINISHED, iterations=3, deadline_s=2.5),
     {"trouble": "not_finished", "iterations": 3, "deadline_s": 2.5}),
    (AloneFailure(trouble=AloneTrouble.ABANDONED), {"trouble": "abandoned"}),
    (AloneFailure(trouble=AloneTrouble.FINDING, finding=REFUSED),
     {"trouble": "finding", "finding": REFUSED.to_dict()}),
    (AloneFailure(trouble=AloneTrouble.ERRORS, iterations=5, failed=2, errors={"setup": 1, "status": 2}),
     {"trouble": "errors", "iterations": 5, "failed": 2, "errors": {"setup": 1, "status": 2}}),
    (AloneFailure(trouble=AloneTrouble.WRITTEN, text="as an earlier fpt wrote it"),
     {"trouble": "written", "text": "as an earlier fpt wrote it"}),
]


@pytest.mark.parametrize(("failure", "written"), FAILURES)
def test_each_reason_is_written_with_the_fields_it_uses_and_reads_back(failure: AloneFailure,
                                                                       written: dict[str, object]) -> None:
    assert failure.to_dict() == written
    assert AloneFailure.from_dict(json.loads(json.dumps(written))) == failure


def test_a_sentence_from_an_earlier_file_is_kept_as_written() -> None:
    assert AloneFailure.from_dict("did not finish 3 iterations") == AloneFailure(
        trouble=AloneTrouble.WRITTEN, text="did not finish 3 iterations")


def test_an_old_file_with_failures_as_sentences_reads_with_the_same_count() -> None:
    old: dict[str, Any] = {"iterations": 3, "clean": 0, "failed": 3, "unfinished": 0, "deadline_s": 5.0,
                           "user": "solo#1", "findings": {}, "errors": {"status": 3}, "passed": False,
                           "failures": ["[functional] login refused in step 'login'",
                                        "3 of 3 iterations had errors {'status': 3}"]}
    alone = AloneEvidence.from_dict(old)
    assert not alone.passed
    assert [(a.trouble, a.text) for a in alone.failures] == \
        [(AloneTrouble.WRITTEN, s) for s in old["failures"]]
    # written again, it keeps them (typed, as written)
    assert AloneEvidence.from_dict(json.loads(json.dumps(alone.to_dict()))) == alone


def test_the_evidence_round_trips_through_json() -> None:
    alone = AloneEvidence(iterations=3, failed=1, deadline_s=2.5, user="solo#1", findings={"functional": 1},
                          errors={"status": 1}, failures=tuple(f for f, _ in FAILURES))
    back = Evidence.from_dict(json.loads(json.dumps(Evidence(alone=alone).to_dict())))
    assert back.alone == alone
    assert back.alone.to_dict()["failures"] == [w for _, w in FAILURES]


def test_merged_parts_keep_each_parts_reasons_in_order_five_at_most() -> None:
    a = AloneEvidence(iterations=2, failures=tuple(f for f, _ in FAILURES[:3]))
    b = AloneEvidence(iterations=2, failures=(*(f for f, _ in FAILURES[3:]), FAILURES[0][0]))
    merged = merge_evidence([Evidence(alone=a), Evidence(alone=b)]).alone
    assert merged is not None
    assert merged.failures == (a.failures + b.failures)[:5]
