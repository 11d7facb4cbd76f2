"""The shipped booking flow catches each demo bug, names who saw whose data and where,
and stays quiet on the correct service.

Runs in-process (the demo as an ASGI app) so each run takes about two seconds; the
same flow against the real uvicorn server is the suite in suites/test_data_swap.py,
and bench/swap_detection.py repeats every case 10 times.
"""

from __future__ import annotations

import asyncio
import json

import pytest

import fpt
from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.judge.verdict import swap_kinds, swap_verdict
from fpt.report.problems import failures
from fpt.run.runner import Run
from fpt.run.shapes import constant
from suites.flows import book_visit

# Which finding each bug must produce, in which step of book_visit, and the verdict words it may get.
EXPECTED = {
    "shared_cache": ("data_swap", {"profile"}, {"cache_shared_state", "concurrency"}),
    "request_global": ("data_swap", {"profile"}, {"concurrency"}),
    "no_owner_check": ("cross_user", {"fpt.probe"}, {"authorization"}),
    "leaky_listing": ("data_swap", {"list"}, {"cache_shared_state", "concurrency"}),
}


def swap_run(bugs: tuple[str, ...], *, seed: int = 7) -> fpt.RunResult:
    """book_visit for 20 members, bursts of 10 at 40/s for 2 s, 30% of iterations probing."""
    cfg = FptConfig(users=20, profile="virtual", arrivals="rendezvous", burst=10, probe_share=0.3,
                    alone=2, seed=seed)
    run = Run(book_visit, cfg=cfg, shape=constant(40), duration=2.0, target=create_app(bugs=bugs),
              thresholds=(), name=f"swap-{'-'.join(bugs) or 'clean'}")
    return asyncio.run(run.execute())


@pytest.mark.parametrize("bug", sorted(EXPECTED))
def test_each_demo_bug_is_caught_with_both_users_and_the_step(bug: str) -> None:
    kind, steps, verdicts = EXPECTED[bug]
    r = swap_run((bug,))
    found = r.findings.of(kind)
    assert r.findings.counts.get(kind, 0) > 0, f"{bug}: no {kind} finding; saw {dict(r.findings.counts)}"
    assert {f.step for f in found} & steps, f"{bug}: steps {sorted({f.step for f in found})}"
    example = next(f for f in found if f.step in steps)
    assert example.user.startswith(("user#", "solo#"))
    assert example.other_user.startswith(("user#", "solo#"))
    assert example.other_user != example.user
    assert example.path.startswith(("/me", "/visits"))
    # Passes alone (each bug needs a second member); the verdict names the kind of bug.
    assert set(swap_kinds(r)) & verdicts, swap_kinds(r)
    assert failures(r), "a run with swaps must fail its checks"
    # The findings survive serialisation, and the failure message shows one with both users.
    again = fpt.RunResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again.findings.counts == r.findings.counts
    message = "\n".join(failures(r))
    assert f"{kind} finding" in message
    assert " saw " in message


def test_the_correct_service_has_no_findings_and_real_overlap() -> None:
    r = swap_run(())
    assert dict(r.findings.counts) == {}
    assert failures(r) == []
    assert swap_verdict(r) == "passes"
    # Evidence that the checks ran: overlap, ownership checks, probes denied.
    assert r.engine.peak_inflight > 1
    ev = r.evidence
    assert ev.overlap_pairs > 0
    assert ev.step("profile").owner_checked > 0
    assert ev.step("profile").overlap_pairs > 0
    assert ev.probes.tried > 0
    assert ev.probes.denied > 0
    assert ev.probes.leaked == ev.probes.allowed == 0
    assert ev.scan.bodies > 0


def test_a_clean_run_without_overlap_is_weak_evidence_not_a_pass() -> None:
    cfg = FptConfig(users=1, profile="virtual", alone=0, seed=7)
    run = Run(book_visit, cfg=cfg, shape=constant(5), duration=1.0, target=create_app(), thresholds=(),
              name="lonely")
    r = asyncio.run(run.execute())
    assert r.engine.started > 0
    assert not r.swaps
    assert r.evidence.overlap_pairs == 0
    assert swap_verdict(r) == "no_overlap"


@pytest.mark.parametrize("fixed", [True, False])
def test_the_correct_backend_connection_drops_exactly_the_cancelled_reply(fixed: bool) -> None:
    """Member 10 has two lookups in flight around member 19's; the second one is cancelled.

    Found by CI: the correct connection removed the first *equal* reply (member 10's other one),
    so member 10 read member 19's reply and member 19 read member 10's. It must remove its own.
    """
    from fpt.demo.store import Pipe

    async def main() -> tuple[object, object, object]:
        pipe = Pipe(reset_on_cancel=fixed, latency=0.01)

        async def ten() -> str:
            return "member10"

        async def nineteen() -> str:
            return "member19"

        a = asyncio.create_task(pipe.call(None, ten))
        await asyncio.sleep(0.001)
        b = asyncio.create_task(pipe.call(None, nineteen))
        await asyncio.sleep(0.001)
        c = asyncio.create_task(pipe.call(None, ten))
        await asyncio.sleep(0.001)
        c.cancel()
        first, second = (await a)[1], (await b)[1]
        later = (await pipe.call(None, nineteen))[1]  # member 19 again, after the cancel
        return first, second, later

    got = asyncio.run(main())
    # Fixed: everyone reads their own reply. The bug (no reset): the cancelled reply stays on the
    # wire and member 19's later lookup reads member 10's.
    assert got == (("member10", "member19", "member19") if fixed else ("member10", "member19", "member10"))
