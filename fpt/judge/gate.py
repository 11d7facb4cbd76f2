"""Read checklist files back, refuse anything malformed or edited, merge them and judge a level.

Used by ``fpt gate FILE... --level release`` (a release QA step reading several
squads' ``fpt-dod.json``). A file that is not JSON, is cut short, does not match the
published schema, or whose digest does not match its content never passes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fpt.config.errors import GateError
from fpt.evidence.findings import SWAP_KINDS
from fpt.judge.dod import FAILED, Checklist, digest, merge

SCHEMA_FILE = "fpt-dod.schema.json"


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of ``fpt-dod.json`` (shipped in the package)."""
    text = resources.files("fpt.schemas").joinpath(SCHEMA_FILE).read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def validate(data: Any, where: str = "checklist") -> Checklist:
    """The checklist in ``data``; ``GateError`` unless it matches the schema, its digest and its verdict."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise GateError(f"{where}: does not match the fpt-dod schema at {path}: {e.message}"
                        + (f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""))
    if data["digest"] != digest(data):
        raise GateError(f"{where}: digest does not match the content: the file was edited after fpt wrote it")
    check = Checklist.from_dict(data)
    if check.verdict != data["verdict"] or check.reasons != data["reasons"]:
        raise GateError(f"{where}: verdict {data['verdict']!r} does not follow from its items")
    wrong = contradictions(check)
    if wrong:
        raise GateError(f"{where}: its items contradict its own runs (edited?): {wrong[0]}")
    return check


#: checklist items a run's findings of these kinds fail, by the run's profile ("" for any profile)
_FAILED_BY = ((SWAP_KINDS, "live", "data_swap.multi_user_live"),
              (SWAP_KINDS, "virtual", "data_swap.high_traffic_virtual"),
              (("cross_user",), "", "data_swap.negative_concurrency"))


def contradictions(check: Checklist) -> list[str]:
    """Where the items say less than the runs the same file lists (a file fpt wrote has none).

    The digest is not a signature: an edited file with a recomputed digest still has to agree
    with its own evidence, so a flipped item or a dropped reason is caught unless every run is
    forged too.
    """
    out = []
    for run in check.runs:
        findings = run.get("findings") or {}
        for kinds, profile, name in _FAILED_BY:
            n = sum(int(findings.get(k, 0)) for k in kinds)
            if (n and (not profile or (run.get("profile") == profile and run.get("users", 0) > 1))
                    and any(i.name == name and i.status != FAILED for i in check.items)):
                out.append(f"run {run.get('test')} has {n} {'/'.join(kinds)} findings but {name} "
                           "is not failed")
        if run.get("incomplete") and not check.incomplete:
            out.append(f"run {run.get('test')} is incomplete but the checklist is not")
    return out


def read(path: str | Path) -> Checklist:
    """One checklist file, validated; ``GateError`` says what is wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GateError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GateError(f"{p}: cannot be read: {e}") from None
    if not text.strip():
        raise GateError(f"{p}: is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise GateError(f"{p}: is not valid JSON (truncated or malformed) at line {e.lineno} "
                        f"column {e.colno}: {e.msg}") from None
    return dataclasses.replace(validate(data, str(p)), sources=(str(p),))


def gate(paths: Sequence[str | Path], *, level: str, levels: Mapping[str, Sequence[str]]) -> Checklist:
    """Every file read and validated, merged, judged at ``level``."""
    if not paths:
        raise GateError("no checklist file given")
    return merge([read(p) for p in paths], level=level, levels=levels)
