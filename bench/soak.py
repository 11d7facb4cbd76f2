"""Soak: the demo service under a steady rate for minutes; its own memory and fpt's, per minute.

Starts the demo booking service under uvicorn (``--bugs leak`` to watch the verdict
fire), runs a one-request flow at ``--rate`` for ``--minutes``, samples the service
by PID and fpt's own process once a second (``fpt.run.resources``), and prints both RSS
every ``--every`` seconds (default: a minute), then the soak verdict
``service_rss_growth<10%`` (first minute to end) and fpt's own growth beside it, so
a leak in the harness is never blamed on the service.

Run: ``python bench/soak.py --minutes 10`` (short check: ``--minutes 1 --every 10``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.config.settings import FptConfig
from fpt.config.thresholds import parse_threshold
from fpt.demo.server import serve
from fpt.evidence.resources import ResourceSeries
from fpt.judge.loadtypes import harness_series, service_series
from fpt.load import loop_factory
from fpt.run.runner import Progress, Run
from fpt.run.shapes import constant
from fpt.run.user import User


def rss_at(series: ResourceSeries | None, t: float) -> str:
    """The last RSS read at or before ``t``, MiB."""
    if series is None:
        return "      ?"
    known = [s.rss_bytes for s in series.samples if s.rss_bytes is not None and s.t <= t + 0.5]
    return f"{known[-1] / 2**20:7.1f}" if known else "      ?"


def main() -> None:
    """Parse the arguments, run the soak, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--every", type=float, default=60, help="seconds between printed rows")
    ap.add_argument("--bugs", default="", help="demo bugs to switch on, e.g. leak")
    args = ap.parse_args()
    print(f"command: python bench/soak.py --minutes {args.minutes:g} --rate {args.rate:g} "
          f"--every {args.every:g}" + (f" --bugs {args.bugs}" if args.bugs else ""), flush=True)
    duration = args.minutes * 60
    limit = parse_threshold("service_rss_growth<10%")

    async def flow(user: User) -> None:
        async with user.step("health"):
            await user.http.get("/health")

    bugs = [b for b in args.bugs.split(",") if b]
    with serve(bugs=bugs) as server:
        # A short run is judged on what it has: the baseline is its first half, not a minute.
        cfg = FptConfig(users=100, profile="live", allow_rate=True, alone=0, probe_share=0,
                        service_pids=(server.pid,), soak_min_span=min(60.0, duration / 2))
        run = Run(flow, cfg=cfg, shape=constant(args.rate), duration=duration, target=server.base_url,
                  thresholds=(limit,), name="soak")
        printed: set[int] = set()
        print(f"{'time':>6}  {'service RSS MiB':>15}  {'fpt RSS MiB':>11}  {'iterations':>10}  "
              f"{'rate/s':>7}  {'p90 ms':>7}", flush=True)

        def progress(p: Progress) -> None:
            row = int(p.elapsed // args.every)
            if row in printed or run.sampler is None:
                return
            printed.add(row)
            series = run.sampler.series()
            svc, own = service_series(series), harness_series(series)
            print(f"{row * args.every:5.0f}s  {rss_at(svc[0] if svc else None, p.elapsed):>15}  "
                  f"{rss_at(own[0] if own else None, p.elapsed):>11}  {p.started:10d}  {p.rate:7.1f}  "
                  f"{p.p90_ms:7.2f}", flush=True)

        run.progress = progress
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(run.execute())
    print(f"achieved {result.achieved_rate:.1f}/s of {args.rate:g}/s, {result.engine.dropped} dropped, "
          f"{result.metrics.flow.error_rate * 100:.2f}% errors")
    for s in result.resources:
        who = "fpt (harness)" if s in harness_series(result.resources) else f"service {s.source}"
        base, end, growth, slope = s.rss_first_minute, s.rss_end, s.rss_growth, s.rss_slope_bytes_per_min
        print(f"{who}: RSS first minute {(base or 0) / 2**20:.1f} MiB -> end {(end or 0) / 2**20:.1f} MiB "
              f"({((growth or 1) - 1) * 100:+.1f}%), slope {(slope or 0) / 2**20:+.2f} MiB/min, "
              f"CPU mean {s.cpu_mean or 0:.0f}% max {s.cpu_max or 0:.0f}%, fds max {s.fds_max}")
    (verdict,) = result.thresholds
    print(f"soak verdict: {verdict.detail}")


if __name__ == "__main__":
    main()
