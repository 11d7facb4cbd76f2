"""Memory: does fpt's own process grow during a run, and where?

Starts the demo booking service under uvicorn (its own process: its memory is not
fpt's), runs a flow from ``suites/flows.py`` through ``fpt.run.runner.Run`` at ``--rate``
for ``--seconds``, and prints what the run kept (series buckets, failure keys,
writes, ledger entries, resource samples, and what each cap left out), fpt's own RSS
slope (MiB/min, from the run's own resource sampler, over the whole run and over its
last two thirds, after warm-up), the interpreter's live allocated blocks over the
same span, and the ``tracemalloc`` sites that grew most between a snapshot at one
third of the run and one at its end. A bounded harness shows a slope near zero and
no site that grows with the run's length.

Run: ``python bench/memory.py --seconds 60`` (``--flow health`` is bench/soak.py's
one-request flow; ``--no-trace`` measures RSS without tracemalloc's own overhead).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.config.settings import FptConfig
from fpt.demo.server import serve
from fpt.evidence.resources import ResourceSeries
from fpt.judge.loadtypes import harness_series
from fpt.load import loop_factory
from fpt.run.runner import Progress, Run
from fpt.run.shapes import constant
from fpt.run.user import User
from suites.flows import book_visit

MIB = 2**20


async def health(user: User) -> None:
    """bench/soak.py's flow: one GET a iteration."""
    async with user.step("health"):
        await user.http.get("/health")


FLOWS = {"book": book_visit, "health": health}


def slope(series: ResourceSeries, since: float) -> float | None:
    """Least-squares RSS slope (MiB/min) of the readings at or after ``since`` seconds."""
    rss = [(s.t, s.rss_bytes) for s in series.samples if s.rss_bytes is not None and s.t >= since]
    if len(rss) < 3:
        return None
    n = len(rss)
    mt, mr = sum(t for t, _ in rss) / n, sum(r for _, r in rss) / n
    var = sum((t - mt) ** 2 for t, _ in rss)
    return 60.0 * sum((t - mt) * (r - mr) for t, r in rss) / var / MIB if var else None


def main() -> None:
    """Parse the arguments, run the flow, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=200, help="iterations/s offered")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--flow", choices=sorted(FLOWS), default="book")
    ap.add_argument("--top", type=int, default=12, help="tracemalloc sites to print")
    ap.add_argument("--no-trace", action="store_true", help="RSS only (tracemalloc off)")
    ap.add_argument("--sort", choices=("size", "count"), default="size",
                    help="order growth sites by bytes or by live blocks gained")
    args = ap.parse_args()
    print(f"command: python bench/memory.py --seconds {args.seconds:g} --rate {args.rate:g} "
          f"--users {args.users} --flow {args.flow}" + (" --no-trace" if args.no_trace else ""), flush=True)
    trace = not args.no_trace
    if trace:
        tracemalloc.start(1)
    snapshots: dict[str, tracemalloc.Snapshot] = {}
    pauses: list[float] = []
    blocks: list[tuple[float, int]] = []  # live Python allocations, counted by the interpreter (cheap)
    cycles: list[int] = []  # what a full collection at the end of the load found unreachable
    first_at = args.seconds / 3

    with serve() as server:
        cfg = FptConfig(users=args.users, profile="live", allow_rate=True, alone=0,
                        service_pids=(server.pid,), grace=2)
        run = Run(FLOWS[args.flow], cfg=cfg, shape=constant(args.rate), duration=args.seconds,
                  target=server.base_url, thresholds=(), name="memory")

        def progress(p: Progress) -> None:
            blocks.append((p.elapsed, sys.getallocatedblocks()))
            # Snapshots at one third and at the last tick of the load (before the result is built).
            name = "first" if p.elapsed >= first_at else ""
            if p.elapsed >= args.seconds - 1.5:
                name = "end"
            if trace and name and name not in snapshots:
                t = time.perf_counter()
                snapshots[name] = tracemalloc.take_snapshot()
                pauses.append(time.perf_counter() - t)
            if name == "end" and not cycles:
                # After the snapshot: garbage waiting for the cyclic collector is growth too, until it runs.
                cycles.append(gc.collect())

        run.progress = progress
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(run.execute())
    print(f"achieved {result.achieved_rate:.1f}/s of {args.rate:g}/s, {result.metrics.requests.count} "
          f"requests, {result.engine.dropped} dropped, {result.metrics.flow.error_rate * 100:.2f}% errors"
          + (f"; snapshots paused the load {sum(pauses):.1f}s" if pauses else ""))
    m, ctx = result.metrics, run.ctx
    ledgers = [u.ledger for u in run.users if u is not None]
    print(f"kept: {len(m.series)} series buckets of {getattr(m, 'resolution', 1)}s, "
          f"{sum(len(b) for b in m.series.values())} step-seconds; {len(m.failures)} failure keys; "
          f"{len(result.findings.messages)} finding messages; {len(ctx.writes)} run writes "
          f"({getattr(ctx, 'writes_dropped', 0)} not kept); {sum(len(x) for x in ledgers)} ledger entries "
          f"({sum(getattr(x, 'dropped', 0) for x in ledgers)} dropped); "
          f"{sum(len(x.samples) for x in result.resources)} resource samples")
    for s in harness_series(result.resources):
        base, end = s.rss_first_minute or 0, s.rss_end or 0
        whole, late = slope(s, 0.0), slope(s, first_at)
        print(f"fpt RSS: first {base / MIB:.1f} MiB -> end {end / MIB:.1f} MiB; slope "
              f"{whole or 0:+.2f} MiB/min (whole run), {late or 0:+.2f} MiB/min (from {first_at:.0f}s)")
    if cycles:
        print(f"gc.collect() at the end of the load: {cycles[0]} unreachable objects (reference cycles "
              f"not yet collected); gen-2 collections during the run: {gc.get_stats()[2]['collections']}")
    late = [(t, b) for t, b in blocks if t >= first_at]
    if len(late) > 2:
        n = len(late)
        mt, mb = sum(t for t, _ in late) / n, sum(b for _, b in late) / n
        per_min = 60 * sum((t - mt) * (b - mb) for t, b in late) / sum((t - mt) ** 2 for t, _ in late)
        print(f"live Python blocks: {late[0][1]} at {late[0][0]:.0f}s -> {late[-1][1]} at {late[-1][0]:.0f}s "
              f"({per_min:+.0f} blocks/min from {first_at:.0f}s)")
    if trace and {"first", "end"} <= snapshots.keys():
        span = args.seconds - 1.5 - first_at
        stats = snapshots["end"].compare_to(snapshots["first"], "lineno")
        if args.sort == "count":
            stats.sort(key=lambda st: -st.count_diff)
        grew = [st for st in stats if (st.count_diff if args.sort == "count" else st.size_diff) > 0]
        grew = grew[: args.top]
        total = sum(st.size_diff for st in stats)
        print(f"tracemalloc: {total / MIB:+.2f} MiB net between {first_at:.0f}s and the end "
              f"({total / MIB / span * 60:+.2f} MiB/min); top growth sites:")
        root = str(Path(__file__).resolve().parent.parent) + "/"
        for st in grew:
            frame = st.traceback[0]
            where = f"{frame.filename.replace(root, '')}:{frame.lineno}"
            print(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+8d} blocks  {where}")


if __name__ == "__main__":
    main()
