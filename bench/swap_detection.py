"""Detection rate of the shipped booking flow on each demo bug, and silence on the correct demo.

Each case runs ``--runs`` times with a different seed; a bug counts as detected when the
run holds a finding of the expected kind in the expected step naming two different
users. Prints per case: detected/runs, iterations and overlapping request pairs.

In-process (default, ~2 s per run):  ``python bench/swap_detection.py --runs 10``
Real uvicorn server, live level:      ``python bench/swap_detection.py --runs 10 --live``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.config import FptConfig
from fpt.result import RunResult
from fpt.runner import Run
from fpt.shapes import constant
from suites.demo import create_app
from suites.demo.server import serve
from suites.flows import book_visit

EXPECTED = {
    "shared_cache": ("data_swap", "profile"),
    "request_global": ("data_swap", "profile"),
    "no_owner_check": ("cross_user", "fpt.probe"),
    "leaky_listing": ("data_swap", "list"),
}


def one_run(bug: str | None, seed: int, *, live: bool, seconds: float) -> RunResult:
    """The suite's data-swap scenario: 20 members, rendezvous bursts, 30% probes."""
    bugs = (bug,) if bug else ()
    if live:
        with serve(bugs=bugs) as server:
            cfg = FptConfig(users=20, profile="live", arrivals="rendezvous", burst=5, probe_share=0.3,
                            alone=2, seed=seed)
            run = Run(book_visit, cfg=cfg, shape=constant(5), duration=seconds, target=server.base_url,
                      thresholds=(), name=f"bench-{bug}")
            return asyncio.run(run.execute())
    cfg = FptConfig(users=20, profile="virtual", arrivals="rendezvous", burst=10, probe_share=0.3,
                    alone=2, seed=seed)
    run = Run(book_visit, cfg=cfg, shape=constant(40), duration=seconds, target=create_app(bugs=bugs),
              thresholds=(), name=f"bench-{bug}")
    return asyncio.run(run.execute())


def detected(r: RunResult, bug: str) -> bool:
    """A finding of the expected kind, in the expected step, naming two different users."""
    kind, step = EXPECTED[bug]
    return any(f.step == step and f.user and f.other_user and f.user != f.other_user
               for f in r.findings.of(kind))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--live", action="store_true", help="real uvicorn server at 5/s instead of in-process")
    ap.add_argument("--seconds", type=float, default=None, help="per run (default 2 in-process, 8 live)")
    args = ap.parse_args()
    seconds = args.seconds or (8.0 if args.live else 2.0)
    print(f"{'case':<16} {'result':>8} {'iterations':>12} {'overlap pairs (median)':>24}  verdicts")
    for case in [None, *EXPECTED]:
        ok = 0
        iters: list[int] = []
        pairs: list[int] = []
        verdicts: set[str] = set()
        for i in range(args.runs):
            r = one_run(case, seed=1000 + i, live=args.live, seconds=seconds)
            iters.append(r.engine.started)
            pairs.append(r.counters.get("overlap.request_pairs", 0))
            verdicts.add(r.swap_verdict)
            if case is None:
                ok += int(not r.findings.counts and r.swap_verdict == "passes")
            else:
                ok += int(detected(r, case))
        label = case or "clean"
        what = "passed" if case is None else "caught"
        print(f"{label:<16} {f'{ok}/{args.runs}':>8} {statistics.median(iters):>12.0f} "
              f"{statistics.median(pairs):>24.0f}  {what}; {', '.join(sorted(verdicts))}")
    mode = "--live" if args.live else ""
    print(f"command: python bench/swap_detection.py --runs {args.runs} {mode}".rstrip())


if __name__ == "__main__":
    main()
