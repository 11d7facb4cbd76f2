"""Soak: a long run at a steady rate; memory must stay flat (histograms, not lists).

Prints RSS every minute and the growth from minute 1 to the end (goal: <= 10%).
Run: ``python bench/soak.py --minutes 10 --rate 500``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pin_to_core, uvicorn_server
from fpt.config import FptConfig
from fpt.load import loop_factory
from fpt.runner import Progress, Run
from fpt.shapes import constant
from fpt.user import User


def rss_mb() -> float:
    """Resident set size of this process now, MiB (from /proc; ru_maxrss is the peak)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=500)
    args = ap.parse_args()
    print(f"command: python bench/soak.py --minutes {args.minutes:g} --rate {args.rate:g}", flush=True)
    samples: dict[int, float] = {}

    def progress(p: Progress) -> None:
        minute = int(p.elapsed // 60)
        if int(p.elapsed) % 60 == 0 and minute not in samples:
            samples[minute] = rss_mb()
            print(f"  minute {minute:3d}: RSS {samples[minute]:7.1f} MiB, {p.started} iterations, "
                  f"{p.rate:.1f}/s, p90 {p.p90_ms:.2f} ms", flush=True)

    async def flow(user: User) -> None:
        async with user.step("get"):
            await user.http.get("/")

    with uvicorn_server() as url:
        pin_to_core(0)
        cfg = FptConfig(users=200, profile="live", allow_rate=True, alone=0)
        run = Run(flow, cfg=cfg, shape=constant(args.rate), duration=args.minutes * 60, target=url,
                  thresholds=(), name="soak", progress=progress)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(run.execute())
    end = rss_mb()
    first = samples.get(1, end)
    print(f"achieved {result.achieved_rate:.1f}/s of {args.rate:g}/s, {result.engine.dropped} dropped")
    print(f"RSS minute 1: {first:.1f} MiB, end: {end:.1f} MiB, growth {((end / first) - 1) * 100:+.1f}%")


if __name__ == "__main__":
    main()
