"""Shards for real: two pytest processes in parallel, `fpt merge`, and the same suite in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SUITE = '''
from fpt.demo import create_app
from suites.flows import book_visit


def test_virtual(fpt_load):
    fpt_load(book_visit, profile="virtual", target=create_app(), users=20, rate=50, duration=2, alone=1,
             burst=4)
'''

PYPROJECT = '''
[tool.fpt.dod]
level = "virt"
virt = ["suite.executed", "functional.single_user", "data_swap.high_traffic_virtual",
        "data_swap.negative_concurrency", "performance.error_rate", "performance.throughput"]
'''


def _fpt(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fpt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # The shards and `fpt merge` are processes of their own: the repo's `suites` (the flows the
    # suite imports) is not installed, so they get the checkout on their path as pytest gives it here.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pytester.makepyfile(test_v=SUITE)
    pytester.makefile(".toml", pyproject=PYPROJECT)
    return pytester


def test_two_shards_merged_equal_one_process_and_each_alone_fails_the_gate(suite: pytest.Pytester) -> None:
    start = f"{time.time() + 3:.3f}"  # both shards' loads start together, whenever each process got going
    shards = [suite.popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--fpt-shard", f"{k}/2",
                           "--fpt-start-at", start, "--fpt-report-dir", f"shard{k}"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
              for k in (1, 2)]
    try:
        outs = [p.communicate(timeout=120)[0].decode() for p in shards]
    finally:
        for p in shards:
            if p.poll() is None:
                p.kill()
                p.wait()
    # A shard's exit is its tests': its checklist is partial by design and the merge gates.
    assert [p.returncode for p in shards] == [0, 0], outs
    for k, out in zip((1, 2), outs, strict=True):
        assert f"PARTIAL: shard {k}/2 of session start-{start}" in out
    single = suite.runpytest_subprocess("-p", "no:cacheprovider", "--fpt-report-dir", "single")
    assert single.ret == 0, single.stdout.str()

    merged = _fpt("merge", "shard1", "shard2", "--out", "merged", cwd=suite.path)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "start skew" in merged.stdout
    assert "overlap across shards is not claimed" in merged.stdout
    assert "merged from 2 shards' processes (shard1,shard2)" in merged.stdout
    assert "overlapping pairs of different users (counted within each shard's process, never across " \
           "shards)" in merged.stdout
    one = json.loads((suite.path / "single" / "fpt-dod.json").read_text())
    both = json.loads((suite.path / "merged" / "fpt-dod.json").read_text())
    # The merged checklist equals the single process's item by item ...
    def items(c: dict[str, Any]) -> list[tuple[str, str]]:
        return [(i["name"], i["status"]) for i in c["items"]]

    assert items(both) == items(one)
    assert both["verdict"] == one["verdict"] == "passed"
    assert both["tests"] == one["tests"] == {"passed": 1, "failed": 0, "skipped": 0}
    (run,) = both["runs"]
    (alone,) = one["runs"]
    # ... with the whole run's figures: 20 users, 50/s, counts within the throughput tolerance (95%)
    assert (run["users"], run["target_rate"], run["shape"]) == (alone["users"], alone["target_rate"], "50/s")
    assert abs(run["iterations"] - alone["iterations"]) <= 0.05 * alone["iterations"]
    assert run["achieved_rate"] >= 0.95 * 50
    assert run["worker"] == "shard1,shard2"
    skew = json.loads((suite.path / "merged" / "fpt-merge.json").read_text())["skew"]
    assert skew[0]["overlap_across_shards"] is None
    assert set(skew[0]["starts"]) == {"1", "2"}

    # Each shard's own checklist never passes, whatever level the gate asks for.
    for k in (1, 2):
        gate = _fpt("gate", f"shard{k}/fpt-dod.json", cwd=suite.path)
        assert gate.returncode == 1, gate.stdout + gate.stderr
        shard = json.loads((suite.path / f"shard{k}" / "fpt-dod.json").read_text())
        assert shard["shard"] == {"index": k, "total": 2, "session": f"start-{start}"}
        assert shard["reasons"][0].startswith(f"partial: shard {k}/2")
        assert shard["runs"][0]["target_rate"] == 25
    assert _fpt("gate", "merged/fpt-dod.json", cwd=suite.path).returncode == 0
    # The shards' slices are disjoint and together are the single run's users.
    files = [json.loads((suite.path / f"shard{k}" / f"fpt-shard-{k}-of-2.json").read_text()) for k in (1, 2)]
    assert [(f["results"][0]["first_user"], f["results"][0]["users"]) for f in files] == [(0, 10), (10, 10)]

    # fpt merge refuses what is not the whole run, and says which.
    lone = _fpt("merge", "shard1", "--out", "lone", cwd=suite.path)
    assert lone.returncode == 2
    assert f"shard 2/2 of session 'start-{start}' missing (given: 1/2)" in lone.stderr
    assert not (suite.path / "lone").exists()
    (suite.path / "copy").mkdir()
    (suite.path / "copy" / "fpt-shard-1-of-2.json").write_bytes(
        (suite.path / "shard1" / "fpt-shard-1-of-2.json").read_bytes())
    twice = _fpt("merge", "shard1", "copy", "shard2", "--out", "twice", cwd=suite.path)
    assert twice.returncode == 2
    assert "shard 1/2 given 2 times" in twice.stderr
    gated = _fpt("merge", "shard1/fpt-dod.json", "--out", "x", cwd=suite.path)
    assert gated.returncode == 2
    assert "is not an fpt shard file" in gated.stderr


def test_a_shard_without_a_session_or_with_a_bad_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_v=SUITE)
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fpt-shard", "3/2")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*fpt: shard must be K/N with whole numbers 1 <= K <= N (this is shard K of "
                              "N), such as 1/4; got '3/2' (from command line)"])
    assert "Traceback" not in res.stderr.str()
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fpt-shard", "1/2")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*fpt: shard 1/2 (from command line) needs a session id every shard shares*"])
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fpt-shard", "1/2", "--fpt-start-at",
                                        f"{time.time() + 7200:.0f}")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*fpt: start_at must be at most 60 minutes ahead*"])
