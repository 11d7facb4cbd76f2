"""fpt.report.findings: a finding in one line, with the parts it has."""

from __future__ import annotations

import pytest

from fpt.evidence.findings import Finding
from fpt.report.findings import finding_line


@pytest.mark.parametrize(("finding", "line"), [
    (Finding(kind="functional", message="empty body"), "[functional] empty body"),
    (Finding(kind="functional", message="refused", step="login"), "[functional] refused in step 'login'"),
    (Finding(kind="functional", message="refused", method="POST"), "[functional] refused (POST)"),
    (Finding(kind="functional", message="refused", path="/login"), "[functional] refused (/login)"),
    (Finding(kind="functional", message="refused", step="login", method="POST", path="/login", user="user#1",
             phase="alone"),
     "[functional] refused in step 'login' (POST /login) — user#1 [alone]"),
    (Finding(kind="data_swap", message="foreign canary", step="me", method="GET", path="/me", user="user#2",
             other_user="user#3"),
     "[data_swap] foreign canary in step 'me' (GET /me) — user#2 saw user#3's data"),
    # no user named: the line keeps the two spaces it always had
    (Finding(kind="cross_user", message="read", other_user="user#5"),
     "[cross_user] read —  saw user#5's data"),
    (Finding(kind="session", message="logged out", phase="scale"), "[session] logged out [scale]"),
])
def test_finding_line(finding: Finding, line: str) -> None:
    assert finding_line(finding) == line


def test_the_evidence_and_where_it_was_seen_are_not_in_the_line() -> None:
    f = Finding(kind="data_swap", message="m", request_id="r1", at=2.5, evidence={"found": ["x"]},
                concurrent=True)
    assert finding_line(f) == "[data_swap] m"
