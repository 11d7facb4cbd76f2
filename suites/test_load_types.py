"""FPT suite: the load types beyond plain load, as a squad writes them (see docs/load-types.md)."""

from __future__ import annotations

import fpt
from fpt.demo import create_app
from suites.flows import sign_in


async def seed_records(user: fpt.User, n: int) -> None:
    """Seeding: the member imports ``n`` activity records in one bulk request."""
    if not await sign_in(user):
        raise RuntimeError("seeding: login refused")
    r = await user.http.post("/records", json={"count": n})
    if r.status_code != 201:
        raise RuntimeError(f"seeding: import refused ({r.status_code})")


async def latest_records(user: fpt.User) -> None:
    """Log in, list the member's latest records."""
    if not await sign_in(user):
        return
    async with user.step("latest"):
        r = await user.http.get("/records/latest")
        fpt.check(r.status_code == 200, f"latest records refused ({r.status_code})")
        for record in r.json().get("records", []):
            user.expect_owner(record, member_id=user.identity.member_id)


def test_volume_latest_records(fpt_load):
    """The latest-records query must not slow down as members' histories grow."""
    fpt_load(latest_records, profile="virtual", target=create_app(), users=10, rate=20, duration="2s",
             seed_volume=(seed_records, [0, 500]),
             thresholds=["errors<1%", "latest:volume_p90_growth<100%"])


def test_spike_profile_reads(fpt_load, demo_server):
    """A burst of four times the base rate: no errors during it, back to baseline within 3 s."""
    async def profile(user: fpt.User) -> None:
        if not await sign_in(user):
            return
        async with user.step("profile"):
            r = await user.http.get("/me")
            user.expect_owner(r, "member.email", "member.member_id", "member.canary")

    fpt_load(profile, profile="live", target=demo_server.base_url, users=20, allow_rate=True,
             rate=fpt.spike(5, 20, at="1s", hold="1s", after="3s"), recovery_within="3s",
             service_pid=demo_server.pid, thresholds=["p90<500ms", "errors<1%"])
