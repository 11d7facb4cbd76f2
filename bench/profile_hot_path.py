"""Where one request's CPU goes: the throughput flow under cProfile, grouped by package.

Runs the same flow as ``throughput.py`` (one checked GET per iteration, every
check on) against nginx for a few seconds under ``cProfile`` and prints the share
of CPU spent in fpt, httpx, the transport, asyncio and the rest, then the top
functions by own time. cProfile slows everything down ~2x, so read shares, not
rates. For a sampling view without that overhead: ``py-spy record -f raw``.
Run: ``python bench/profile_hot_path.py [--seconds 4] [--rate 3000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import nginx_server, pin_to_core
from fpt.config.settings import FptConfig
from fpt.load import loop_factory
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User

GROUPS = (("fpt/transport", "fpt transport"), ("/fpt/", "fpt"), ("/httpx/", "httpx client"),
          ("/hdrh/", "hdrh"), ("asyncio", "asyncio"), ("httptools", "httptools"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rate", type=float, default=3000.0)
    args = ap.parse_args()
    print(f"command: python bench/profile_hot_path.py --seconds {args.seconds:g} --rate {args.rate:g}")

    async def flow(user: User) -> None:
        async with user.step("get"):
            r = await user.http.get("/")
            user.check(r.status_code == 200, "refused")

    with nginx_server() as url:
        pin_to_core(0)
        cfg = FptConfig(users=64, profile="live", allow_rate=True, grace=2, alone=0)
        run = Run(flow, cfg=cfg, shape=constant(args.rate), duration=args.seconds, target=url,
                  thresholds=(), name="profile")
        prof = cProfile.Profile()
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            prof.enable()
            result = runner.run(run.execute())
            prof.disable()
    requests = result.metrics.requests.count
    stats = pstats.Stats(prof)
    own: Counter[str] = Counter()
    total = 0.0
    for (path, _line, _name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        group = next((g for key, g in GROUPS if key in path), "other (loop, stdlib)")
        own[group] += tt
        total += tt
    print(f"{requests} requests, {total / max(requests, 1) * 1e6:.0f} us of profiled CPU per request")
    for group, t in own.most_common():
        print(f"  {group:22} {t / total * 100:5.1f}%  {t / max(requests, 1) * 1e6:6.1f} us/request")
    print("top functions by own time:")
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
