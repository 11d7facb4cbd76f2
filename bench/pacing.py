"""Pacing: does fpt start iterations when they are due, and how does Locust compare?

For 50 and 500 TPS, 20 s each, uniform arrivals, against a local uvicorn server:
achieved rate, start lateness p50/p99/max, and the most requests in any 100 ms
window (at 50/s uniform the ideal is 5). Then Locust at 50 TPS the way Locust
holds a rate (50 ``FastHttpUser`` s with ``constant_throughput(1)``): its achieved
rate, lateness of each user's task against that user's own one-per-second grid,
and the same 100 ms window count. Run: ``python bench/pacing.py [--seconds 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import max_in_window, pin_to_core, run_locust, uvicorn_server
from fpt.config.settings import FptConfig
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User


def run_once(url: str, rate: float, seconds: float, loop_name: str) -> dict[str, float]:
    starts: list[float] = []

    async def flow(user: User) -> None:
        starts.append(asyncio.get_running_loop().time())
        async with user.step("get"):
            await user.http.get("/")

    # Uniform arrivals: this measures how precisely fpt keeps to a schedule (grouped arrivals,
    # the default, release several iterations at one instant on purpose).
    cfg = FptConfig(users=max(20, int(rate)), profile="live", allow_rate=True, grace=5, arrivals="uniform")
    run = Run(flow, cfg=cfg, shape=constant(rate), duration=seconds, target=url, thresholds=(), name="pacing")
    if loop_name == "uvloop":
        import uvloop

        result = uvloop.run(run.execute())
    else:
        result = asyncio.run(run.execute())
    lat = result.engine.lateness
    return {
        "achieved": result.achieved_rate,
        "error_pct": abs(result.achieved_rate - rate) / rate * 100,
        "late_p50_ms": lat.percentile(50) / 1000,
        "late_p99_ms": lat.percentile(99) / 1000,
        "late_max_ms": lat.max / 1000,
        "max_per_100ms": max_in_window(starts, 0.1),
        "dropped": result.engine.dropped,
    }


def locust_once(url: str, rate: int, seconds: float) -> dict[str, float] | None:
    """Locust ``constant_throughput(1)`` with ``rate`` users; None without Locust."""
    warmup = 2.0  # all users are spawned within the first second; skip it
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "starts"
        env = {**os.environ, "FPT_BENCH_STARTS": str(out)}
        if not run_locust(url, "Paced", rate, seconds + warmup, env=env):
            return None
        rows = [line.split() for line in out.read_text().splitlines()] if out.exists() else []
    if not rows:
        return None
    t0 = min(float(t) for _, t in rows)
    by_user: dict[str, list[float]] = defaultdict(list)
    for u, t in rows:
        by_user[u].append(float(t))
    late = []
    starts = []
    for ts in by_user.values():
        ts.sort()
        for k, t in enumerate(ts):
            if t - t0 >= warmup and t - t0 < warmup + seconds:
                late.append(t - (ts[0] + k))  # due once a second after the user's first task
                starts.append(t)
    late.sort()

    def pct(p: float) -> float:
        return late[min(len(late) - 1, int(p / 100 * len(late)))] * 1000 if late else 0.0

    return {"achieved": len(starts) / seconds, "late_p50_ms": pct(50), "late_p99_ms": pct(99),
            "late_max_ms": late[-1] * 1000 if late else 0.0, "max_per_100ms": max_in_window(starts, 0.1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rates", default="50,500")
    ap.add_argument("--loops", default="asyncio,uvloop")
    args = ap.parse_args()
    pin_to_core(0)
    print(f"command: python bench/pacing.py --seconds {args.seconds:g} --rates {args.rates} "
          f"--loops {args.loops}")
    with uvicorn_server() as url:
        print(f"{'loop':8} {'target':>7} {'achieved':>9} {'err%':>6} {'late p50':>9} {'p99':>7} {'max':>7} "
              f"{'max/100ms':>9} {'dropped':>7}")
        for loop_name in args.loops.split(","):
            for rate in (float(r) for r in args.rates.split(",")):
                r = run_once(url, rate, args.seconds, loop_name)
                print(f"{loop_name:8} {rate:7.0f} {r['achieved']:9.2f} {r['error_pct']:6.2f} "
                      f"{r['late_p50_ms']:8.2f}ms {r['late_p99_ms']:6.2f}ms {r['late_max_ms']:6.2f}ms "
                      f"{r['max_per_100ms']:9d} {r['dropped']:7d}")
        lr = locust_once(url, 50, args.seconds)
        if lr is None:
            print("Locust constant_throughput: not installed (pip install locust)")
            return
        print(f"{'locust':8} {50:7d} {lr['achieved']:9.2f} {abs(lr['achieved'] - 50) / 50 * 100:6.2f} "
              f"{lr['late_p50_ms']:8.2f}ms {lr['late_p99_ms']:6.2f}ms {lr['late_max_ms']:6.2f}ms "
              f"{lr['max_per_100ms']:9d} {'-':>7}   (constant_throughput(1) x 50 FastHttpUsers)")


if __name__ == "__main__":
    main()
