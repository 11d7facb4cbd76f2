"""The run result: plain data that crosses processes, merges, and is judged by checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fpt.engine import EngineStats
from fpt.evidence import Evidence
from fpt.loadtypes import LoadEvidence, service_rss_growth, window_outcome
from fpt.metrics import Metrics, StepMetrics
from fpt.narrowing import Weakening
from fpt.records import SWAP_KINDS, FindingLog
from fpt.resources import ResourceSeries
from fpt.thresholds import GROWTH_METRICS, Threshold, ThresholdOutcome, evaluate

SCHEMA = 2


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
    started_at: float = 0.0
    broke_at_rate: float | None = None
    phase: str = "load"
    #: what the checks inspected: per step, overlap, scan, probes, the single-user phase
    evidence: Evidence = field(default_factory=Evidence, compare=False)
    #: scale events and phases (before / during / after), when the run had events
    continuity: dict[str, Any] | None = None
    #: True when part of the run is missing (a crashed xdist worker): it cannot pass
    incomplete: bool = False
    #: the service's CPU / RSS / fds once a second, and fpt's own process (source ``fpt``)
    resources: tuple[ResourceSeries, ...] = field(default=(), compare=False)
    #: stress (stairs and recovery), spike and volume evidence, when the run was of that kind
    load: LoadEvidence = field(default_factory=LoadEvidence, compare=False)
    #: settings of this run that narrowed a check (fpt.narrowing), with what they hid
    weakened: tuple[Weakening, ...] = field(default=(), compare=False)
    #: iterations that refused to stop when cancelled and were abandoned (fpt.bounds)
    abandoned: int = 0

    @property
    def swaps(self) -> int:
        """Responses that carried another user's data (ownership mismatch or foreign canary)."""
        return sum(self.findings.counts.get(k, 0) for k in SWAP_KINDS)

    @property
    def swap_verdict(self) -> str:
        """The data-swap verdict in one word (see :func:`fpt.judge.swap_verdict`)."""
        from fpt.judge import swap_verdict

        return swap_verdict(self)

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

    def measure(self, th: Threshold) -> ThresholdOutcome:
        """Measure and judge one threshold on this result.

        A stress run that broke is expected to: its latency, error and throughput
        thresholds speak for the stairs that held (the break and the recovery are
        judged as stress evidence).
        """
        st = self.load.stress
        if st is not None and st.broke and th.metric not in GROWTH_METRICS:
            held = [s for s in st.stairs if not s.broke]
            end = max((s.start + s.seconds for s in held), default=0.0)
            return window_outcome(self.metrics, 0.0, end, th, due=sum(s.rate * s.seconds for s in held))
        if th.metric == "throughput":
            return evaluate(th, self.throughput_ratio if self.engine.planned else None,
                            "no iteration was due")
        if th.metric == "dropped":
            return evaluate(th, self.dropped_ratio if self.engine.planned else None, "no iteration was due")
        if th.metric == "service_rss_growth":
            growth, why = service_rss_growth(self.resources, self.load.soak_min_span)
            return evaluate(th, growth, why)
        if th.metric == "volume_p90_growth":
            vol = self.load.volume
            growth = vol.growth(th.step) if vol is not None else None
            return evaluate(th, growth, "no volume run (seed_volume=)" if vol is None
                            else vol.describe() if growth is None else "")
        m: StepMetrics | None = self.metrics.steps.get(th.step) if th.step else self.metrics.flow
        if m is None or m.count == 0:
            what = f"step '{th.step}' never ran" if th.step else "no iteration completed"
            return evaluate(th, None, what)
        if th.metric == "errors":
            return evaluate(th, m.error_rate, "")
        if th.metric == "max":
            return evaluate(th, m.hist.max / 1000.0, "")
        if th.metric == "mean":
            return evaluate(th, m.hist.mean / 1000.0, "")
        return evaluate(th, m.hist.percentile(float(th.metric[1:])) / 1000.0, "")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready)."""
        d: dict[str, Any] = {"schema": SCHEMA}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if k in ("engine", "metrics", "findings", "evidence", "load"):
                v = v.to_dict()
            elif k == "resources":
                v = [r.to_dict() for r in v]
            elif k in ("thresholds", "weakened"):
                v = [t.to_dict() for t in v]
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
        d["weakened"] = tuple(Weakening.from_dict(w) for w in d.get("weakened", ()))
        return cls(**d)

    def failures(self) -> list[str]:
        """Readable reasons this run fails (empty when it passes): see :func:`fpt.judge.failures`."""
        from fpt.judge import failures

        return failures(self)
