"""A shard's results file, and ``fpt merge``: every shard folded into one run, exactly.

A shard writes ``fpt-shard-K-of-N.json`` next to its (partial) ``fpt-dod.json``: the full run
results (histograms, counts, findings, evidence — what an xdist worker sends its controller),
its explorations and test outcomes, the settings, the DoD levels and the code it ran, under a
digest. ``fpt merge`` reads every shard of a session, refuses anything that is not one run cut
in N (another session, other settings or code, a shard missing or given twice), folds the
results with the xdist controller's own merge (:func:`fpt.evidence.merge.merge_by_test`) and judges
them as one process's session: the same checklist, baseline and reports.

Overlap is only ever counted within a process: the merged run's overlapping pairs are the sum
of what each shard saw, never a claim that two shards' requests met. The merge reports how far
apart the shards started each run (the start skew).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpt.config.errors import MergeError
from fpt.config.settings import FptConfig
from fpt.config.shard import Shard
from fpt.evidence.result import RunResult
from fpt.judge.dod.checklist import digest

if TYPE_CHECKING:
    from fpt.session import FptSession

KIND = "fpt-shard"
SCHEMA = 1
GLOB = "fpt-shard-*-of-*.json"
MERGE_NAME = "fpt-merge.json"
#: settings that may differ between shards: where each writes, and which shard it is
LOCAL_SETTINGS = frozenset({"report_dir", "shard", "sources"})
_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def file_name(shard: Shard) -> str:
    """``fpt-shard-2-of-4.json``."""
    return f"fpt-shard-{shard.index}-of-{shard.total}.json"


def settings_of(cfg: FptConfig) -> dict[str, Any]:
    """Every setting as plain data (tuples as lists)."""
    out = {}
    for f in dataclasses.fields(cfg):
        if f.name == "sources":
            continue
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def config_of(settings: Mapping[str, Any]) -> FptConfig:
    """Inverse of :func:`settings_of` (keys this fpt does not know are refused earlier)."""
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return FptConfig(**values)


def relabel(r: RunResult, shard: Shard) -> RunResult:
    """``r`` named after its shard: workers ``shard2`` or ``shard2:gw0,shard2:gw1``, and fpt's
    own resource series ``fpt:shard2``, so shards never pass for one process when merged."""
    from fpt.evidence.resources import HARNESS

    def name(w: str) -> str:
        return f"shard{shard.index}" if w == "main" else f"shard{shard.index}:{w}"

    resources = tuple(
        dataclasses.replace(s, source=f"{HARNESS}:shard{shard.index}" + s.source[len(HARNESS):])
        if s.source == HARNESS or s.source.startswith(HARNESS + ":") else s for s in r.resources)
    return dataclasses.replace(r, worker=",".join(name(w) for w in r.worker.split(",")), resources=resources,
                               sharded=True)


@dataclass(frozen=True, kw_only=True)
class ShardFile:
    """What one shard ran and measured, as written to ``fpt-shard-K-of-N.json``."""

    shard: Shard
    #: ``fpt``: its version; ``suite``: sha256 over the tests collected and their files
    code: Mapping[str, str]
    settings: Mapping[str, Any]
    levels: Mapping[str, tuple[str, ...]]
    results: tuple[RunResult, ...]
    explorations: tuple[dict[str, Any], ...] = ()
    #: each FPT test's outcome in this shard (``passed`` / ``failed`` / ``skipped``)
    outcomes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    incomplete: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    host: str = ""
    #: where it was read from (not written)
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data with a digest over everything else."""
        body: dict[str, Any] = {
            "kind": KIND, "schema": SCHEMA, "shard": self.shard.to_dict(), "code": dict(self.code),
            "settings": dict(self.settings), "levels": {k: list(v) for k, v in self.levels.items()},
            "results": [r.to_dict() for r in self.results], "explorations": list(self.explorations),
            "outcomes": dict(self.outcomes), "incomplete": list(self.incomplete), "notes": list(self.notes),
            "host": self.host,
        }
        body["digest"] = digest(body)
        return body

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str = "") -> ShardFile:
        """Inverse of :meth:`to_dict`; ``MergeError`` for a file that is not a shard's, or edited."""
        where = path or "shard file"
        if not isinstance(d, Mapping) or d.get("kind") != KIND:
            raise MergeError(f"{where}: is not an fpt shard file (kind {KIND!r}); fpt-dod.json is a "
                             "checklist, the shard's results are in fpt-shard-K-of-N.json beside it")
        if d.get("schema") != SCHEMA:
            raise MergeError(f"{where}: shard file schema {d.get('schema')!r}, this fpt reads {SCHEMA}: "
                             "merge with the fpt version that wrote it")
        if d.get("digest") != digest(d):
            raise MergeError(f"{where}: digest does not match the content: the file was edited or cut short")
        unknown = sorted(set(d["settings"]) - {f.name for f in dataclasses.fields(FptConfig)})
        if unknown:
            raise MergeError(f"{where}: settings this fpt does not know ({', '.join(unknown)}): merge with "
                             "the fpt version that wrote it")
        try:
            return cls(shard=Shard.from_dict(d["shard"]), code=dict(d["code"]), settings=dict(d["settings"]),
                       levels={k: tuple(v) for k, v in d["levels"].items()},
                       results=tuple(RunResult.from_dict(r) for r in d["results"]),
                       explorations=tuple(d["explorations"]), outcomes=dict(d["outcomes"]),
                       incomplete=tuple(d["incomplete"]), notes=tuple(d["notes"]), host=str(d["host"]),
                       path=path)
        except (KeyError, TypeError, ValueError) as e:
            raise MergeError(f"{where}: malformed shard file ({type(e).__name__}: {e})") from None


