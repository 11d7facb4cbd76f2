"""The ``fpt`` command beyond the gate's file checks: its default level, and ``fpt demo``."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from fpt import cli
from fpt.demo.server import free_port, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def squad_file(tmp_path: Path) -> Path:
    """A real checklist that passed its own one-item level and fails squad (no run at all)."""
    import json

    from fpt.judge.dod.checklist import ItemOutcome
    from fpt.judge.dod.evaluate import evaluate
    from fpt.judge.dod.facts import WrittenFacts
    from fpt.report.checklist import checklist_dict

    base = ItemOutcome(name="performance.baseline", status="passed",
                       facts=WrittenFacts(detail="no regression"))
    c = evaluate([], level="baseline-only", levels={"baseline-only": (base.name,)}, baseline=base)
    path = tmp_path / "fpt-dod.json"
    path.write_text(json.dumps(checklist_dict(c)))
    return path


def run_gate(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    code = cli.main(["gate", *map(str, args)])
    return code, capsys.readouterr().out


def test_gate_default_level_is_the_plugins(squad_file: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FPT_DOD_LEVEL", raising=False)
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.fpt]\nseed = 1\n")
    code, out = run_gate(capsys, squad_file, "--config", cfg)
    assert (code, out.splitlines()[-1]) == (1, "fpt gate: FAILED at level squad (1 file(s))")
    cfg.write_text('[tool.fpt.dod]\nlevel = "baseline-only"\nbaseline-only = ["performance.baseline"]\n')
    code, out = run_gate(capsys, squad_file, "--config", cfg)
    assert (code, out.splitlines()[-1]) == (0, "fpt gate: PASSED at level baseline-only (1 file(s))")
    monkeypatch.setenv("FPT_DOD_LEVEL", "squad")  # as for pytest, the environment overrides pyproject
    code, out = run_gate(capsys, squad_file, "--config", cfg)
    assert code == 1
    code, out = run_gate(capsys, squad_file, "--config", cfg, "--level", "baseline-only")
    assert code == 0


def test_the_demo_ships_in_the_package_and_nothing_else_at_top_level() -> None:
    from setuptools import find_namespace_packages

    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(where=str(ROOT), include=find["include"])
    assert "fpt.demo" in packages
    assert {p.split(".")[0] for p in packages} == {"fpt"}  # no `suites` to shadow a squad's own


def test_fpt_demo_serves_from_any_directory(tmp_path: Path) -> None:
    port = free_port()
    # Only the installed packages on the path, a directory that is not the checkout as cwd.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "fpt.cli", "demo", "--port", str(port),
                             "--bugs", "no_owner_check"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/health", proc, 20, status=200), "demo did not start"
        assert httpx.post(f"http://127.0.0.1:{port}/login", json={}).status_code == 401
    finally:
        stop_process(proc)
        output = proc.communicate()[0].decode()
    assert f"booking service on http://127.0.0.1:{port} (bugs: no_owner_check)" in output


def test_fpt_demo_refuses_bad_arguments_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--bugs", "leaky"]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "fpt demo: FAILED: --bugs: unknown demo bug 'leaky'; allowed: shared_cache" in err
    assert cli.main(["demo", "--port", "70000"]) == cli.EXIT_BAD_INPUT
    assert "--port must be from 1 to 65535; got 70000" in capsys.readouterr().err
