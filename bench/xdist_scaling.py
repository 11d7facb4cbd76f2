"""xdist scaling: max rate of one FPT test on 1 worker vs 2 workers (``--dist each``).

A throw-away project with one FPT test (one GET per iteration, every check on)
offered far more than it can do against nginx; pytest runs it with ``-n 1`` and
with ``-n 2 --dist each`` (each worker 1/2 of the rate, its own users), and the
merged run in ``fpt-dod.json`` gives the achieved rate. This machine has two
cores, shared by the workers and nginx, so the 2-worker figure is a floor.
Run: ``python bench/xdist_scaling.py [--seconds 8] [--rate 30000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import nginx_server

TEST = '''
import fpt

async def flow(user):
    async with user.step("get"):
        r = await user.http.get("/")
        fpt.check(r.status_code == 200, "refused")

def test_max_rate(fpt_load):
    fpt_load(flow, profile="live", target="{url}", rate={rate}, users=64, duration={seconds},
             allow_rate=True, alone=0, check=False)
'''


def run(url: str, workers: int, rate: float, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_rate.py").write_text(TEST.format(url=url, rate=rate, seconds=seconds))
        Path(tmp, "pytest.ini").write_text("[pytest]\n")
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers)]
        if workers > 1:
            args += ["--dist", "each"]
        proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True, timeout=seconds + 120,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        dod_path = Path(tmp, "fpt-report", "fpt-dod.json")
        if not dod_path.exists():
            raise RuntimeError(f"no checklist from pytest -n {workers}:\n{proc.stdout[-2000:]}")
        runs = json.loads(dod_path.read_text())["runs"]
    if len(runs) != 1:
        raise RuntimeError(f"expected one merged run, got {len(runs)}")
    return {"achieved": runs[0]["achieved_rate"], "users": runs[0]["users"],
            "iterations": runs[0]["iterations"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=30000.0)
    args = ap.parse_args()
    print(f"command: python bench/xdist_scaling.py --seconds {args.seconds:g} --rate {args.rate:g}")
    with nginx_server(core=None) as url:
        one = run(url, 1, args.rate, args.seconds)
        two = run(url, 2, args.rate, args.seconds)
    print(f"{'workers':8} {'achieved/s':>11} {'iterations':>11} {'users':>6}")
    for n, r in ((1, one), (2, two)):
        print(f"{n:8d} {r['achieved']:11.0f} {r['iterations']:11d} {r['users']:6d}")
    ratio = two["achieved"] / one["achieved"]
    print(f"2 workers / 1 worker = {ratio:.2f} (2 cores, nginx on the same cores)")


if __name__ == "__main__":
    main()