def write(shard_file: ShardFile, directory: str | Path) -> Path:
    """Write the shard file into ``directory`` (atomically: a reader never sees half of it)."""
    from fpt.config import redact

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / file_name(shard_file.shard)
    tmp = path.with_suffix(".json.tmp")
    # Scrubbed like every text fpt emits (the file is uploaded as an artifact); digest after.
    data = redact.deep({k: v for k, v in shard_file.to_dict().items() if k != "digest"})
    data["digest"] = digest(data)
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def collect(paths: Iterable[str | Path]) -> list[Path]:
    """Shard files named directly, or found (``fpt-shard-K-of-N.json``) under the directories given."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(p.rglob(GLOB))
            if not found:
                raise MergeError(f"{p}: no shard file ({GLOB}) in it or below")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise MergeError(f"{p}: no such file or directory")
    # The same file named twice (a directory and a file in it) is one shard, not a duplicate.
    return list(dict.fromkeys(p.resolve() for p in out))


def read(path: str | Path) -> ShardFile:
    """One shard file, checked; ``MergeError`` says what is wrong."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MergeError(f"{p}: cannot be read: {e}") from None
    except json.JSONDecodeError as e:
        raise MergeError(f"{p}: is not valid JSON (truncated or malformed) at line {e.lineno} "
                         f"column {e.colno}: {e.msg}") from None
    return ShardFile.from_dict(data, str(p))


def _runs(f: ShardFile) -> list[tuple[str, int]]:
    """Each run of the shard as (test, call number): how ``merge_by_test`` groups them."""
    seen: dict[str, int] = {}
    out = []
    for r in f.results:
        n = seen.get(r.name, 0)
        seen[r.name] = n + 1
        out.append((r.name, n))
    return out


def problems(shards: Sequence[ShardFile]) -> list[str]:
    """Why these files are not one run cut in N (empty when they are)."""
    if not shards:
        return ["no shard file given"]
    first = shards[0]
    out = []
    for f in shards[1:]:
        if f.shard.session != first.shard.session:
            out.append(f"{f.path} is of session {f.shard.session!r}, {first.path} of "
                       f"{first.shard.session!r}: shards of different sessions")
        if f.shard.total != first.shard.total:
            out.append(f"{f.path} is shard {f.shard.label}, {first.path} shard {first.shard.label}: "
                       "different shard counts")
        for key in sorted(set(f.code) | set(first.code)):
            if f.code.get(key) != first.code.get(key):
                what = "fpt version" if key == "fpt" else "suite (tests collected or their files)"
                out.append(f"{f.path} ran another {what} than {first.path}: {f.code.get(key)!r} vs "
                           f"{first.code.get(key)!r}")
        differ = sorted(k for k in set(f.settings) | set(first.settings)
                        if k not in LOCAL_SETTINGS and f.settings.get(k) != first.settings.get(k))
        if differ:
            out.append(f"{f.path} has other settings than {first.path}: " + ", ".join(
                f"{k} ({f.settings.get(k)!r} vs {first.settings.get(k)!r})" for k in differ))
        if dict(f.levels) != dict(first.levels):
            out.append(f"{f.path} has other DoD levels ([tool.fpt.dod]) than {first.path}")
    if out:
        return out
    by_index: dict[int, list[str]] = {}
    for f in shards:
        by_index.setdefault(f.shard.index, []).append(f.path)
    for k, where in sorted(by_index.items()):
        if len(where) > 1:
            out.append(f"shard {k}/{first.shard.total} given {len(where)} times: {', '.join(where)}")
    missing = [k for k in range(1, first.shard.total + 1) if k not in by_index]
    if missing:
        named = ", ".join(f"{k}/{first.shard.total}" for k in missing)
        out.append(f"shard{'s' if len(missing) > 1 else ''} {named} of session {first.shard.session!r} "
                   "missing (given: "
                   f"{', '.join(f'{k}/{first.shard.total}' for k in sorted(by_index))})")
    return out


