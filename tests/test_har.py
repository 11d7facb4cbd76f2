"""fpt har2flow: a HAR recorded from the demo becomes a flow that runs and catches a demo bug."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from fpt.cli import main
from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.evidence.result import RunResult
from fpt.har import HarError, har2flow
from fpt.report.problems import failures
from fpt.run.identity import IdentityFactory
from fpt.run.runner import Run
from fpt.run.shapes import constant


def _har_entry(response: httpx.Response) -> dict[str, Any]:
    """One HAR 1.2 entry for an answered request (what a browser's "Save all as HAR" writes)."""
    req = response.request
    entry: dict[str, Any] = {
        "startedDateTime": datetime.now(UTC).isoformat(),
        "request": {"method": req.method, "url": str(req.url),
                    "headers": [{"name": k, "value": v} for k, v in req.headers.items()]},
        "response": {"status": response.status_code,
                     "headers": [{"name": k, "value": v} for k, v in response.headers.items()],
                     "content": {"mimeType": response.headers.get("content-type", ""),
                                 "text": response.text}},
    }
    if req.content:
        entry["request"]["postData"] = {"mimeType": req.headers.get("content-type", ""),
                                        "text": req.content.decode()}
    return entry


async def record_demo_journey() -> str:
    """A member signs up, logs in, reads the profile, books, reads, lists and reschedules a visit."""
    entries: list[dict[str, Any]] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        entries.append(_har_entry(response))

    who = IdentityFactory(99).make(7)  # the recorded person: synthetic, never one of the load's users
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(bugs=())),
                                 base_url="http://demo.test", event_hooks={"response": [keep]}) as c:
        await c.post("/signup", json={**who.profile(), "password": who.password})
        await c.post("/login", json=who.credentials)
        await c.get("/me")
        await c.get("/app.css")  # a static asset the page loaded: left out of the flow
        visit = (await c.post("/visits", json={"note": "check-up", "date": "2030-02-01"})).json()
        await c.get(f"/visits/{visit['id']}")
        await c.get("/visits")
        await c.put(f"/visits/{visit['id']}", json={"date": "2030-03-01"})
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
                               "entries": entries}})


@pytest.fixture(scope="module")
def flow_source() -> str:
    return har2flow(asyncio.run(record_demo_journey()), source="demo.har")


def _load(source: str, tmp: Path) -> Any:
    path = tmp / "recorded_flows.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("recorded_flows", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_flow_reads_as_a_squad_would_write_it(flow_source: str) -> None:
    src = flow_source
    assert "async def sign_in(user: fpt.User)" in src
    assert "async def recorded_flow(user: fpt.User)" in src
    # credentials and personal values are the user's, never the recorded person's
    who = IdentityFactory(99).make(7)
    for value in (who.email, who.password, who.name, who.member_id, who.canary):
        assert value not in src
    assert "user.identity.password" in src
    assert "expect_status={201, 409}" in src  # sign-up: already done by an earlier session is fine
    # ids from earlier answers correlated into later requests, and the create put in the ledger
    assert 'visit_id = r.json()["id"]' in src
    assert 'f"/visits/{visit_id}"' in src
    assert 'user.ledger.add("visit", f"/visits/{visit_id}", member_id=user.identity.member_id)' in src
    # ownership suggested where an answer echoes the user; free text carries the canary
    assert 'user.expect_owner(r, "member.email", "member.member_id"' in src
    assert "user.expect_owner(item, member_id=user.identity.member_id)" in src
    assert '"note": f"check-up {user.identity.canary}"' in src
    assert "app.css" not in src
    assert [line for line in src.splitlines() if "async with user.step(" in line] == [
        '    async with user.step("signup", expect_status={201, 409}):', '    async with user.step("login"):',
        '    async with user.step("me"):', '    async with user.step("visits"):']


def _run(flow: Any, bugs: tuple[str, ...]) -> RunResult:
    cfg = FptConfig(users=20, profile="virtual", burst=10, probe_share=0.3, alone=2, seed=7)
    run = Run(flow, cfg=cfg, shape=constant(40), duration=2.0, target=create_app(bugs=bugs), thresholds=(),
              name=f"har-{'-'.join(bugs) or 'clean'}")
    return asyncio.run(run.execute())


def test_the_recorded_flow_runs_clean_and_catches_the_missing_owner_check(flow_source: str,
                                                                           tmp_path: Path) -> None:
    module = _load(flow_source, tmp_path)
    clean = _run(module.recorded_flow, ())
    assert failures(clean) == [], failures(clean)
    assert clean.evidence.probes.denied > 0
    assert clean.evidence.step("me").owner_checked > 0
    buggy = _run(module.recorded_flow, ("no_owner_check",))
    assert buggy.findings.counts.get("cross_user", 0) > 0, dict(buggy.findings.counts)
    assert failures(buggy)
    leaky = _run(module.recorded_flow, ("leaky_listing",))
    assert leaky.swaps > 0, dict(leaky.findings.counts)


def test_the_command_prints_the_flow_and_refuses_what_is_not_a_har(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    har = tmp_path / "rec.har"
    har.write_text(asyncio.run(record_demo_journey()))
    assert main(["har2flow", str(har), "--name", "book"]) == 0
    out = capsys.readouterr().out
    assert "async def book(user: fpt.User)" in out
    compile(out, "flows.py", "exec")
    bad = tmp_path / "bad.har"
    bad.write_text("{}")
    assert main(["har2flow", str(bad)]) == 2
    assert "not a HAR recording" in capsys.readouterr().err
    with pytest.raises(HarError):
        har2flow(json.dumps({"log": {"entries": []}}))
