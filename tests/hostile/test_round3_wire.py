"""Round three, classes 9-11: the wire, the secrets, the perimeter.

9. **Never quieter than httpx.** A raw asyncio server on 127.0.0.1 that sends bytes after a
   complete answer (a second answer glued to the first, a Content-Length shorter than the body,
   a 204 or a HEAD answer with a body, an answer while the connection waits): every run used to
   pass, on fpt's transport (the bytes were dropped quietly) and on httpx's (a later request got
   the stray answer and called it a success). Now each is an error of the step, kind
   ``protocol``, on both. A flow that forgot an ``await`` passed with 0 requests: now a
   functional finding.
10. **Secrets learned, values scrubbed, text kept.** A token from a login answer in a URL path and
   in an ``fpt.check`` message, and a ``PRIVATE-TOKEN`` header, reached every output; the
   checklist's "(authorization: BOLA/IDOR)" lost its end and the HTML findings table broke after
   its first curl line. Now every value that is a credential is learned and scrubbed, and only
   the value.
11. **One perimeter for the whole process.** With live_hosts = 127.0.0.1, a flow's own second
   httpx client, the in-process app's own downstream call and ``fpt_virtual.patch()``'s
   pass-through each reached 127.0.0.2 and the run was clean. Now each connect is refused while
   the run lasts and is a ``perimeter`` finding naming the host.

Each attack has a control on a server that frames its answers right.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import fpt
from fpt.config.settings import FptConfig
from fpt.judge.dod.catalogue import FAILED, PASSED
from fpt.judge.dod.evaluate import item_judges
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User

ROOT = str(Path(__file__).resolve().parents[2])

# -- 9. the wire ---------------------------------------------------------------------------------------------

WIRE_MODES = {
    "correct": "every answer framed right",
    "glued": "a second, unasked 200 glued to every answer (a desync behind a proxy)",
    "short_length": "a Content-Length two bytes short of the body",
    "no_content_body": "DELETE answers 204 with a body",
    "head_body": "HEAD answers with a body",
    "unasked": "a while after each answer, an answer nobody asked for on the idle connection",
}


def _answer(body: bytes, status: bytes = b"200 OK", length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    head = b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (status, n)
    return head + body


async def _wire_server(mode: str) -> tuple[asyncio.Server, int]:
    """A raw HTTP/1.1 server answering GET/HEAD/DELETE on any path, breaking its framing as ``mode`` says."""
    assert mode in WIRE_MODES, mode
    ids = itertools.count(1)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method = head.split(b" ", 1)[0]
                body = b'{"ok": true, "n": %d}' % next(ids)
                if method == b"DELETE":
                    out = (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nstale"
                           if mode == "no_content_body" else b"HTTP/1.1 204 No Content\r\n\r\n")
                elif method == b"HEAD":
                    out = _answer(body) if mode == "head_body" else _answer(body)[: -len(body)]
                elif mode == "glued":
                    out = _answer(body) + _answer(b'{"ok": true, "n": 0}')
                elif mode == "short_length":
                    out = _answer(body, length=len(body) - 2)
                else:
                    out = _answer(body)
                writer.write(out)
                await writer.drain()
                if mode == "unasked":
                    await asyncio.sleep(0.01)
                    writer.write(_answer(b'{"ok": true, "n": 0}'))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def wire_run(mode: str, flow: Callable[[User], Awaitable[None]], transport: str = "fast",
             **cfg: Any) -> fpt.RunResult:
    """A short live run of ``flow`` against the raw server, over fpt's transport or httpx's."""

    async def main() -> fpt.RunResult:
        server, port = await _wire_server(mode)
        config = FptConfig(profile="live", seed=9).with_values(
            {"users": 2, "alone": 2, "http_transport": transport, "probe_share": 0, "replay_share": 0,
             "cache_probe_share": 0, "cancel_share": 0, **cfg}, "test")
        try:
            return await Run(flow, cfg=config, shape=constant(4), duration=1.0,
                             target=f"http://127.0.0.1:{port}", thresholds=(), name="wire").execute()
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


async def reads(user: User) -> None:
    """Three reads in a row, each one checked for a 200 (all a squad usually checks)."""
    for name in ("one", "two", "three"):
        async with user.step(name):
            r = await user.http.get(f"/{name}")
            fpt.check(r.status_code == 200, f"{name} refused")
        await asyncio.sleep(0.03)  # a think time: what the server sends meanwhile arrives first


async def head_then_read(user: User) -> None:
    async with user.step("head"):
        await user.http.head("/doc")
    async with user.step("read"):
        await user.http.get("/doc")


async def read_then_delete(user: User) -> None:
    async with user.step("read"):
        await user.http.get("/doc")
    async with user.step("delete", expect_status={204}):
        await user.http.delete("/doc")
    async with user.step("again"):
        await user.http.get("/doc")


def judge(name: str, r: fpt.RunResult) -> Any:
    return item_judges()[name]([r])


TRANSPORTS = ["fast", "httpx"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("mode", "flow"), [
    ("glued", reads), ("short_length", reads), ("unasked", reads), ("no_content_body", read_then_delete),
    ("head_body", head_then_read)], ids=["glued", "short_length", "unasked", "no_content_body", "head_body"])
def test_bytes_after_a_complete_answer_are_a_protocol_error_of_the_step(
        mode: str, flow: Callable[[User], Awaitable[None]], transport: str) -> None:
    r = wire_run(mode, flow, transport)
    errors = dict(r.metrics.requests.errors)
    assert errors.get("protocol", 0) > 0, (mode, transport, errors)
    failed_steps = {name for name, m in r.metrics.steps.items() if m.errors.get("protocol")}
    assert failed_steps, r.metrics.steps
    assert r.evidence.alone is not None
    assert not r.evidence.alone.passed
    assert judge("functional.single_user", r).status == FAILED
    assert any("ProtocolDesync" in status for (_step, status, _msg) in r.metrics.failures), r.metrics.failures


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("flow", [reads, head_then_read, read_then_delete], ids=["reads", "head", "delete"])
def test_a_server_that_frames_its_answers_right_has_no_protocol_error(
        flow: Callable[[User], Awaitable[None]], transport: str) -> None:
    r = wire_run("correct", flow, transport)
    assert r.metrics.requests.errors == {}, dict(r.metrics.requests.errors)
    assert r.findings.total == 0, r.findings.counts
    assert judge("functional.single_user", r).status == PASSED


async def forgets_await(user: User) -> None:
    async with user.step("read"):
        user.http.get("/doc")  # type: ignore[unused-coroutine]  # the bug: no await


async def forgets_one_await(user: User) -> None:
    async with user.step("read"):
        await user.http.get("/doc")
    async with user.step("delete", expect_status={204}):
        user.http.delete("/doc")  # type: ignore[unused-coroutine]  # the bug: no await


async def reads_nothing(user: User) -> None:
    async with user.step("read"):
        await asyncio.sleep(0)


@pytest.mark.parametrize("flow", [forgets_await, reads_nothing], ids=["forgot_await", "no_request"])
def test_an_iteration_that_sent_no_request_is_a_functional_finding(flow: Callable[[User], Awaitable[None]]
                                                                   ) -> None:
    r = wire_run("correct", flow)
    assert r.metrics.requests.count == 0
    assert r.findings.counts.get("functional", 0) >= r.engine.started > 0, r.findings.counts
    assert any("sent no request" in f.message for f in r.findings.of("functional"))
    assert judge("functional.single_user", r).status == FAILED


def test_a_coroutine_never_awaited_is_a_functional_finding_of_its_step() -> None:
    r = wire_run("correct", forgets_one_await)
    assert r.metrics.requests.count > 0
    never = [f for f in r.findings.of("functional") if "never awaited" in f.message]
    assert never, r.findings.counts
    assert {f.step for f in never} == {"delete"}
    assert judge("functional.single_user", r).status == FAILED


def test_a_flow_that_awaits_everything_has_no_finding() -> None:
    """Control of the two above: the same steps, every request awaited."""
    r = wire_run("correct", read_then_delete)
    assert r.findings.total == 0, r.findings.counts
    assert judge("functional.single_user", r).status == PASSED


# -- 10. secrets learned, values scrubbed, text kept ---------------------------------------------------------

LEAKY_SERVICE = '''
import itertools, os
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN, PRIV = os.environ["T_TOKEN"], os.environ["T_PRIV"]


def leaky_app():
    """Login answers a token the flow puts in URL paths; orders by PRIVATE-TOKEN, readable by anyone
    logged in (BOLA); every third profile read answers the previous caller's profile (a swap)."""
    users, tokens, privs, orders, last = {}, {}, {}, {}, {}
    ids, reads = itertools.count(1), itertools.count(1)

    async def signup(request: Request) -> Response:
        body = await request.json()
        users[body["email"]] = body
        privs[body["private"]] = body["email"]
        return JSONResponse({"ok": True}, status_code=201)

    async def login(request: Request) -> Response:
        body = await request.json()
        if users.get(body["email"], {}).get("password") != body["password"]:
            return JSONResponse({"error": "bad credentials"}, status_code=401)
        token = f"{TOKEN}-{len(tokens)}"
        tokens[token] = body["email"]
        return JSONResponse({"token": token, "user": {"email": body["email"]}})

    async def me(request: Request) -> Response:
        email = tokens.get(request.path_params["token"])
        if email is None:
            return JSONResponse({"error": "who are you"}, status_code=401)
        if next(reads) % 3 == 0:
            email, last["me"] = last.get("me", email), email
        else:
            last["me"] = email
        return JSONResponse({"email": email})

    async def broken(request: Request) -> Response:
        return JSONResponse({"error": "db down"}, status_code=500)

    async def create(request: Request) -> Response:
        owner = privs.get(request.headers.get("private-token", ""))
        if owner is None:
            return JSONResponse({"error": "who are you"}, status_code=401)
        oid = next(ids)
        orders[oid] = {"id": oid, "owner": owner, "note": (await request.json())["note"]}
        return JSONResponse(orders[oid], status_code=201)

    async def one(request: Request) -> Response:
        if privs.get(request.headers.get("private-token", "")) is None:
            return JSONResponse({"error": "who are you"}, status_code=401)
        order = orders.get(int(request.path_params["oid"]))  # no owner check: BOLA
        return JSONResponse(order) if order else JSONResponse({"error": "none"}, status_code=404)

    return Starlette(routes=[
        Route("/signup", signup, methods=["POST"]), Route("/login", login, methods=["POST"]),
        Route("/t/{token}/me", me), Route("/t/{token}/broken", broken),
        Route("/orders", create, methods=["POST"]), Route("/orders/{oid:int}", one)])
