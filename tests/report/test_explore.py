"""fpt.report.explore: an exploration's minimal failing input in words."""

from __future__ import annotations

import pytest

from fpt.evidence.explore import ExampleFailure, ExploreRecord
from fpt.evidence.findings import Finding
from fpt.report.explore import explore_failure, minimal_line, record_line

REFUSED = Finding(kind="functional", message="refused", step="note", user="solo#1", phase="explore")
EMPTY = Finding(kind="functional", message="empty")


@pytest.mark.parametrize(("failure", "line"), [
    (ExampleFailure(input="21", last_error="POST /notes answered 500", error="status"),
     "input 21 -> POST /notes answered 500"),
    (ExampleFailure(input="-6", findings=(REFUSED,), last_error="ignored", error="check"),
     "input -6 -> [functional] refused in step 'note' — solo#1 [explore]"),
    # three findings at most
    (ExampleFailure(input="''", findings=(EMPTY, REFUSED, EMPTY, REFUSED)),
     "input '' -> [functional] empty; [functional] refused in step 'note' — solo#1 [explore]; "
     "[functional] empty"),
    (ExampleFailure(input="0", error="timeout"), "input 0 -> an error (timeout)"),
    (ExampleFailure(input="0"), "input 0 -> an error (None)"),
])
def test_minimal_line(failure: ExampleFailure, line: str) -> None:
    assert minimal_line(failure) == line


@pytest.mark.parametrize(("notes", "message"), [
    ((),
     "fpt: post_note fails on a generated input (minimal, after shrinking): input 21 -> an error (status)"),
    (("Falsifying example: example(", "    value=21,", ")"),
     "fpt: post_note fails on a generated input (minimal, after shrinking): input 21 -> an error (status)\n"
     "Falsifying example: example(\n    value=21,\n)"),
])
def test_the_failure_message_ends_with_hypothesiss_notes(notes: tuple[str, ...], message: str) -> None:
    assert explore_failure("post_note", ExampleFailure(input="21", error="status", notes=notes)) == message


@pytest.mark.parametrize(("record", "line"), [
    (ExploreRecord(test="t", flow="f", examples=0), "explore t (f): 0 examples: nothing explored"),
    (ExploreRecord(test="t", flow="f", examples=12), "explore t (f): 12 examples, all passed"),
    (ExploreRecord(test="t", flow="f", examples=3, error="ConfigError: bad"),
     "explore t (f): 3 examples, stopped: ConfigError: bad"),
    (ExploreRecord(test="t", flow="f", examples=40, failed=2, kinds=("functional",),
                   minimal="input {'q': ''} -> [functional] empty\nnotes"),
     "explore t (f): 40 examples, 2 failing (functional): input {'q': ''} -> [functional] empty"),
])
def test_an_exploration_in_one_line(record: ExploreRecord, line: str) -> None:
    assert record_line(record) == line
