"""The 1 -> 3 -> 1 scale scenario on the real fleet, repeated: redis sessions vs replica memory.

Prints per run whether continuity held (no broken session, no lost write, traffic
moved both ways) and the broken sessions / lost writes / p90 per phase, then the
pass counts. Needs haproxy and redis-server.

``python bench/scaling_repeat.py --runs 10``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.config.settings import FptConfig
from fpt.demo.fleet import DemoFleet
from fpt.report.continuity import continuity_view
from fpt.report.findings import finding_line
from fpt.run.runner import Run
from fpt.run.scaling import at
from fpt.run.shapes import constant
from suites.flows import book_visit


def one(sessions: str, seed: int, seconds: float) -> tuple[bool, str]:
    """One run; (continuity held, a line of figures)."""
    cfg = FptConfig(users=20, profile="live", alone=0, probe_share=0, seed=seed)
    with DemoFleet(sessions=sessions, slots=3) as fleet:
        run = Run(book_visit, cfg=cfg, shape=constant(5), duration=seconds, target=fleet.base_url,
                  thresholds=(), name=f"scale-{sessions}",
                  events=[at(seconds * 0.3, fleet.scaler.scale_to, 3),
                          at(seconds * 0.65, fleet.scaler.scale_to, 1)])
        r = asyncio.run(run.execute())
    c = continuity_view(r)
    broken = r.findings.counts.get("session", 0)
    lost = c.get("readback", {}).get("lost", 0)
    lost = max(lost, r.findings.counts.get("data_loss", 0))
    held = bool(c.get("evidenced")) and broken == 0 and lost == 0
    phases = ", ".join(f"{k} p90 {v['p90_ms']:.1f}ms err {v['error_rate'] * 100:.1f}%"
                       for k, v in c.get("phases", {}).items())
    first = finding_line(r.findings.of("session")[0]) if broken else ""
    return held, (f"broken sessions {broken}, lost writes {lost}, moved "
                  f"{[e.get('moved_traffic') for e in c.get('events', [])]}; {phases}"
                  + (f"\n      e.g. {first}" if first else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=14.0)
    args = ap.parse_args()
    for sessions in ("redis", "replica-memory"):
        held = 0
        for i in range(args.runs):
            ok, line = one(sessions, 100 + i, args.seconds)
            held += ok
            print(f"{sessions:<15} run {i + 1:>2}: {'held' if ok else 'BROKE'}; {line}", flush=True)
        expect = "held" if sessions == "redis" else "broke"
        n = held if sessions == "redis" else args.runs - held
        print(f"== {sessions}: {expect} in {n}/{args.runs} runs", flush=True)
    print(f"command: python bench/scaling_repeat.py --runs {args.runs} --seconds {args.seconds:g}")


if __name__ == "__main__":
    main()
