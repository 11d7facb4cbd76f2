"""Redaction: no secret leaves the process, whatever channel it would have taken.

The end-to-end test plants secrets in every way a flow can leak them (a base URL with
user-info, a bearer token on every request, a ``?token=`` URL that raises, an assertion
message carrying the token) and greps every output of a real pytest session for them.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from fpt.config import redact

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_registry() -> Iterator[None]:
    redact.forget()
    yield
    redact.forget()


@pytest.mark.parametrize(("text", "secret"), [
    ("GET http://alice:pa55word@127.0.0.1:8000/me", "pa55word"),
    ("for url 'http://127.0.0.1/x?page=2&token=tok-123&q=1'", "tok-123"),
    ("/x?api_key=k3y-value", "k3y-value"),
    ("/cb?access_token=abc.def.ghi&sig=s1gnature", "s1gnature"),
    ("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9", "eyJhbGciOi"),
    ("{'authorization': 'Bearer zzzzzz123', 'accept': '*/*'}", "zzzzzz123"),
    ("Cookie: session=c00kie-value; theme=dark", "c00kie-value"),
    ("set-cookie: session=abcdefgh1; Path=/", "abcdefgh1"),
    ("X-API-Key: key-material-1", "key-material-1"),
    ("header was Basic YWxpY2U6cHc=", "YWxpY2U6cHc="),
])
def test_scrub_removes_each_kind_of_secret(text: str, secret: str) -> None:
    clean = redact.scrub(text)
    assert secret not in clean
    assert redact.REDACTED in clean


def test_scrub_leaves_ordinary_text_alone(clean_registry: None) -> None:
    text = "p90<800ms errors<1% returncode=1 design=2 Basic authentication user#3 /visits/12?page=2"
    assert redact.scrub(text) == text


def test_known_secrets_are_scrubbed_anywhere_and_learned_from_request_headers(clean_registry: None) -> None:
    redact.register("member-password-1")
    redact.note_headers([(b"Authorization", b"Bearer raw-token-xyz"), (b"Accept", b"*/*"),
                         (b"cookie", b"session=cookie-secret-1; theme=dark"),
                         (b"proxy-authorization", b"Basic " + base64.b64encode(b"bob:b0b-pass"))])
    text = ("assert failed: raw-token-xyz != member-password-1, cookie-secret-1 in body; "
            "password b0b-pass; theme dark")
    clean = redact.scrub(text)
    for s in ("raw-token-xyz", "member-password-1", "cookie-secret-1", "b0b-pass"):
        assert s not in clean
    assert "theme dark" in clean  # short, ordinary values are not secrets
    assert {"raw-token-xyz", "member-password-1"} <= redact.known()


def test_many_known_secrets_are_found_in_one_walk(clean_registry: None) -> None:
    values = [f"secret-{i:05d}-{secrets.token_hex(4)}" for i in range(500)]
    redact.register(*values)
    text = " | ".join(f"row {i}: {v}" for i, v in enumerate(values[::7])) + " end"
    clean = redact.scrub(text)
    assert not any(v in clean for v in values)
    assert clean.count(redact.REDACTED) == len(values[::7])
    assert clean.endswith(" end")


def test_deep_scrub_of_a_checklist_keeps_it_valid_for_the_gate(clean_registry: None) -> None:
    from fpt.judge.dod.checklist import ItemOutcome
    from fpt.judge.dod.evaluate import evaluate
    from fpt.judge.dod.facts import WrittenFacts
    from fpt.judge.gate import validate
    from fpt.report.checklist import checklist_dict

    redact.register("very-secret-token")
    c = evaluate([], incomplete=["worker gw1 said very-secret-token"],
                 baseline=ItemOutcome(name="performance.baseline", status="not_evidenced",
                                      facts=WrittenFacts(detail="http://u:p4ss@host/?token=very-secret-token")))
    data = checklist_dict(redact.deep(c))
    assert "very-secret-token" not in str(data)
    assert "p4ss" not in str(data)
    validate(data)  # digest and verdict still follow from the scrubbed content


FLOW = '''
import os
import fpt
from suites.flows import sign_in

BEARER = os.environ["T_BEARER"]
QUERY = os.environ["T_QUERY"]


async def leaky(user: fpt.User) -> None:
    user.http.headers["Authorization"] = f"Bearer {BEARER}"
    if not await sign_in(user):
        return
    async with user.step("profile"):
        r = await user.http.get("/me")
        user.expect_owner(r, "member.email")
    if user.iterations % 2:
        assert r.status_code == 599, f"profile answered with token {BEARER}"
    async with user.step("leak", expect_status={404}):
        r = await user.http.get(f"/nowhere?token={QUERY}")
        raise RuntimeError(f"failed {r.request.url} as {BEARER}")


def test_flow_failures_are_redacted(fpt_load, demo_url):
    base = demo_url.replace("http://", "http://alice:" + os.environ["T_PASS"] + "@")
    fpt_load(leaky, target=base, users=3, rate=4, duration="1s", alone=2)


def test_assertion_and_output_are_redacted(fpt_load, demo_url):
    base = demo_url.replace("http://", "http://alice:" + os.environ["T_PASS"] + "@")
    r = fpt_load(leaky, target=base, users=2, rate=2, duration="1s", alone=0, check=False)
    print("SENT-MARKER", BEARER, "to", base)
    assert r.swaps == 99, f"run used {BEARER} and {QUERY}"
'''
CONFTEST = '''
import pytest
from fpt.demo.server import serve

@pytest.fixture(scope="session")
def demo_url():
    with serve() as server:
        yield server.base_url
'''


def test_no_planted_secret_appears_in_any_output(pytester: pytest.Pytester,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    planted = {"T_BEARER": "brr" + secrets.token_urlsafe(18), "T_QUERY": "qry" + secrets.token_urlsafe(18),
               "T_PASS": "pw" + secrets.token_hex(10)}
    for k, v in planted.items():
        monkeypatch.setenv(k, v)
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_leaky=FLOW)
    pytester.makepyprojecttoml("[tool.fpt]\nseed = 7\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=junit.xml", "-rA")
    result.assert_outcomes(failed=2)
    out, err = result.stdout.str(), result.stderr.str()
    # The channels were used: the failures, the capture and the reports are there.
    assert "fpt summary" in out
    assert "SENT-MARKER [redacted] to http://[redacted]@127.0.0.1" in out
    assert "AssertionError: profile answered with token [redacted]" in out
    assert "flow raised RuntimeError" in out
    reports = sorted((pytester.path / "fpt-report").glob("*"))
    assert {p.suffix for p in reports} >= {".json", ".md", ".html"}
    outputs = {"stdout": out, "stderr": err, "junit": (pytester.path / "junit.xml").read_text(),
               "step summary": summary.read_text(),
               **{p.name: p.read_text() for p in reports}}
    for channel, text in outputs.items():
        for name, secret in planted.items():
            assert secret not in text, f"{name} appears raw in {channel}"
    assert redact.REDACTED in outputs["stdout"]
    assert redact.REDACTED in outputs["fpt-dod.json"]


def test_a_bad_base_url_with_a_password_is_refused_without_printing_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="async def flow(user):\n    pass\n\n"
                                "def test_x(fpt_load):\n    fpt_load(flow)\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml",
                                "--fpt-base-url", "http://ops:Hunter2Secret@10.9.8.7:8080/?api_key=K3yK3yK3y")
    result.assert_outcomes(failed=1)
    out = result.stdout.str() + result.stderr.str() + (pytester.path / "junit.xml").read_text()
    assert "fpt: base_url must point at an allowed live host" in out
    assert "Hunter2Secret" not in out
    assert "K3yK3yK3y" not in out


def test_the_registry_stays_bounded(clean_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "MAX_SECRETS", 3)
    redact.register(*(f"session-value-{i}" for i in range(5)))
    assert redact.known() == {"session-value-2", "session-value-3", "session-value-4"}
