"""Shards: one process of a run spread over machines by an engine squads already have.

A shard ``K/N`` (1-based) drives 1/N of every run's rate with the K-th disjoint slice of the
users — the same slicing xdist's ``--dist each`` workers use (:class:`fpt.load.LoadRunner`'s
``split``), so identities, canaries and the seed are those of the unsharded run and every
shard's scans still know every user. Its checklist is *partial*: it never passes a gate alone;
``fpt merge`` folds every shard's results into one run, judged as one process's would be.

Where ``K/N`` comes from, strongest first: ``--fpt-shard``, ``FPT_SHARD``, ini ``fpt_shard``,
``shard`` in ``[tool.fpt]``, then the engines' own conventions (:func:`engine_shard`): a
Kubernetes Indexed Job's ``JOB_COMPLETION_INDEX`` (0-based) with ``FPT_SHARD_TOTAL``, GitLab's
``CI_NODE_INDEX`` / ``CI_NODE_TOTAL`` (``parallel:``, 1-based).

Nothing here imports pytest or the run layers: parsing and planning only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fpt.config.errors import ConfigError

SHARD_FORM = "be K/N with whole numbers 1 <= K <= N (this is shard K of N), such as 1/4"
START_FORM = ("be a time in ISO 8601 with a zone (2025-05-01T12:00:00Z, 2025-05-01T14:00:00+02:00) "
              "or seconds since the epoch (1746100800)")
SESSION_FORM = "be a session id of letters, digits and - _ . : (at most 128)"
MAX_SHARDS = 10_000
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_SESSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(frozen=True, kw_only=True)
class Shard:
    """Shard ``index`` of ``total`` (1-based), and the session every shard of the run shares."""

    index: int
    total: int
    session: str = ""

    @property
    def label(self) -> str:
        """``2/4``."""
        return f"{self.index}/{self.total}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"index": self.index, "total": self.total, "session": self.session}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Shard:
        """Inverse of :meth:`to_dict`."""
        return cls(index=int(d["index"]), total=int(d["total"]), session=str(d.get("session", "")))


def parse_shard(value: Any) -> str:
    """``"K/N"`` normalised (``""``: not sharded); ``ValueError`` for anything else."""
    if isinstance(value, bool):
        raise ValueError(SHARD_FORM)
    s = str(value).strip()
    if not s:
        return ""
    m = _SHARD.match(s)
    if not m:
        raise ValueError(SHARD_FORM)
    k, n = int(m.group(1)), int(m.group(2))
    if not 1 <= k <= n <= MAX_SHARDS:
        raise ValueError(SHARD_FORM)
    return f"{k}/{n}"


def split_of(text: str) -> tuple[int, int] | None:
    """``(K, N)`` of a normalised shard value, None when not sharded."""
    if not text:
        return None
    k, n = text.split("/")
    return int(k), int(n)


def parse_start_at(value: Any) -> float | None:
    """Seconds since the epoch from an ISO time with a zone or a number (``""``: no common start)."""
    if isinstance(value, bool):
        raise ValueError(START_FORM)
    if isinstance(value, int | float):
        f = float(value)
    else:
        s = str(value).strip()
        if not s:
            return None
        try:
            f = float(s)
        except ValueError:
            try:
                when = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(START_FORM) from None
            if when.tzinfo is None:  # a time without a zone means something else on every runner
                raise ValueError(START_FORM) from None
            f = when.timestamp()
    if not 0 < f < 1e11:
        raise ValueError(START_FORM)
    return f


def parse_session(value: Any) -> str:
    """A session id as given (``""``: none)."""
    s = str(value).strip()
    if s and not _SESSION.match(s):
        raise ValueError(SESSION_FORM)
    return s


def _whole(name: str, value: str, *, lowest: int) -> int:
    if not re.fullmatch(r"\s*\d+\s*", value) or int(value) < lowest:
        raise ConfigError(name, value, f"be a whole number >= {lowest} (read as the shard index or "
                          "total)", "environment")
    return int(value)


def engine_shard(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``("K/N", where)`` read from an engine's own variables, None when none is set.

    Kubernetes Indexed Job: ``JOB_COMPLETION_INDEX`` (0-based) with ``FPT_SHARD_TOTAL`` (the
    Job's ``completions``); ``JOB_COMPLETION_INDEX`` alone is left alone (an Indexed Job may
    index something else). GitLab ``parallel:``: ``CI_NODE_INDEX`` (1-based) / ``CI_NODE_TOTAL``.
    A total without an index is a mistake: this process would drive the whole rate.
    """
    total = environ.get("FPT_SHARD_TOTAL", "").strip()
    k8s = environ.get("JOB_COMPLETION_INDEX", "").strip()
    if total:
        n = _whole("FPT_SHARD_TOTAL", total, lowest=1)
        if not k8s:
            raise ConfigError("FPT_SHARD_TOTAL", total, "come with JOB_COMPLETION_INDEX (a Kubernetes "
                              "Indexed Job sets it); or give the shard as FPT_SHARD=K/N", "environment")
        k = _whole("JOB_COMPLETION_INDEX", k8s, lowest=0) + 1
        if k > n:
            raise ConfigError("JOB_COMPLETION_INDEX", k8s, f"be below FPT_SHARD_TOTAL ({n}): set it "
                              "to the Job's completions", "environment")
        return f"{k}/{n}", f"JOB_COMPLETION_INDEX={k8s} and FPT_SHARD_TOTAL={n}"
    index, count = environ.get("CI_NODE_INDEX", "").strip(), environ.get("CI_NODE_TOTAL", "").strip()
    if index or count:
        if not (index and count):
            missing = "CI_NODE_TOTAL" if index else "CI_NODE_INDEX"
            raise ConfigError(missing, "", "be set with the other (GitLab parallel: sets both)",
                              "environment")
        k, n = _whole("CI_NODE_INDEX", index, lowest=1), _whole("CI_NODE_TOTAL", count, lowest=1)
        if k > n:
            raise ConfigError("CI_NODE_INDEX", index, f"be at most CI_NODE_TOTAL ({n})", "environment")
        return f"{k}/{n}", f"CI_NODE_INDEX={k} and CI_NODE_TOTAL={n}"
    return None


def engine_session(environ: Mapping[str, str]) -> str:
    """The id every shard of one CI run sees alike ("" when the engine gives none)."""
    if environ.get("GITHUB_RUN_ID"):
        return f"github-{environ['GITHUB_RUN_ID']}-{environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    if environ.get("CI_PIPELINE_ID"):
        return f"gitlab-{environ['CI_PIPELINE_ID']}"
    return ""


def session_of(shard_session: str, start_at: float | None, environ: Mapping[str, str]) -> str:
    """The shards' common session: given, else the engine's run, else the common start."""
    if shard_session:
        return shard_session
    return engine_session(environ) or (f"start-{start_at:.3f}" if start_at is not None else "")


def combined_split(shard: str, worker: tuple[int, int] | None) -> tuple[int, int] | None:
    """``(index, count)`` of this process's slice: shard ``K/N`` times xdist ``--dist each``'s.

    Shard K's W workers take slices ``(K-1)*W .. K*W-1`` of ``N*W``: the same slicing whether
    one machine runs xdist workers, shards, or both.
    """
    kn = split_of(shard)
    if kn is None:
        return worker
    k, n = kn
    if worker is None:
        return k - 1, n
    i, w = worker
    return (k - 1) * w + i, n * w


def nonce_of(session: str) -> int:
    """The identity nonce shards derive from their session (every shard the same, never 0)."""
    return int(hashlib.sha256(session.encode()).hexdigest()[:8], 16) % 10**9 + 1
