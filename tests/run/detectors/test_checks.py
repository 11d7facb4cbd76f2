"""Data-swap checks, each both ways: it fires on the bug and stays quiet without it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from fpt.run.context import RunContext
from fpt.run.detectors.canary import CanaryScanner, find_canaries
from fpt.run.detectors.ownership import MISSING, compare, lookup
from fpt.run.detectors.probes import CrossUserProbe
from fpt.run.identity import IdentityFactory
from fpt.run.user import User

Handler = Callable[[httpx.Request], httpx.Response]


def make_users(handler: Handler, n: int = 3) -> tuple[RunContext, list[User]]:
    ctx = RunContext(flow="f")
    factory = IdentityFactory(5)
    users = [User(factory.make(i), ctx, base_url="http://t", transport=httpx.MockTransport(handler))
             for i in range(n)]
    return ctx, users


def get(user: User, path: str) -> httpx.Response:
    async def main() -> httpx.Response:
        async with user.step("s"):
            return await user.http.get(path)

    return asyncio.run(main())


# --- canary scan -------------------------------------------------------------------------------


def test_scan_fires_on_foreign_canary_and_names_both_users() -> None:
    holder: dict[str, str] = {}
    ctx, users = make_users(lambda r: httpx.Response(200, text=f"<p>{holder['c']}</p>"))
    scanner = CanaryScanner(ctx.owners)
    ctx.observers.append(scanner)
    holder["c"] = users[1].identity.canary
    get(users[0], "/page")
    assert ctx.findings.counts["foreign_canary"] == 1
    f = ctx.findings.examples[0]
    assert (f.user, f.other_user, f.step, f.method, f.path) == ("user#0", "user#1", "s", "GET", "/page")
    assert f.request_id == "0-1"


def test_scan_is_quiet_on_own_canary_and_clean_bodies() -> None:
    holder: dict[str, str] = {}
    ctx, users = make_users(lambda r: httpx.Response(200, json={"note": holder["c"], "x": "fptc-not"}))
    scanner = CanaryScanner(ctx.owners)
    ctx.observers.append(scanner)
    holder["c"] = users[0].identity.canary
    get(users[0], "/mine")
    assert ctx.findings.total == 0
    assert scanner.bodies == 1


def test_scan_reads_set_cookie_and_location_headers() -> None:
    holder: dict[str, str] = {}
    ctx, users = make_users(lambda r: httpx.Response(
        302, headers={"location": f"/u/{holder['c']}", "set-cookie": "a=b"}))
    ctx.observers.append(CanaryScanner(ctx.owners))
    holder["c"] = users[2].identity.canary

    async def main() -> None:
        async with users[0].step("redirect", expect_status={302}):
            await users[0].http.get("/go")

    asyncio.run(main())
    assert ctx.findings.counts["foreign_canary"] == 1
    assert ctx.findings.examples[0].evidence["where"] == ["header"]


def test_scan_limit_counts_what_it_skipped() -> None:
    holder: dict[str, str] = {}
    ctx, users = make_users(lambda r: httpx.Response(200, content=b"x" * 5000 + holder["c"].encode()))
    scanner = CanaryScanner(ctx.owners, limit=1000)
    ctx.observers.append(scanner)
    holder["c"] = users[1].identity.canary
    get(users[0], "/big")
    assert ctx.findings.total == 0  # past the limit: not seen, but counted as skipped
    assert scanner.evidence().truncated == 1
    assert scanner.evidence().skipped_bytes == 4025


def test_unknown_canary_is_still_foreign() -> None:
    other = IdentityFactory(99).make(3).canary
    ctx, users = make_users(lambda r: httpx.Response(200, text=other))
    ctx.observers.append(CanaryScanner(ctx.owners))
    get(users[0], "/x")
    assert ctx.findings.counts["foreign_canary"] == 1
    assert ctx.findings.examples[0].other_user.startswith("unknown")


def test_find_canaries_needs_the_exact_shape() -> None:
    c = IdentityFactory(1).make(1).canary
    assert find_canaries(f"a{c}b{c}".encode()) == [c, c]
    assert find_canaries(b"fptc0000") == []
    assert find_canaries(b"nothing here") == []


# --- ownership ---------------------------------------------------------------------------------


def test_lookup_and_compare_nested_paths() -> None:
    doc = {"member": {"email": "a@x", "visits": [{"id": 3}]}}
    assert lookup(doc, "member.visits.0.id") == 3
    assert lookup(doc, "member.phone") is MISSING
    assert [m.path for m in compare(doc, {"member.email": "a@x", "member.visits.0.id": 4})] == [
        "member.visits.0.id"]


def _profile_handler(holder: dict[str, object]) -> Handler:
    return lambda r: httpx.Response(200, json={"member": holder["member"]})


def test_expect_owner_quiet_on_own_data() -> None:
    holder: dict[str, object] = {}
    ctx, users = make_users(_profile_handler(holder))
    u = users[0]
    holder["member"] = {"email": u.identity.email, "member_id": u.identity.member_id}
    r = get(u, "/me")
    assert u.expect_owner(r, "member.email", "member.member_id") is True
    assert ctx.findings.total == 0
    assert ctx.recorder.tally("s").owner_checked == 1


def test_expect_owner_fires_with_owner_and_redacted_evidence() -> None:
    holder: dict[str, object] = {}
    ctx, users = make_users(_profile_handler(holder))
    u, other = users[0], users[1]
    holder["member"] = {"email": other.identity.email, "member_id": other.identity.member_id}
    r = get(u, "/me")
    assert u.expect_owner(r, member__email=u.identity.email) is False
    f = ctx.findings.examples[0]
    assert f.kind == "data_swap"
    assert (f.user, f.other_user, f.method, f.path) == ("user#0", "user#1", "GET", "/me")
    assert f.evidence["found"] == [other.identity.email[0] + "***@example.test"]
    assert other.identity.email not in json.dumps(f.to_dict())
    assert u.identity.email not in json.dumps(f.to_dict())


def test_expect_owner_on_wrong_shapes_is_a_functional_failure() -> None:
    ctx, users = make_users(lambda r: httpx.Response(200, text="<html>oops</html>"))
    u = users[0]
    r = get(u, "/me")
    assert u.expect_owner(r, "email") is False
    assert u.expect_owner({"name": "x"}, "member.email") is False
    assert ctx.findings.counts == {"functional": 2}
    assert [f.message for f in ctx.findings.examples] == [
        "expect_owner: response is not JSON", "expect_owner: field 'member.email' missing from the response"]
    with pytest.raises(TypeError, match="identity has no field 'colour'"):
        u.expect_owner({}, "colour")


# --- cross-user probes -------------------------------------------------------------------------


def _probe(status: int, body: Callable[[User], str], *, control: int = 200, auth: str = "header",
           owner_reads: bool = True) -> tuple[RunContext, list[User], list[httpx.Request]]:
    """users[0] probes users[1]'s visit; its own page answers ``control``, the visit ``status`` (to its
    owner: the visit, unless ``owner_reads`` is false: then it is gone for everybody)."""
    holder: dict[str, User] = {}
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        if r.url.path == "/mine":
            return httpx.Response(control, text="mine")
        if r.headers.get("authorization") == "Bearer tok-1" and owner_reads:
            return httpx.Response(200, text=f"checkup {holder['owner'].identity.canary}")
        return httpx.Response(status, text=body(holder["owner"]))

    ctx, users = make_users(handler)
    holder["owner"] = users[1]
    users[1].ledger.add("visit", "/visits/7", note=f"checkup {users[1].identity.canary}")

    async def main() -> None:
        async with users[1].step("own"):  # the owner's last successful request: its credentials
            await users[1].http.get("/visits/7", headers={"authorization": "Bearer tok-1"})
        seen.clear()
        # The flow authenticates per request, not with client defaults: the probe must copy it.
        async with users[0].step("own"):
            await users[0].http.get("/mine", headers={"authorization": "Bearer tok-0"})
        users[0].ledger.add("note", "/mine")  # the prober's own write: its control read
        await CrossUserProbe(ctx, share=1.0, seed=1).maybe_probe(users[0])

    asyncio.run(main())
    return ctx, users, seen


def probes(ctx: RunContext) -> dict[str, int]:
    return ctx.recorder.probe_counts


@pytest.mark.parametrize("status", [401, 403, 404])
def test_probe_denied_with_a_working_control_is_a_refusal(status: int) -> None:
    ctx, _, seen = _probe(status, lambda owner: "{}")
    assert probes(ctx)["tried"] == 1
    assert probes(ctx)["denied"] == 1
    assert ctx.findings.total == 0
    # Control and probe both carried the credentials the flow sent per request; then the owner, with
    # its own, still read the visit (or the refusal would prove nothing).
    assert [(r.url.path, r.headers.get("authorization")) for r in seen] == [
        ("/mine", "Bearer tok-0"), ("/mine", "Bearer tok-0"), ("/visits/7", "Bearer tok-0"),
        ("/visits/7", "Bearer tok-1")]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_probe_denied_of_a_write_its_owner_no_longer_reads_proves_nothing(status: int) -> None:
    ctx, _, _ = _probe(status, lambda owner: "{}", owner_reads=False)
    assert probes(ctx)["denied"] == 0
    assert probes(ctx)["unproven"] == 1


def test_probe_denied_while_the_control_fails_proves_nothing() -> None:
    ctx, _, _ = _probe(401, lambda owner: "{}", control=401)
    assert probes(ctx)["denied"] == 0
    assert probes(ctx)["unproven"] == 1


def test_probe_answered_2xx_without_owner_data_is_allowed_not_denied() -> None:
    ctx, _, _ = _probe(200, lambda owner: '{"visit": "someone"}')
    assert probes(ctx)["allowed"] == 1
    assert probes(ctx)["denied"] == 0


def test_probe_leak_is_a_cross_user_finding() -> None:
    ctx, _, _ = _probe(200, lambda owner: json.dumps({"note": f"checkup {owner.identity.canary}"}))
    assert probes(ctx)["leaked"] == 1
    f = ctx.findings.examples[0]
    assert (f.kind, f.user, f.other_user, f.path) == ("cross_user", "user#0", "user#1", "/visits/7")
    assert f.evidence["owner_data"] == ["canary", "note"]
    assert f.verdict_kind == "authorization"


def test_probe_server_error_is_an_error_not_evidence() -> None:
    ctx, _, _ = _probe(500, lambda owner: "boom")
    assert probes(ctx)["errors"] == 1
    assert probes(ctx)["denied"] == 0
    assert ctx.findings.counts == {"functional": 1}


def test_probe_never_targets_own_writes() -> None:
    ctx, users = make_users(lambda r: httpx.Response(200, text=""))
    users[0].ledger.add("visit", "/visits/1")
    asyncio.run(CrossUserProbe(ctx, share=1.0, seed=1).maybe_probe(users[0]))
    assert probes(ctx)["tried"] == 0
    assert probes(ctx)["no_target"] == 1
