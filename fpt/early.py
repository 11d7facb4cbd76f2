"""The placeholder checklist, written before anything else in the session can fail.

An earlier session's green ``fpt-dod.json`` must never outlive a later session that stopped
early: a usage error (``--fpt-rate=abc``), another plugin's warning under ``-W error`` in
``pytest_configure``, a crash. So the first hook fpt gets (``pytest_load_initial_conftests``,
before any conftest is imported and before any plugin configures) replaces the file by an
*incomplete* checklist carrying this session's id and CI job; a usage error rewrites it with
the reason. Sessions that never load fpt (``-p no:fpt``, ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``)
cannot write anything: the gate refuses their stale file by its session and CI job
(:mod:`fpt.evidence.provenance`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fpt.evidence.provenance import Provenance


@dataclass(frozen=True, kw_only=True)
class Early:
    """What the session knows before its configuration is parsed."""

    provenance: Provenance
    report_dir: str
    #: the placeholder files written (empty when they could not be)
    written: tuple[Path, ...] = ()


EARLY_KEY: pytest.StashKey[Early] = pytest.StashKey()


def report_dir(config: pytest.Config, environ: Mapping[str, str]) -> str:
    """``report_dir`` from the same sources as the config, strongest first, without parsing the rest."""
    cli = getattr(config.known_args_namespace, "fpt_report_dir", None)
    if cli:
        return str(cli)
    if environ.get("FPT_REPORT_DIR"):
        return environ["FPT_REPORT_DIR"]
    try:
        ini = config.getini("fpt_report_dir")
    except (ValueError, KeyError):
        ini = ""
    if ini:
        return str(ini)
    try:
        from fpt.config.settings import read_pyproject

        value = read_pyproject(config.rootpath).get("report_dir")
    except Exception:  # a broken pyproject is reported by pytest_configure, with its reason
        value = None
    return str(value) if isinstance(value, str) and value else "fpt-report"


def begin(config: pytest.Config, environ: Mapping[str, str] = os.environ) -> None:
    """Stash this session's provenance and write the placeholder (controller or single process only)."""
    ns: Any = config.known_args_namespace
    if environ.get("PYTEST_XDIST_WORKER") or getattr(ns, "help", False) or getattr(ns, "version", False):
        return
    prov = Provenance.of(environ)
    directory = report_dir(config, environ)
    written = write(directory, prov, f"session started at {prov.started} and has not finished "
                                     "(stopped before it ran, interrupted, killed, or still running)")
    config.stash[EARLY_KEY] = Early(provenance=prov, report_dir=directory, written=written)


def stopped(config: pytest.Config, why: str) -> None:
    """The session stops before it runs (a usage error): the placeholder says why."""
    early = config.stash.get(EARLY_KEY, None)
    if early is not None:
        write(early.report_dir, early.provenance, f"the session stopped before it ran: {why}")


def write(directory: str, prov: Provenance, why: str) -> tuple[Path, ...]:
    """An incomplete checklist for ``prov`` in ``directory``; nothing when it cannot be written."""
    from fpt.judge.dod.evaluate import evaluate
    from fpt.report.outputs import write_placeholder

    pending = evaluate([], incomplete=[why], session=prov)
    try:
        return tuple(write_placeholder(pending, directory))
    except OSError:
        return ()  # pytest_sessionstart tries again and says why in the summary
