"""docs/distributed.md: the Kubernetes, GitHub Actions and GitLab examples parse and shard as they say."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fpt.config.settings import build
from fpt.config.shard import split_of

DOC = Path(__file__).parent.parent / "docs" / "distributed.md"


def _block(name: str) -> list[Any]:
    yaml = pytest.importorskip("yaml")  # PyYAML comes with uvicorn[standard] (the demo extra)
    m = re.search(rf"<!-- distributed: {name} -->\n```yaml\n(.*?)\n```", DOC.read_text(), re.S)
    assert m is not None, f"no {name} example in {DOC}"
    return [d for d in yaml.safe_load_all(m.group(1)) if d is not None]


def _shards(environs: list[dict[str, str]], flags: list[str] | None = None) -> list[tuple[int, int]]:
    out = []
    for i, environ in enumerate(environs):
        cli = {"shard": flags[i]} if flags else {}
        kn = split_of(build(pyproject={}, ini={}, environ=environ, cli=cli).shard)
        assert kn is not None
        out.append(kn)
    return out


def _every_shard_once(kns: list[tuple[int, int]]) -> None:
    n = kns[0][1]
    assert sorted(kns) == [(k, n) for k in range(1, n + 1)]


def test_kubernetes_indexed_job_runs_n_shards_in_parallel_then_merges() -> None:
    shards, merge = _block("kubernetes")
    assert (shards["kind"], merge["kind"]) == ("Job", "Job")
    spec = shards["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"]
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["FPT_SHARD_TOTAL"]["value"] == str(spec["completions"])
    assert env["FPT_SHARD_SESSION"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['batch.kubernetes.io/controller-uid']"
    assert "--fpt-report-dir \"/results/shard-$JOB_COMPLETION_INDEX\"" in container["args"][0]
    # what each pod's fpt reads from the Job controller's JOB_COMPLETION_INDEX: every shard once
    total = env["FPT_SHARD_TOTAL"]["value"]
    _every_shard_once(_shards([{"JOB_COMPLETION_INDEX": str(i), "FPT_SHARD_TOTAL": total}
                               for i in range(spec["completions"])]))
    (merger,) = merge["spec"]["template"]["spec"]["containers"]
    assert merger["command"][:3] == ["fpt", "merge", "/results"]
    for job in (shards, merge):
        (volume,) = job["spec"]["template"]["spec"]["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == "fpt-results"


def test_github_actions_matrix_shards_then_merges() -> None:
    (workflow,) = _block("github")
    jobs = workflow["jobs"]
    matrix = jobs["shards"]["strategy"]["matrix"]["shard"]
    (run,) = [s["run"] for s in jobs["shards"]["steps"] if "pytest -m fpt" in s.get("run", "")]
    m = re.search(r"--fpt-shard \$\{\{ matrix.shard \}\}/(\d+)", run)
    assert m is not None
    assert int(m.group(1)) == len(matrix)
    assert "--fpt-start-at ${{ needs.plan.outputs.start }}" in run
    _every_shard_once(_shards([{"GITHUB_RUN_ID": "1"}] * len(matrix), [f"{k}/{m.group(1)}" for k in matrix]))
    assert jobs["merge"]["needs"] == "shards"
    assert jobs["merge"]["if"] == "${{ !cancelled() }}"  # the merge runs when a shard failed, to say why
    assert any(s.get("run", "").startswith("fpt merge shards --out") for s in jobs["merge"]["steps"])


def test_gitlab_parallel_shards_then_merges() -> None:
    (pipeline,) = _block("gitlab")
    job = pipeline["fpt-shards"]
    n = job["parallel"]
    assert not any("--fpt-shard" in line for line in job["script"])  # GitLab's own CI_NODE_* say it
    _every_shard_once(_shards([{"CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(n), "CI_PIPELINE_ID": "9"}
                               for k in range(1, n + 1)]))
    assert pipeline["plan"]["artifacts"]["reports"]["dotenv"] == "plan.env"
    assert pipeline["fpt-merge"]["needs"] == ["fpt-shards"]
    assert pipeline["fpt-merge"]["when"] == "always"
    assert "fpt merge fpt-shards --out fpt-report" in pipeline["fpt-merge"]["script"]
