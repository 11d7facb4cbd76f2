"""Counters and histograms per step, per flow and per second; all merge exactly.

Bounded whatever the run's length: the time series holds at most
:data:`MAX_SERIES_BUCKETS` buckets (one second each until then; past it, neighbours
merge pairwise and every bucket covers twice the seconds, see :attr:`Metrics.resolution`),
and failures at most :data:`MAX_FAILURE_KEYS` distinct keys (the rest counted together).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fpt.config.hist import COARSE, Histogram
from fpt.evidence.routes import endpoint_key

MAX_SERIES_BUCKETS = 3600
"""Buckets of the time series: an hour at one second each (~0.8 KB per step and bucket)."""
MAX_FAILURE_KEYS = 200
"""Distinct (step, status, message) failures kept per run; the rest are counted together."""
OTHER_MESSAGES = "(other messages)"
MAX_ENDPOINTS = 200
"""Distinct "METHOD /route/{id}" endpoints kept per run; the rest are counted together."""
OTHER_ENDPOINTS = "(other endpoints)"


class StepMetrics:
    """Latency histogram and outcome counts of one step (or of the flow, or of requests)."""

    __slots__ = ("bytes_in", "count", "errors", "hist")

    def __init__(self, digits: int | None = None, *, sparse: bool = False) -> None:
        self.hist = Histogram(sparse=sparse) if digits is None else Histogram(digits, sparse=sparse)
        self.count = 0
        self.errors: Counter[str] = Counter()
        self.bytes_in = 0

    def record(self, latency_us: float, error: str | None = None, nbytes: int = 0) -> None:
        """Count one outcome."""
        self.hist.record(latency_us)
        self.count += 1
        if error:
            self.errors[error] += 1
        self.bytes_in += nbytes

    @property
    def failed(self) -> int:
        """Outcomes that were errors of any kind."""
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        """Failed share of all outcomes (0 when nothing ran)."""
        return self.failed / self.count if self.count else 0.0

    def merge(self, other: StepMetrics) -> None:
        """Add ``other`` into this one."""
        self.hist.merge(other.hist)
        self.count += other.count
        self.errors.update(other.errors)
        self.bytes_in += other.bytes_in

    def summary(self) -> dict[str, Any]:
        """Counts, error rate and latency percentiles (ms) for reports."""
        s = {k: v / 1000.0 for k, v in self.hist.summary().items()}
        return {"count": self.count, "failed": self.failed, "error_rate": self.error_rate,
                "errors": dict(self.errors), "bytes_in": self.bytes_in, "ms": s}

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"hist": self.hist.to_dict(), "count": self.count, "errors": dict(self.errors),
                "bytes_in": self.bytes_in}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, sparse: bool = False) -> StepMetrics:
        """Inverse of :meth:`to_dict`."""
        m = cls()
        m.hist = Histogram.from_dict(data["hist"], sparse=sparse)
        m.count = data["count"]
        m.errors.update(data["errors"])
        m.bytes_in = data["bytes_in"]
        return m


class Metrics:
    """Everything counted during one run: steps, the flow, requests, and per-second series."""

    def __init__(self) -> None:
        self.steps: dict[str, StepMetrics] = {}
        self.flow = StepMetrics()
        self.requests = StepMetrics()
        #: phase name (before / during:N / after:N around scale events) -> iterations
        self.phases: dict[str, StepMetrics] = {}
        #: first second of a bucket -> step name (``"*"`` for requests, ``"@flow"`` for iterations)
        #: -> metrics of the ``resolution`` seconds from there
        self.series: dict[int, dict[str, StepMetrics]] = {}
        #: seconds per bucket of ``series``: 1, doubled each time the buckets would pass the cap
        self.resolution = 1
        #: (step, status or exception, message) -> [count, first seen in run seconds]
        self.failures: dict[tuple[str, str, str], list[float]] = {}
        #: second -> iterations the load shape planned in it (the target line of the report's plot)
        self.targets: dict[int, float] = {}
        #: "METHOD /route/{id}" -> every request to it (ids folded: fpt.evidence.routes.route_template)
        self.endpoints: dict[str, StepMetrics] = {}

    def _second(self, t: float, name: str) -> StepMetrics:
        key = int(t)
        if self.resolution > 1:
            key -= key % self.resolution
        sec = self.series.get(key)
        if sec is None:
            if len(self.series) >= MAX_SERIES_BUCKETS:
                self._coarsen(self.resolution * 2)
                key -= key % self.resolution
            sec = self.series.get(key)
            if sec is None:
                sec = self.series[key] = {}
        m = sec.get(name)
        if m is None:
            m = sec[name] = StepMetrics(COARSE, sparse=True)
        return m

    def _coarsen(self, resolution: int) -> None:
        """Merge the series' buckets into buckets of ``resolution`` seconds (a multiple of the current)."""
        if resolution <= self.resolution:
            return
        out: dict[int, dict[str, StepMetrics]] = {}
        for sec in sorted(self.series):
            key = sec - sec % resolution
            names = self.series[sec]
            mine = out.get(key)
            if mine is None:
                out[key] = names
                continue
            for name, m in names.items():
                held = mine.get(name)
                if held is None:
                    mine[name] = m
                else:
                    held.merge(m)
        self.series, self.resolution = out, resolution

    def bucket(self, sec: float) -> int:
        """The first second of the series' bucket that holds run second ``sec``."""
        key = int(sec)
        return key - key % self.resolution

    def window(self, lo: float, hi: float) -> list[dict[str, StepMetrics]]:
        """The series' buckets for the whole seconds ``[lo, hi)``, each once.

        At one second a bucket, the seconds in it; coarser, the buckets starting in it,
        or the one bucket holding ``lo`` when none does (a window shorter than a bucket).
        """
        res = self.resolution
        if res == 1:
            return [b for sec in range(int(lo), int(hi)) if (b := self.series.get(sec)) is not None]
        first = -(-int(lo) // res) * res
        keys = range(first, int(hi), res)
        if not keys:
            keys = range(self.bucket(lo), self.bucket(lo) + 1)
        return [b for k in keys if (b := self.series.get(k)) is not None]

    def step(self, name: str, t: float, latency_us: float, error: str | None) -> None:
        """Record one transaction (a ``user.step``) ending at run time ``t``."""
        m = self.steps.get(name)
        if m is None:
            m = self.steps[name] = StepMetrics()
        m.record(latency_us, error)
        self._second(t, name).record(latency_us, error)

    def request(self, t: float, latency_us: float, error: str | None, nbytes: int) -> None:
        """Record one HTTP request ending at run time ``t``."""
        self.requests.record(latency_us, error, nbytes)
        self._second(t, "*").record(latency_us, error, nbytes)

    def endpoint(self, method: str, path: str, latency_us: float, error: str | None) -> None:
        """Record one HTTP request by method and route template (ids folded)."""
        key = endpoint_key(method, path)
        m = self.endpoints.get(key)
        if m is None:
            if len(self.endpoints) >= MAX_ENDPOINTS:
                key = OTHER_ENDPOINTS
                m = self.endpoints.get(key)
            if m is None:
                m = self.endpoints[key] = StepMetrics()
        m.record(latency_us, error)

    def failure(self, step: str, status: str, message: str, t: float) -> None:
        """Count one failed request by step, status (``HTTP 503``) or exception, and message."""
        key = (step, status, message)
        f = self.failures.get(key)
        if f is None:
            if len(self.failures) >= MAX_FAILURE_KEYS:
                # Bounded like findings: a soak against a broken service stays flat in memory.
                key = (step, status, OTHER_MESSAGES)
                f = self.failures.get(key)
            if f is None:
                f = self.failures[key] = [0, t]
        f[0] += 1
        f[1] = min(f[1], t)

    def iteration(self, t: float, latency_us: float, error: str | None, phase: str = "") -> None:
        """Record one flow iteration ending at run time ``t`` (in ``phase``, when scaling)."""
        self.flow.record(latency_us, error)
        if phase:
            m = self.phases.get(phase)
            if m is None:
                m = self.phases[phase] = StepMetrics()
            m.record(latency_us, error)
        self._second(t, "@flow").record(latency_us, error)

    def merge(self, other: Metrics) -> None:
        """Add ``other`` into this one (second by second, step by step)."""
        for name, m in other.steps.items():
            self.steps.setdefault(name, StepMetrics()).merge(m)
        self.flow.merge(other.flow)
        self.requests.merge(other.requests)
        for name, m in other.phases.items():
            self.phases.setdefault(name, StepMetrics()).merge(m)
        # Both at the coarser resolution: a bucket never mixes into two.
        self._coarsen(other.resolution)
        res = self.resolution
        for sec, names in other.series.items():
            mine = self.series.setdefault(sec - sec % res, {})
            for name, m in names.items():
                mine.setdefault(name, StepMetrics(COARSE, sparse=True)).merge(m)
        while len(self.series) > MAX_SERIES_BUCKETS:
            self._coarsen(self.resolution * 2)
        for name, m in other.endpoints.items():
            self.endpoints.setdefault(name, StepMetrics()).merge(m)
        for sec, planned in other.targets.items():  # workers' shares add up to the whole
            self.targets[sec] = self.targets.get(sec, 0.0) + planned
        for key, (n, first) in other.failures.items():
            f = self.failures.setdefault(key, [0, first])
            f[0] += n
            f[1] = min(f[1], first)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "steps": {k: v.to_dict() for k, v in self.steps.items()},
            "flow": self.flow.to_dict(),
            "requests": self.requests.to_dict(),
            "phases": {k: v.to_dict() for k, v in self.phases.items()},
            "series": {str(s): {k: v.to_dict() for k, v in d.items()}
                       for s, d in sorted(self.series.items())},
            "resolution": self.resolution,
            "failures": [[*k, int(n), first] for k, (n, first) in self.failures.items()],
            "targets": {str(s): v for s, v in sorted(self.targets.items())},
            "endpoints": {k: v.to_dict() for k, v in self.endpoints.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        """Inverse of :meth:`to_dict`."""
        m = cls()
        m.steps = {k: StepMetrics.from_dict(v) for k, v in data["steps"].items()}
        m.flow = StepMetrics.from_dict(data["flow"])
        m.requests = StepMetrics.from_dict(data["requests"])
        m.phases = {k: StepMetrics.from_dict(v) for k, v in data.get("phases", {}).items()}
        m.series = {int(s): {k: StepMetrics.from_dict(v, sparse=True) for k, v in d.items()}
                    for s, d in data["series"].items()}
        m.resolution = int(data.get("resolution", 1))
        m.targets = {int(s): float(v) for s, v in data.get("targets", {}).items()}
        m.endpoints = {k: StepMetrics.from_dict(v) for k, v in data.get("endpoints", {}).items()}
        m.failures = {(step, status, msg): [n, first]
                      for step, status, msg, n, first in data.get("failures", [])}
        return m
