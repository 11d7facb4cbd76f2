"""Max virtual transactions/s of one process: the demo in-process, eligibility virtualized.

Runs the eligibility booking flow against the demo as an ASGI app with its
downstream answered by fpt_virtual (no added latency: this measures fpt and the
app, not a sleep), at increasing rates for ``--seconds`` each, on one core. A
rate is held when at least 99% of due iterations started and none was dropped.
Prints the highest held rate, its ratio to the 50/s virtual level (goal >= 20x),
and CPU microseconds per transaction.

``python bench/virtual.py --seconds 5``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.demo.eligibility import eligibility_of
from fpt.load import loop_factory
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.virtual import VirtualServices
from suites.flows import book_with_eligibility

URL = "http://eligibility.virtual"


def one(rate: float, seconds: float) -> tuple[float, float, int, int]:
    """(achieved rate, CPU µs per transaction, started, dropped) at ``rate``."""
    virtual = VirtualServices(seed=1)
    elig = virtual.service("eligibility", URL)
    elig.route("GET", r"/eligibility/(?P<id>[^/]+)",
               handler=lambda request, state: eligibility_of(request.url.path.rsplit("/", 1)[1]))
    app = create_app(eligibility_url=URL, eligibility_transport=virtual.transport)
    cfg = FptConfig(users=200, profile="virtual", alone=0, seed=1)
    run = Run(book_with_eligibility, cfg=cfg, shape=constant(rate), duration=seconds, target=app,
              thresholds=(), name="bench-virtual")
    cpu0 = time.process_time()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        r = runner.run(run.execute())
    cpu = time.process_time() - cpu0
    done = max(r.metrics.flow.count, 1)
    return r.achieved_rate, cpu / done * 1e6, r.engine.started, r.engine.dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rates", default="250,500,750,1000,1250,1500,2000")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # one core
    best = 0.0
    print(f"{'target/s':>9} {'achieved/s':>11} {'CPU us/txn':>11} {'started':>8} {'dropped':>8}")
    for rate in (float(x) for x in args.rates.split(",")):
        achieved, us, started, dropped = one(rate, args.seconds)
        held = dropped == 0 and achieved >= 0.99 * rate
        verdict = "held" if held else "NOT held"
        print(f"{rate:>9.0f} {achieved:>11.1f} {us:>11.0f} {started:>8} {dropped:>8}  {verdict}", flush=True)
        if held:
            best = rate
        else:
            break
    print(f"max held: {best:.0f} virtual transactions/s on one core = {best / 50:.1f}x the 50/s level "
          f"(goal >= 20x)")
    print(f"command: python bench/virtual.py --seconds {args.seconds:g}")


if __name__ == "__main__":
    main()
