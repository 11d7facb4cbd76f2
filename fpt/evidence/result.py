"""The run result: plain data that crosses processes, merges, and is judged in :mod:`fpt.judge.verdict`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fpt.config.thresholds import ThresholdOutcome
from fpt.evidence.checks import Evidence
from fpt.evidence.continuity import ContinuityEvidence
from fpt.evidence.coverage import ApiCoverage
from fpt.evidence.engine import EngineStats
from fpt.evidence.findings import SWAP_KINDS, FindingLog
from fpt.evidence.loadtypes import LoadEvidence
from fpt.evidence.metrics import Metrics
from fpt.evidence.narrowing import Weakening
from fpt.evidence.resources import ResourceSeries

SCHEMA = 3
"""3: continuity is a typed record (ContinuityEvidence), ``workers`` counts merged parts."""


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """Everything one ``fpt_load`` call measured and found."""

    name: str
    flow: str
    profile: str
    target: str
    shape: str
    target_rate: float
    duration: float
    users: int
    seed: int
    arrivals: str
    engine: EngineStats
    metrics: Metrics = field(compare=False)
    findings: FindingLog = field(compare=False)
    thresholds: tuple[ThresholdOutcome, ...] = ()
    first_user: int = 0
    worker: str = "main"
    #: how many processes' parts this result merges (xdist workers, shards' processes); 1 when not merged
    workers: int = 1
    #: the parts ran as shards (``--fpt-shard``, merged by ``fpt merge``), not xdist workers of one session
    sharded: bool = False
    started_at: float = 0.0
    broke_at_rate: float | None = None
    phase: str = "load"
    #: what the checks inspected: per step, overlap, scan, probes, the single-user phase
    evidence: Evidence = field(default_factory=Evidence, compare=False)
    #: scale events and phases (before / during / after), when the run had events
    continuity: ContinuityEvidence | None = None
    #: True when part of the run is missing (a crashed xdist worker): it cannot pass
    incomplete: bool = False
    #: the service's CPU / RSS / fds once a second, and fpt's own process (source ``fpt``)
    resources: tuple[ResourceSeries, ...] = field(default=(), compare=False)
    #: stress (stairs and recovery), spike and volume evidence, when the run was of that kind
    load: LoadEvidence = field(default_factory=LoadEvidence, compare=False)
    #: per operation, when the flows were derived from an OpenAPI document (``fpt_load.openapi``)
    coverage: ApiCoverage | None = field(default=None, compare=False)
    #: settings of this run that narrowed a check (fpt.evidence.narrowing), with what they hid
    weakened: tuple[Weakening, ...] = field(default=(), compare=False)
    #: iterations that refused to stop when cancelled and were abandoned (fpt.run.bounds)
    abandoned: int = 0

    @property
    def swaps(self) -> int:
        """Responses that carried another user's data (ownership mismatch or foreign canary)."""
        return sum(self.findings.counts.get(k, 0) for k in SWAP_KINDS)

    @property
    def achieved_rate(self) -> float:
        """Iterations started per second over the run's window."""
        return self.engine.started / self.engine.window if self.engine.window else 0.0

    @property
    def throughput_ratio(self) -> float:
        """Achieved over target rate."""
        return self.achieved_rate / self.target_rate if self.target_rate else 0.0

    @property
    def dropped_ratio(self) -> float:
        """Dropped over planned iterations."""
        return self.engine.dropped / self.engine.planned if self.engine.planned else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready)."""
        d: dict[str, Any] = {"schema": SCHEMA}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if k in ("engine", "metrics", "findings", "evidence", "load"):
                v = v.to_dict()
            elif k == "continuity":
                v = v.to_dict() if v is not None else None
            elif k == "resources":
                v = [r.to_dict() for r in v]
            elif k in ("thresholds", "weakened"):
                v = [t.to_dict() for t in v]
            elif k == "coverage":
                v = v.to_dict() if v is not None else None
            d[k] = v
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        if d.pop("schema", None) != SCHEMA:
            raise ValueError(f"run result schema must be {SCHEMA}")
        d["engine"] = EngineStats.from_dict(d["engine"])
        d["metrics"] = Metrics.from_dict(d["metrics"])
        d["findings"] = FindingLog.from_dict(d["findings"])
        d["thresholds"] = tuple(ThresholdOutcome.from_dict(t) for t in d["thresholds"])
        d["evidence"] = Evidence.from_dict(d["evidence"])
        d["resources"] = tuple(ResourceSeries.from_dict(r) for r in d.get("resources", ()))
        d["load"] = LoadEvidence.from_dict(d["load"]) if d.get("load") else LoadEvidence()
        d["coverage"] = ApiCoverage.from_dict(d["coverage"]) if d.get("coverage") else None
        d["weakened"] = tuple(Weakening.from_dict(w) for w in d.get("weakened", ()))
        d["continuity"] = ContinuityEvidence.from_dict(d["continuity"]) if d.get("continuity") else None
        return cls(**d)