@dataclass(frozen=True, kw_only=True)
class StartSkew:
    """How far apart the shards started one run: overlap across shards is never claimed."""

    test: str
    call: int
    #: each shard's wall-clock start of the run's load, by shard index
    starts: Mapping[int, float]
    #: overlapping pairs of different users' answers, counted within each shard and summed
    overlap_pairs_within_shards: int

    @property
    def seconds(self) -> float:
        """Latest start minus earliest."""
        return max(self.starts.values()) - min(self.starts.values()) if self.starts else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"test": self.test, "call": self.call, "skew_s": round(self.seconds, 6),
                "starts": {str(k): v for k, v in sorted(self.starts.items())},
                "overlap_pairs_within_shards": self.overlap_pairs_within_shards,
                "overlap_across_shards": None}


@dataclass(frozen=True, kw_only=True)
class Merged:
    """Every shard of a session as one session's results, ready to judge."""

    session: str
    shards: tuple[ShardFile, ...]
    config: FptConfig
    levels: Mapping[str, tuple[str, ...]]
    results: tuple[RunResult, ...]
    outcomes: Mapping[str, int]
    explorations: tuple[dict[str, Any], ...]
    incomplete: tuple[str, ...]
    notes: tuple[str, ...]
    skew: tuple[StartSkew, ...]

    def to_dict(self) -> dict[str, Any]:
        """What ``fpt-merge.json`` holds: the session, its shards and the start skew of each run."""
        return {"session": self.session, "total": self.shards[0].shard.total,
                "shards": [{"index": f.shard.index, "file": f.path, "host": f.host, "code": dict(f.code)}
                           for f in self.shards],
                "skew": [s.to_dict() for s in self.skew], "incomplete": list(self.incomplete)}


def merge(shards: Sequence[ShardFile]) -> Merged:
    """The shards folded into one session's results; ``MergeError`` if they are not one run."""
    from fpt.judge.merge import merge_by_test

    wrong = problems(shards)
    if wrong:
        raise MergeError("\n".join(wrong))
    shards = sorted(shards, key=lambda f: f.shard.index)
    first = shards[0]
    incomplete = [f"shard {f.shard.label} ({f.path}): {why}" for f in shards for why in f.incomplete]
    runs = {f.shard.index: _runs(f) for f in shards}
    every = list(dict.fromkeys(k for f in shards for k in runs[f.shard.index]))
    for key in every:
        lacking = [f.shard.label for f in shards if key not in runs[f.shard.index]]
        if lacking:  # like a worker that went down: the run lacks a part and cannot pass
            incomplete.append(f"run {key[0]} (call {key[1] + 1}) is missing from shard "
                              f"{', '.join(lacking)}")
    merged = merge_by_test(r for f in shards for r in f.results)
    lacking_runs = {key for key in every if any(key not in runs[f.shard.index] for f in shards)}
    merged = [dataclasses.replace(r, incomplete=True) if key in lacking_runs else r
              for key, r in zip(_keys(merged), merged, strict=True)]
    skew = []
    for key, r in zip(_keys(merged), merged, strict=True):
        starts = {f.shard.index: p.started_at for f in shards
                  for k, p in zip(runs[f.shard.index], f.results, strict=True) if k == key}
        skew.append(StartSkew(test=key[0], call=key[1], starts=starts,
                              overlap_pairs_within_shards=r.evidence.overlap_pairs))
    outcomes: dict[str, str] = {}
    for f in shards:
        for test, outcome in f.outcomes.items():
            if outcome in _RANK and _RANK[outcome] >= _RANK.get(outcomes.get(test, "passed"), 0):
                outcomes[test] = outcome
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in outcomes.values():
        counts[outcome] += 1
    cfg = config_of({**first.settings, "shard": ""})
    return Merged(session=first.shard.session, shards=tuple(shards), config=cfg, levels=dict(first.levels),
                  results=tuple(merged), outcomes=counts,
                  explorations=tuple(e for f in shards for e in f.explorations),
                  incomplete=tuple(dict.fromkeys(incomplete)),
                  notes=tuple(dict.fromkeys(n for f in shards for n in f.notes)), skew=tuple(skew))


def _keys(results: Sequence[RunResult]) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    out = []
    for r in results:
        n = seen.get(r.name, 0)
        seen[r.name] = n + 1
        out.append((r.name, n))
    return out


def judge(merged: Merged, out: str | Path) -> FptSession:
    """Judge the merged run as one process's session would be, and write every report to ``out``
    (the checklist, Markdown, HTML, CSV, and ``fpt-merge.json`` with the start skew)."""
    from fpt.evidence.explore import ExploreRecord
    from fpt.session import FptSession

    state = FptSession(config=dataclasses.replace(merged.config, report_dir=str(out)),
                       levels=dict(merged.levels), results=list(merged.results),
                       explorations=[ExploreRecord.from_dict(e) for e in merged.explorations],
                       incomplete=list(merged.incomplete), outcomes=dict(merged.outcomes),
                       notes=list(merged.notes))
    state.finish()
    path = Path(out) / MERGE_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    state.written.append(path)
    return state