'''

LEAKY_TEST = '''
import os
import fpt
from leaky_service import leaky_app


async def flow(user: fpt.User) -> None:
    priv = f"{os.environ['T_PRIV']}-{user.index}"
    if "token" not in user.state:
        async with user.step("signup", expect_status={201}):
            await user.http.post("/signup", json={**user.identity.credentials, "private": priv})
        async with user.step("login"):
            r = await user.http.post("/login", json=user.identity.credentials)
        user.state["token"] = r.json()["token"]
        user.http.headers["PRIVATE-TOKEN"] = priv
    token = user.state["token"]
    async with user.step("me"):
        r = await user.http.get(f"/t/{token}/me")
        user.expect_owner(r, "email")
        fpt.check(r.json().get("email") == user.identity.email, f"profile of token {token} was another "
                  "member's; sent Cookie: theme=dark (not a credential)")
    async with user.step("broken", expect_status={200}):
        await user.http.get(f"/t/{token}/broken")
    async with user.step("order"):
        r = await user.http.post("/orders", json={"note": f"order {user.identity.canary}"})
        if r.status_code == 201:
            user.ledger.add("order", f"/orders/{r.json()['id']}", note=r.json()["note"])


def test_leaky(fpt_load):
    fpt_load(flow, profile="virtual", target=leaky_app(), users=4, rate=20, duration="2s", alone=1,
             probe_share=0.5, replay_share=0, cache_probe_share=0, cancel_share=0)
