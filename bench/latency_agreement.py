"""Latency agreement: fpt's p50/p90 next to wrk's against the same server.

The server answers after a fixed 20 ms (``?delay=20``), so latency is set by the
server, not by load; both tools run at a low, steady pace (fpt open model at 20/s,
wrk with one connection). Debian's wrk has no fixed-rate mode (that is wrk2), so a
single connection is the closest like-for-like. Run: ``python bench/latency_agreement.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pin_to_core, uvicorn_server
from fpt.config.settings import FptConfig
from fpt.load import loop_factory
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.run.user import User

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def fpt_latency(url: str, seconds: float, rate: float, delay_ms: int) -> dict[str, float]:
    """p50/p90/p99 (ms) of fpt's request latency at ``rate``/s."""

    async def flow(user: User) -> None:
        async with user.step("get"):
            await user.http.get(f"/?delay={delay_ms}")

    cfg = FptConfig(users=20, profile="live", allow_rate=True, alone=0, probe_share=0)
    run = Run(flow, cfg=cfg, shape=constant(rate), duration=seconds, target=url, thresholds=(), name="agree")
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        r = runner.run(run.execute())
    h = r.metrics.requests.hist
    return {f"p{p}": h.percentile(p) / 1000 for p in (50, 90, 99)}


def wrk_latency(url: str, seconds: float, delay_ms: int) -> dict[str, float] | None:
    """p50/p90/p99 (ms) from ``wrk --latency`` with one connection."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    out = subprocess.run([wrk, "-t1", "-c1", f"-d{int(seconds)}s", "--latency", f"{url}/?delay={delay_ms}"],
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for p in (50, 90, 99):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            found[f"p{p}"] = float(m.group(1)) * _UNITS[m.group(2)]
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--delay-ms", type=int, default=20)
    args = ap.parse_args()
    print(f"command: python bench/latency_agreement.py --seconds {args.seconds:g} --rate {args.rate:g} "
          f"--delay-ms {args.delay_ms}")
    with uvicorn_server() as url:
        pin_to_core(0)
        f = fpt_latency(url, args.seconds, args.rate, args.delay_ms)
        w = wrk_latency(url, args.seconds, args.delay_ms)
    print(f"{'':6} {'fpt':>9} {'wrk':>9} {'fpt/wrk':>8}")
    for k in ("p50", "p90", "p99"):
        if w and k in w:
            print(f"{k:6} {f[k]:7.2f}ms {w[k]:7.2f}ms {f[k] / w[k]:8.3f}")
        else:
            print(f"{k:6} {f[k]:7.2f}ms {'n/a':>9}")


if __name__ == "__main__":
    main()
