"""fpt.run.runner.alone_failures: why a single-user phase failed, typed, in the order shown."""

from __future__ import annotations

import pytest

from fpt.evidence.checks import AloneFailure, AloneTrouble
from fpt.evidence.findings import Finding
from fpt.run.runner import alone_failures

FOUND = tuple(Finding(kind="functional", message=f"m{k}") for k in range(7))
T = AloneTrouble


@pytest.mark.parametrize(("done", "stuck", "examples", "errors", "expected"), [
    (True, 0, (), {}, ()),
    (False, 0, (), {}, (AloneFailure(trouble=T.NOT_FINISHED, iterations=3, deadline_s=2.5),)),
    (True, 1, (), {}, (AloneFailure(trouble=T.ABANDONED),)),
    (True, 0, FOUND[:2], {}, tuple(AloneFailure(trouble=T.FINDING, finding=f) for f in FOUND[:2])),
    (True, 0, (), {"status": 1},
     (AloneFailure(trouble=T.ERRORS, iterations=3, failed=1, errors={"status": 1}),)),
    # everything at once: in this order, the first five findings only
    (False, 2, FOUND, {"setup": 1, "status": 1},
     (AloneFailure(trouble=T.NOT_FINISHED, iterations=3, deadline_s=2.5), AloneFailure(trouble=T.ABANDONED),
      *(AloneFailure(trouble=T.FINDING, finding=f) for f in FOUND[:5]),
      AloneFailure(trouble=T.ERRORS, iterations=3, failed=1, errors={"setup": 1, "status": 1}))),
])
def test_alone_failures(done: bool, stuck: int, examples: tuple[Finding, ...], errors: dict[str, int],
                        expected: tuple[AloneFailure, ...]) -> None:
    assert alone_failures(iterations=3, deadline=2.5, done=done, stuck=stuck, examples=examples, failed=1,
                          errors=errors) == expected


def test_the_errors_are_those_of_the_moment_the_phase_ended() -> None:
    errors = {"status": 1}
    (failure,) = alone_failures(iterations=3, deadline=2.5, done=True, stuck=0, examples=(), failed=1,
                                errors=errors)
    errors["status"] = 9  # an abandoned iteration still counting
    assert failure.errors == {"status": 1}
