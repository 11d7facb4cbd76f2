"""The OpenAPI hunt on the FastAPI notes service (tests/notes_api.py): time to the first finding,
and operations covered per minute.

For each bug, ``--runs`` hunts with a different seed from ``fpt_load.openapi("/openapi.json",
auth=...)`` with no flow written (in-process, virtual profile, 20 users at ``--rate``/s): the
seconds from the call (reading the document, planning, generating values, the single-user
phase, sign-in) to the first finding of the bug's kind. On the correct service: operations the
document has, covered (answered 2xx), checked, skipped; operation calls per minute and distinct
operations covered per minute of the whole call.

    python bench/openapi_hunt.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.config.settings import FptConfig
from fpt.evidence.coverage import OpOutcome
from fpt.evidence.result import RunResult
from fpt.load import LoadRunner
from tests.notes_api import auth, create_app

KIND = {"read_no_owner": "cross_user", "write_no_owner": "cross_user", "leaky_list": "foreign_canary"}


def hunt(bugs: tuple[str, ...], seed: int, rate: float, duration: str) -> tuple[RunResult, float]:
    runner = LoadRunner(FptConfig(seed=seed), name="bench", marker={}, record=lambda r: None)
    start = time.time()
    r = runner.openapi("/openapi.json", auth=auth, target=create_app(bugs), profile="virtual", users=20,
                       rate=rate, duration=duration, burst=10, replay_writes=True, check=False)
    return r, start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=float, default=40.0)
    ap.add_argument("--duration", default="10s")
    args = ap.parse_args(argv)
    print(f"fpt_load.openapi on tests/notes_api.py (FastAPI, in-process), 20 users at {args.rate:g}/s, "
          f"{args.duration}, {args.runs} runs per case")
    for bug, kind in KIND.items():
        firsts: list[float] = []
        for n in range(args.runs):
            r, start = hunt((bug,), seed=n + 1, rate=args.rate, duration=args.duration)
            found = [f for f in r.findings.examples if f.kind == kind]
            if found:
                firsts.append(r.started_at + min(f.at for f in found) - start)
        shown = (f"median {statistics.median(firsts):.2f}s, max {max(firsts):.2f}s" if firsts else "never")
        print(f"  {bug:15} first {kind} finding {shown} from the call ({len(firsts)}/{args.runs} caught)")
    rows: list[dict[str, Any]] = []
    for n in range(args.runs):
        r, start = hunt((), seed=n + 1, rate=args.rate, duration=args.duration)
        minutes = (time.time() - start) / 60
        cov = r.coverage
        assert cov is not None
        ok = [o for o in cov.operations if o.ok]
        rows.append({"ops": len(cov.operations), "covered": len(ok),
                     "checked": sum(o.outcome == OpOutcome.CHECKED for o in cov.operations),
                     "skipped": sum(o.outcome == OpOutcome.SKIPPED for o in cov.operations),
                     "calls_per_min": sum(o.calls for o in cov.operations) / minutes,
                     "covered_per_min": len(ok) / minutes, "quiet": not r.findings.total})
    med = {k: statistics.median(float(row[k]) for row in rows) for k in rows[0] if k != "quiet"}
    print(f"  correct service: {med['ops']:.0f} operations, {med['covered']:.0f} covered (2xx), "
          f"{med['checked']:.0f} ownership-checked, {med['skipped']:.0f} skipped with a reason; "
          f"{med['calls_per_min']:.0f} operation calls/min, {med['covered_per_min']:.1f} operations "
          f"covered/min of the whole call; quiet {sum(r['quiet'] for r in rows)}/{len(rows)}")


if __name__ == "__main__":
    main()