'''

#: sentences fpt itself writes that hold a header's name and must reach the reader as they are
KEPT_SENTENCES = (
    "(authorization: BOLA/IDOR)",
    "authorization (another user's resource answered with its data: BOLA/IDOR)",
    "cross-user attempts were answered 2xx, not refused (authorization: denied to nobody)",
    "curl -sS -X GET http://127.0.0.1:8000/me -H 'Cookie: [redacted] (user#1's session)'</pre></td></tr>"
    "<tr><td>user#2</td></tr>",
    "sent Cookie: theme=dark (not a credential)",
    "p90<800ms errors<1% returncode=1 design=2 Basic authentication user#3 /visits/12?page=2",
)


@pytest.mark.parametrize("sentence", KEPT_SENTENCES)
def test_a_sentence_that_is_no_secret_survives_redaction_unchanged(sentence: str) -> None:
    from fpt.config import redact

    assert redact.scrub(sentence) == sentence


@pytest.mark.parametrize(("text", "secret", "kept"), [
    ("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9 (the user's own)", "eyJhbGciOi", "(the user's own)"),
    ("<td>Cookie: sid=abc123def; theme=dark</td></tr><tr><td>next row</td>", "abc123def",
     "; theme=dark</td></tr><tr><td>next row</td>"),
    ("PRIVATE-TOKEN: pt-9f8e7d6c5b was sent, and more", "pt-9f8e7d6c5b", " was sent, and more"),
])
def test_a_secret_header_value_is_scrubbed_and_the_rest_of_the_line_kept(text: str, secret: str,
                                                                          kept: str) -> None:
    from fpt.config import redact

    clean = redact.scrub(text)
    assert secret not in clean
    assert clean.endswith(kept), clean


def test_a_value_that_tells_users_apart_is_a_credential_whatever_its_name() -> None:
    from fpt.config import redact

    redact.forget()
    try:
        same = [(b"x-tenant", b"acme-tenant-01"), (b"content-type", b"application/json")]
        redact.note_headers([*same, (b"x-member-key-id", b"mk-1111"), (b"x-who", b"alpha-user-0001")],
                            who=1)
        redact.note_headers([*same, (b"x-who", b"bravo-user-0002"),
                             (b"cookie", b"pref=wide-layout; u=uid-77777")], who=2)
        redact.note_headers([(b"cookie", b"pref=wide-layout; u=uid-88888")], who=3)
        known = redact.known()
        assert {"alpha-user-0001", "bravo-user-0002", "mk-1111", "uid-77777", "uid-88888"} <= known
        assert not {"acme-tenant-01", "application/json", "wide-layout"} & known
    finally:
        redact.forget()


def test_secrets_planted_in_every_channel_reach_no_output_and_sentences_survive(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token from a login answer in URL paths and in an ``fpt.check`` message, a ``PRIVATE-TOKEN``
    header: none reaches the terminal, JUnit, fpt-dod.json/.md/.html, the CSVs or the step summary;
    the checklist's own sentences and the HTML tables stay whole."""
    import secrets as _secrets

    planted = {"T_TOKEN": "tkn" + _secrets.token_urlsafe(16), "T_PRIV": "prv" + _secrets.token_urlsafe(16)}
    for k, v in planted.items():
        monkeypatch.setenv(k, v)
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path), ROOT]))
    pytester.makepyfile(leaky_service=LEAKY_SERVICE, test_leaky=LEAKY_TEST)
    pytester.makepyprojecttoml("[tool.fpt]\nseed = 5\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=junit.xml", "-rA",
                                           timeout=300)
    out, err = result.stdout.str(), result.stderr.str()
    assert "fpt summary" in out
    reports = {p.name: p.read_text() for p in sorted((pytester.path / "fpt-report").glob("*"))}
    assert {"fpt-dod.json", "fpt-dod.md", "fpt-report.html", "fpt-failures.csv"} <= set(reports)
    outputs = {"stdout": out, "stderr": err, "junit": (pytester.path / "junit.xml").read_text(),
               "step summary": summary.read_text(), **reports}
    # the channels were used: the token's path failed, the check quoted it, the probes leaked
    assert "/t/[redacted]/broken" in reports["fpt-failures.csv"]
    assert "profile of token [redacted] was another member's" in out + reports["fpt-dod.md"]
    for channel, text in outputs.items():
        for name, secret in planted.items():
            assert secret not in text, f"{name} appears raw in {channel}"
    md, html = reports["fpt-dod.md"], reports["fpt-report.html"]
    assert "(authorization: BOLA/IDOR)" in md
    assert "sent Cookie: theme=dark (not a credential)" in out + md
    assert html.count("<tr") == html.count("</tr>")
    curls = html.split('<pre class="curl">')[1:]
    assert len(curls) >= 2
    assert all("</pre></td></tr>" in c.split("<tr", 1)[0] for c in curls)


# -- 11. one perimeter for the whole process -----------------------------------------------------------------

ALLOWED = ("127.0.0.1",)
"""live_hosts of the perimeter attacks: 127.0.0.1 only, so 127.0.0.2 (loopback, still this machine)
stands for an address outside it."""


async def _outside_server() -> tuple[asyncio.Server, str]:
    """A server on 127.0.0.2, outside the perimeter; it answers 200 to anything (so a call that
    slips through succeeds)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_answer(b'{"ok": true}'))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.2", 0)
    return server, f"http://127.0.0.2:{server.sockets[0].getsockname()[1]}"


def _app(outside: dict[str, str], via: str) -> Any:
    """An in-process service whose ``GET /book`` calls a downstream host itself (``via``: its own
    httpx client, or one patched by ``fpt_virtual.patch()``)."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def book(request: Request) -> Response:
        if via != "none":
            try:
                async with httpx.AsyncClient(timeout=2.0) as client:
                    await client.get(outside["url"] + "/eligibility")
            except Exception:
                return JSONResponse({"error": "downstream failed"}, status_code=502)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/book", book)])


def perimeter_run(flow: Callable[[User], Awaitable[None]], via: str = "none") -> fpt.RunResult:
    """A short virtual run of ``flow`` against the in-process app, live_hosts = 127.0.0.1 only."""
    from fpt.virtual import VirtualServices

    async def main() -> fpt.RunResult:
        server, url = await _outside_server()
        outside = {"url": url}
        config = FptConfig(profile="virtual", seed=11).with_values(
            {"users": 2, "alone": 1, "live_hosts": list(ALLOWED), "probe_share": 0, "replay_share": 0,
             "cache_probe_share": 0, "cancel_share": 0}, "test")
        virtual = VirtualServices(seed=1)
        virtual.service("eligibility", "http://eligibility.test").route("GET", "/check", json={"ok": True})
        run = Run(lambda u: flow_with(u, outside), cfg=config, shape=constant(4), duration=1.0,
                  target=_app(outside, via), thresholds=(), name="perimeter")
        try:
            if via == "patch":
                with virtual.patch():
                    return await run.execute()
            return await run.execute()
        finally:
            server.close()
            await server.wait_closed()

    async def flow_with(user: User, outside: dict[str, str]) -> None:
        user.state["outside"] = outside["url"]
        await flow(user)

    return asyncio.run(main())


async def books(user: User) -> None:
    async with user.step("book"):
        r = await user.http.get("/book")
        fpt.check(r.status_code == 200, "booking refused")


async def books_and_calls_out_itself(user: User) -> None:
    """The flow's own second httpx client, to a host outside the perimeter (errors swallowed)."""
    import httpx

    await books(user)
    async with user.step("side"):
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                await client.get(user.state["outside"] + "/side")
        except Exception:
            pass


@pytest.mark.parametrize(("flow", "via"), [(books_and_calls_out_itself, "none"), (books, "client"),
                                           (books, "patch")],
                         ids=["flow_second_client", "app_downstream", "virtual_patch_pass_through"])
def test_a_connect_outside_the_perimeter_from_any_client_is_refused_and_a_finding(
        flow: Callable[[User], Awaitable[None]], via: str) -> None:
    r = perimeter_run(flow, via)
    refused = r.findings.of("perimeter")
    assert refused, r.findings.counts
    assert all(f.evidence.get("host") == "127.0.0.2" for f in refused)
    assert "127.0.0.2" in refused[0].message
    from fpt.report.problems import failures

    assert any("perimeter finding" in line for line in failures(r))  # the run fails its own checks


def test_connects_inside_the_perimeter_are_quiet_and_the_guard_ends_with_the_run() -> None:
    """Control: the same app without the outside call; after the run, 127.0.0.2 is reachable again."""
    r = perimeter_run(books, "none")
    assert r.findings.total == 0, r.findings.counts
    assert r.metrics.requests.count > 0

    async def after() -> int:
        server, url = await _outside_server()
        try:
            import httpx

            async with httpx.AsyncClient() as client:
                return (await client.get(url)).status_code
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(after()) == 200
