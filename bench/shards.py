"""Shards: merged requests/s of 2 shard processes (``--fpt-shard K/2``, one common start, then
``fpt merge``) against 1 process, one FPT test offered far more than either can do.

A throw-away project with one FPT test (one GET per iteration, every check on) against a local
server (nginx when installed, else uvicorn with the bench hello app); the figures are the
``(requests)`` and ``(flow)`` rows of the merged checklist and of the single process's. This
machine has two cores, shared by both shards and the server: the 2-shard figure is a floor.
Run: ``python bench/shards.py [--seconds 8] [--rate 30000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, nginx_server, uvicorn_server

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


@contextlib.contextmanager
def server() -> Iterator[tuple[str, str]]:
    """nginx when installed (the lighter server), else uvicorn; yields (url, name)."""
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        with nginx_server(core=None) as url:
            yield url, "nginx"
    else:
        with uvicorn_server(core=None) as url:
            yield url, "uvicorn"


def figures(dod: Path) -> dict[str, float]:
    """Requests/s and iterations/s of the one run in a checklist."""
    runs = json.loads(dod.read_text())["runs"]
    if len(runs) != 1:
        raise RuntimeError(f"expected one run in {dod}, got {len(runs)}")
    rows = {s["step"]: s for s in runs[0]["steps"]}
    return {"requests_s": rows["(requests)"]["throughput_per_s"], "achieved": runs[0]["achieved_rate"],
            "iterations": runs[0]["iterations"], "worker": runs[0]["worker"]}


def run(url: str, shards: int, rate: float, seconds: float) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_rate.py").write_text(TEST.format(url=url, rate=rate, seconds=seconds))
        Path(tmp, "pytest.ini").write_text("[pytest]\n")
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        if shards == 1:
            subprocess.run(base, cwd=tmp, capture_output=True, text=True, timeout=seconds + 120, env=env,
                           check=False)
            return figures(Path(tmp, "fpt-report", "fpt-dod.json"))
        start = f"{time.time() + 4:.3f}"  # both processes collected and waiting before the load starts
        procs = [subprocess.Popen([*base, "--fpt-shard", f"{k}/{shards}", "--fpt-start-at", start,
                                   "--fpt-report-dir", f"shard-{k}"], cwd=tmp, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for k in range(1, shards + 1)]
        for p in procs:
            p.wait(timeout=seconds + 120)
        merged = subprocess.run([sys.executable, "-m", "fpt.cli", "merge",
                                 *(f"shard-{k}" for k in range(1, shards + 1)), "--out", "merged"],
                                cwd=tmp, capture_output=True, text=True, timeout=120, env=env, check=False)
        if merged.returncode == 2:
            raise RuntimeError(f"fpt merge refused the shards:\n{merged.stderr}")
        skew = json.loads(Path(tmp, "merged", "fpt-merge.json").read_text())["skew"][0]["skew_s"]
        return {**figures(Path(tmp, "merged", "fpt-dod.json")), "skew_s": skew}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=30000.0)
    args = ap.parse_args()
    print(f"command: python bench/shards.py --seconds {args.seconds:g} --rate {args.rate:g}")
    with server() as (url, name):
        one = run(url, 1, args.rate, args.seconds)
        two = run(url, 2, args.rate, args.seconds)
    print(f"server: {name} on the same 2 cores; {os.cpu_count()} cpus")
    print(f"{'processes':10} {'requests/s':>11} {'iterations/s':>13} {'iterations':>11}  merged from")
    for n, r in ((1, one), (2, two)):
        print(f"{n:10d} {r['requests_s']:11.0f} {r['achieved']:13.0f} {r['iterations']:11d}  {r['worker']}")
    print(f"start skew of the 2 shards: {two['skew_s'] * 1000:.1f} ms")
    ratio = two["requests_s"] / one["requests_s"]
    print(f"2 shards / 1 process = {ratio:.2f} (requests/s, merged by fpt merge)")


if __name__ == "__main__":
    main()
