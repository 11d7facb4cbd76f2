"""The run result: plain data that crosses processes, merges, and is judged by checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fpt.engine import EngineStats
from fpt.metrics import Metrics, StepMetrics
from fpt.records import FindingLog
from fpt.thresholds import Threshold, ThresholdOutcome, evaluate

SCHEMA = 1


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
    #: data-swap checks that were active: canary_scan, ownership, cross_user_probes
    checks: tuple[str, ...] = ()
    #: plain counters: scan.bodies, scan.bytes, scan.skipped, ownership.checked,
    #: probes.tried / denied / leaked / errors, overlap.request_pairs
    counters: dict[str, int] = field(default_factory=dict, compare=False)
    #: the single-user phase run first: iterations, passed, findings by kind, failures
    alone: dict[str, Any] | None = None
    #: scale events and phases (before / during / after), when the run had events
    continuity: dict[str, Any] | None = None
    #: True when part of the run is missing (a crashed xdist worker): it cannot pass
    incomplete: bool = False

    SWAP_KINDS = ("data_swap", "foreign_canary", "cross_user")

    @property
    def swaps(self) -> int:
        """Findings of a user seeing another user's data."""
        return sum(self.findings.counts.get(k, 0) for k in self.SWAP_KINDS)

    @property
    def swap_verdict(self) -> str:
        """fails_alone, fails_under_load, no_overlap (weak evidence), passes, or not_checked.

        A clean run in which no two requests were ever in flight together could not have
        shown a swap: that is ``no_overlap``, never ``passes``.
        """
        if self.alone is not None and not self.alone.get("passed", False):
            return "fails_alone"
        if self.swaps:
            return "fails_under_load"
        if not self.checks:
            return "not_checked"
        if self.counters.get("overlap.request_pairs", 0) == 0:
            return "no_overlap"
        return "passes"

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
        """Measure and judge one threshold on this result."""
        if th.metric == "throughput":
            return evaluate(th, self.throughput_ratio if self.engine.planned else None,
                            "no iteration was due")
        if th.metric == "dropped":
            return evaluate(th, self.dropped_ratio if self.engine.planned else None, "no iteration was due")
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
            if k in ("engine", "metrics", "findings"):
                v = v.to_dict()
            elif k == "thresholds":
                v = [t.to_dict() for t in v]
            elif k == "checks":
                v = list(v)
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
        d["checks"] = tuple(d.get("checks", ()))
        return cls(**d)

    def failures(self) -> list[str]:
        """Readable reasons this run fails its checks (empty when it passes)."""
        out = [t.detail for t in self.thresholds if not t.passed]
        for kind, n in sorted(self.findings.counts.items()):
            first = self.findings.of(kind)
            example = f"; e.g. {first[0].one_line()}" if first else ""
            out.append(f"{n} {kind} finding{'s' if n != 1 else ''}{example}")
        if self.engine.crashed:
            out.append(f"{self.engine.crashed} iterations crashed inside fpt")
        if self.engine.started == 0:
            out.append("no iteration started: nothing was tested")
        if self.alone is not None and not self.alone.get("passed", False):
            out.append("fails for one user alone (a functional bug, not a concurrency one): "
                       + "; ".join(self.alone.get("failures", [])[:3]))
        if self.incomplete:
            out.append("incomplete: part of the run is missing (a worker crashed or was interrupted)")
        return out
