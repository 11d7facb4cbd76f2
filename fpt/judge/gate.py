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
from fpt.judge.dod.catalogue import FAILED
from fpt.judge.dod.checklist import Checklist, digest
from fpt.judge.dod.merge import merge

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
    # Typed outcomes are compared, never regenerated prose: the reasons are display, and a later
    # fpt that words them differently must still read an earlier file.
    if check.verdict != data["verdict"]:
        raise GateError(f"{where}: verdict {data['verdict']!r} does not follow from its items")
    wrong = contradictions(check) + rejudge(check)
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


def rejudge(check: Checklist) -> list[str]:
    """What the file's own evidence says, recomputed with the judge's functions, where it disagrees.

    - each threshold's ``passed`` from its expression and measured value (``fpt.config.thresholds``);
    - each run's swap verdict against its finding counts (``fpt.judge.verdict``: a swap kind needs
      swap findings, swap findings need a swap kind);
    - findings of any kind need the run's own check failures (``fpt.judge.verdict.failures`` lists
      every kind), and a failed threshold needs its item failed;
    - an item whose evidence counts swaps is failed.
    """
    from fpt.config.thresholds import Unmeasurable, evaluate, parse_threshold

    out: list[str] = []
    items = {i.name: i for i in check.items}
    threshold_items = (("errors", "performance.error_rate"), ("throughput", "performance.throughput"),
                       ("dropped", "performance.throughput"))
    for run in check.runs:
        test = run.get("test")
        findings = {k: int(v) for k, v in (run.get("findings") or {}).items()}
        swaps = sum(findings.get(k, 0) for k in SWAP_KINDS)
        verdict = run.get("swap_verdict")
        if verdict in ("concurrency", "cache_shared_state") and not swaps:
            out.append(f"run {test} has the swap verdict {verdict!r} but no swap finding")
        if verdict == "authorization" and not findings.get("cross_user", 0):
            out.append(f"run {test} has the swap verdict 'authorization' but no cross_user finding")
        if swaps and verdict in ("passes", "no_overlap", "not_checked"):
            out.append(f"run {test} has {swaps} swap findings but the swap verdict {verdict!r}")
        if any(findings.values()) and "check_failures" in run and not run["check_failures"]:
            out.append(f"run {test} has findings but no check failure")
        for t in run.get("thresholds") or ():
            try:
                th = parse_threshold(str(t["expr"]))
            except (KeyError, ValueError):
                out.append(f"run {test} has a threshold fpt cannot read: {t!r}")
                continue
            measured = t.get("measured")
            if measured is not None and not isinstance(measured, int | float):
                out.append(f"run {test}: {th.expr} measured {measured!r}, not a number")
                continue
            again = evaluate(th, measured, Unmeasurable.WRITTEN)
            if again.passed != bool(t.get("passed")):
                out.append(f"run {test}: {th.expr} says {'passed' if t.get('passed') else 'failed'} "
                           f"but its measured value {'meets' if again.passed else 'breaks'} it")
            if measured is not None and not again.passed:
                name = next((n for m, n in threshold_items if th.metric == m), None)
                if name and name in items and items[name].status != FAILED:
                    out.append(f"run {test}: {th.expr} failed but {name} is not failed")
    for i in check.items:
        n = i.evidence.get("swaps")
        if isinstance(n, int) and n > 0 and i.status != FAILED:
            out.append(f"{i.name} counts {n} swaps but is not failed")
    return out


def origin(data: Mapping[str, Any], where: str, *, environ: Mapping[str, str], any_job: bool = False,
           session_id: str = "", max_age: float | None = None, require_signature: bool = False,
           now: float | None = None) -> None:
    """``GateError`` unless the file comes from this CI job and session, is fresh enough, and is
    signed when a signature is required or a key is there to check one.

    - In a CI job (its id in the environment), a file from another job, or from no job, is
      refused unless ``any_job`` (release QA reading other jobs' artifacts says so);
    - ``session_id`` (``FPT_SESSION_ID``): only that session's file is accepted;
    - ``max_age``: seconds since the file was written; a file from the future is refused too;
    - ``FPT_SIGNING_KEY`` set: a signed file must verify; ``require_signature``: it must be
      signed, and the key must be there to check it.
    """
    from fpt.evidence.provenance import KEY_ENV, CiJob, age_seconds, ci_job, verifies

    session = data.get("session") or {}
    here = ci_job(environ)
    if here is not None and not any_job:
        theirs = CiJob.from_dict(session.get("ci"))
        if theirs != here:
            made = f"CI job {theirs.provider} {theirs.job}" if theirs else "no CI job"
            raise GateError(f"{where}: written by {made}, not by this job ({here.provider} {here.job}): "
                            "a file from an earlier job proves nothing about this one (--any-job to "
                            "read other jobs' artifacts on purpose)")
    if session_id and session.get("id") != session_id:
        raise GateError(f"{where}: written by session {session.get('id') or '(none)'}, not by session "
                        f"{session_id} (FPT_SESSION_ID): a stale file from another session")
    if max_age is not None:
        age = age_seconds(str(data.get("created", "")), now)
        if age is None:
            raise GateError(f"{where}: its creation time {data.get('created')!r} cannot be read (--max-age)")
        if age > max_age or age < -300:
            raise GateError(f"{where}: written {age:.0f}s ago, outside --max-age {max_age:g}s")
    key = environ.get(KEY_ENV, "")
    signed = data.get("signature")
    if require_signature and not signed:
        raise GateError(f"{where}: not signed (--require-signature; set {KEY_ENV} when pytest runs)")
    if require_signature and not key:
        raise GateError(f"{where}: --require-signature needs {KEY_ENV} to verify the signature with")
    if signed and key and not verifies(str(data["digest"]), str(signed), key):
        raise GateError(f"{where}: the signature does not verify: edited after fpt wrote it, or "
                        f"signed with another {KEY_ENV}")


def read(path: str | Path, **trust: Any) -> Checklist:
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
    check = validate(data, str(p))
    if trust:
        origin(data, str(p), **trust)
    return dataclasses.replace(check, sources=(str(p),))


def gate(paths: Sequence[str | Path], *, level: str, levels: Mapping[str, Sequence[str]],
         **trust: Any) -> Checklist:
    """Every file read, validated and checked for origin (``trust``: see :func:`origin`), merged,
    judged at ``level``."""
    if not paths:
        raise GateError("no checklist file given")
    return merge([read(p, **trust) for p in paths], level=level, levels=levels)
