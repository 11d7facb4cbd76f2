"""Detection rate of the shipped suite's flows on each demo bug, and silence on the correct demo.

Each case runs ``--runs`` times with a different seed, with fpt's default settings and the
suite's own choices (``suites/test_data_swap.py``: per-user setup, and for the bearer-token
flow ``replay_writes`` and ``request_id_header``). One run of a case is both in-process
scenarios of the suite: ``book_visit`` and ``book_visit_token``. A bug counts as caught when
either holds a data-swap or cross-user finding naming two different users; the correct
demo counts as quiet when neither has any finding at all. Prints per case: caught (or quiet)
n/N, iterations and overlapping pairs of different users per checked step (medians).

In-process (~2 s per scenario):   ``python bench/swap_detection.py --runs 10``
One case:                          ``python bench/swap_detection.py --runs 3 --case stale_connection``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.demo.app import BUGS
from fpt.demo.strain import STRAIN_BUGS
from fpt.evidence.findings import SWAP_KINDS
from fpt.evidence.result import RunResult
from fpt.judge.verdict import swap_verdict
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User
from suites.flows import book_visit, book_visit_token, sign_in, sign_in_token

Flow = Callable[[User], Awaitable[None]]
Setup = Callable[[User], Awaitable[object]]
#: the suite's in-process scenarios: flow, setup, users, rate, and the suite's own settings
SCENARIOS: tuple[tuple[Flow, Setup, int, float, dict[str, object]], ...] = (
    (book_visit, sign_in, 50, 50.0, {"probe_share": 0.3}),
    (book_visit_token, sign_in_token, 30, 40.0, {"replay_writes": True, "request_id_header": "X-Request-ID"}),
)


def one_run(bug: str | None, seed: int, seconds: float) -> list[RunResult]:
    """Both in-process scenarios of the suite against the demo with ``bug`` switched on."""
    out = []
    for flow, setup, users, rate, extra in SCENARIOS:
        cfg = FptConfig(profile="virtual", seed=seed).with_values({"users": users, **extra}, "bench")
        run = Run(flow, cfg=cfg, shape=constant(rate), duration=seconds,
                  target=create_app(bugs=(bug,) if bug else ()), thresholds=(), name=f"bench-{bug}",
                  setup=setup)
        out.append(asyncio.run(run.execute()))
    return out


def caught(results: list[RunResult]) -> bool:
    """A swap or cross-user finding naming two different users, in any scenario."""
    return any(f.user and f.other_user and f.user != f.other_user
               for r in results for f in r.findings.examples if f.kind in (*SWAP_KINDS, "cross_user"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=2.0, help="per scenario")
    ap.add_argument("--case", action="append", help="only these cases (clean or a bug name)")
    args = ap.parse_args()
    # The data-swap bugs: the strain bugs (degrade_over_rate, leak, ...) are the load types' own,
    # judged by their checklist items (tests/test_loadtypes.py), not by a swap finding.
    cases: list[str | None] = [None, *(b for b in BUGS if b not in STRAIN_BUGS)]
    if args.case:
        cases = [None if c == "clean" else c for c in args.case]
    print(f"{'case':<22} {'result':>8} {'iterations':>10}  overlap pairs per checked step (median)  kinds")
    for case in cases:
        ok = 0
        iters: list[int] = []
        pairs: dict[str, list[int]] = {}
        kinds: set[str] = set()
        for i in range(args.runs):
            results = one_run(case, seed=1000 + i, seconds=args.seconds)
            iters.append(sum(r.engine.started for r in results))
            for r in results:
                for s in r.evidence.steps:
                    if s.inspected and s.load_ok:
                        pairs.setdefault(s.step, []).append(s.overlap_pairs)
                kinds.update(k for k, n in r.findings.counts.items() if n)
            if case is None:
                ok += int(all(not r.findings.counts for r in results)
                          and all(swap_verdict(r) == "passes" for r in results))
            else:
                ok += int(caught(results))
        per_step = " ".join(f"{k}:{statistics.median(v):.0f}" for k, v in pairs.items())
        label = case or "clean"
        what = "quiet" if case is None else "caught"
        print(f"{label:<22} {f'{ok}/{args.runs}':>8} {statistics.median(iters):>10.0f}  {per_step}  "
              f"{what}; {', '.join(sorted(kinds)) or 'no findings'}")
    print(f"command: python bench/swap_detection.py --runs {args.runs}")


if __name__ == "__main__":
    main()
