"""Resource series: the service's and fpt's own CPU, RSS and open fds once a second (mergeable)."""


from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

BASELINE_SECONDS = 60.0
"""Length of the window :attr:`ResourceSeries.rss_first_minute` averages."""


HARNESS = "fpt"
"""Source name of fpt's own process series."""


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


class ResourceSummary(TypedDict):
    """A series' summary figures (:meth:`ResourceSeries.summary`), ``None`` where unknown."""

    source: str
    samples: int
    gaps: int
    errors: int
    gone_at: float | None
    thinned: int
    rss_first_minute: float | None
    rss_end: int | None
    rss_growth: float | None
    rss_slope_bytes_per_min: float | None
    cpu_mean: float | None
    cpu_max: float | None
    fds_max: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ResourceSample:
    """One reading at ``t`` seconds since the run started; ``None`` where unknown."""

    t: float
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    open_fds: int | None = None

    @property
    def known(self) -> int:
        """How many of the three values this sample holds (0: a gap)."""
        return sum(v is not None for v in (self.cpu_percent, self.rss_bytes, self.open_fds))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"t": self.t, "cpu_percent": self.cpu_percent, "rss_bytes": self.rss_bytes,
                "open_fds": self.open_fds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceSample:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class ResourceSeries:
    """Samples of one source (``pid:1234``, a redacted URL or ``fpt``) over a run.

    ``started_at`` is the wall-clock time of ``t == 0``; it lines up series that
    workers started at slightly different moments when they are merged.
    """

    source: str
    samples: tuple[ResourceSample, ...] = ()
    errors: int = 0
    started_at: float = 0.0
    gone_at: float | None = None
    #: samples merged into their neighbours to keep the series within MAX_SAMPLES
    thinned: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; samples as ``[t, cpu_percent, rss_bytes, open_fds]`` rows (a soak has many)."""
        return {"source": self.source, "errors": self.errors, "started_at": self.started_at,
                "gone_at": self.gone_at, "thinned": self.thinned,
                "samples": [[s.t, s.cpu_percent, s.rss_bytes, s.open_fds] for s in self.samples]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceSeries:
        """Inverse of :meth:`to_dict`."""
        samples = tuple(ResourceSample(t=t, cpu_percent=c, rss_bytes=r, open_fds=f)
                        for t, c, r, f in data["samples"])
        return cls(source=data["source"], samples=samples, errors=data["errors"],
                   started_at=data["started_at"], gone_at=data["gone_at"], thinned=data.get("thinned", 0))

    def _rss(self) -> list[tuple[float, int]]:
        return [(s.t, s.rss_bytes) for s in self.samples if s.rss_bytes is not None]

    @property
    def rss_first_minute(self) -> float | None:
        """Mean RSS over the first minute of known readings: the baseline growth is judged against.

        A series shorter than two minutes averages its first half instead, so the
        baseline never overlaps the end it is compared with. ``None`` without readings.
        """
        rss = self._rss()
        if not rss:
            return None
        start, span = rss[0][0], rss[-1][0] - rss[0][0]
        window = min(BASELINE_SECONDS, span / 2)
        return _mean([float(r) for t, r in rss if t - start <= window])

    @property
    def rss_end(self) -> int | None:
        """The last known RSS, bytes."""
        rss = self._rss()
        return rss[-1][1] if rss else None

    @property
    def rss_growth(self) -> float | None:
        """``rss_end / rss_first_minute``: 1.0 flat, 1.5 half as large again."""
        base, end = self.rss_first_minute, self.rss_end
        if base is None or end is None or base <= 0:
            return None
        return end / base

    @property
    def rss_slope_bytes_per_min(self) -> float | None:
        """Least-squares slope of RSS over time, bytes per minute; ``None`` under two readings."""
        rss = self._rss()
        if len(rss) < 2:
            return None
        n = len(rss)
        mt = sum(t for t, _ in rss) / n
        mr = sum(r for _, r in rss) / n
        var = sum((t - mt) ** 2 for t, _ in rss)
        if var == 0:
            return None
        return 60.0 * sum((t - mt) * (r - mr) for t, r in rss) / var

    @property
    def cpu_mean(self) -> float | None:
        """Mean CPU percent of the known readings (100 = one core)."""
        return _mean([s.cpu_percent for s in self.samples if s.cpu_percent is not None])

    @property
    def cpu_max(self) -> float | None:
        """Largest CPU percent read."""
        return max((s.cpu_percent for s in self.samples if s.cpu_percent is not None), default=None)

    @property
    def fds_max(self) -> int | None:
        """Most open file descriptors read."""
        return max((s.open_fds for s in self.samples if s.open_fds is not None), default=None)

    @property
    def gaps(self) -> int:
        """Samples that hold no value (a failed read, or the process gone)."""
        return sum(1 for s in self.samples if not s.known)

    def summary(self) -> ResourceSummary:
        """The summary figures as plain data, for reports."""
        return {"source": self.source, "samples": len(self.samples), "gaps": self.gaps,
                "errors": self.errors, "gone_at": self.gone_at, "thinned": self.thinned,
                "rss_first_minute": self.rss_first_minute, "rss_end": self.rss_end,
                "rss_growth": self.rss_growth, "rss_slope_bytes_per_min": self.rss_slope_bytes_per_min,
                "cpu_mean": self.cpu_mean, "cpu_max": self.cpu_max, "fds_max": self.fds_max}


def merge(series_list: Iterable[ResourceSeries]) -> tuple[ResourceSeries, ...]:
    """One series per source from several workers' series, each whole second counted once.

    Workers sampling the same source (same pid or URL) read the same process, so
    their samples are not added up: times are moved onto the earliest worker's
    clock (``started_at``) and one sample is kept per whole second, the one that
    knows most (the earlier on a tie). ``errors`` is the largest worker's count, not
    the sum, for the same reason. Sources keep their first-seen order.
    """
    groups: dict[str, list[ResourceSeries]] = {}
    for s in series_list:
        groups.setdefault(s.source, []).append(s)
    out = []
    for source, group in groups.items():
        start = min(s.started_at for s in group)
        kept: dict[int, ResourceSample] = {}
        gone: list[float] = []
        for s in group:
            shift = s.started_at - start
            if s.gone_at is not None:
                gone.append(s.gone_at + shift)
            for sample in s.samples:
                moved = replace(sample, t=sample.t + shift) if shift else sample
                # A tick due on a whole second is read a hair early or late (0.9999 s):
                # that is still its own second, not a second reading of the one before.
                second = math.floor(moved.t + TICK_SLACK)
                held = kept.get(second)
                if held is None or (moved.known, -moved.t) > (held.known, -held.t):
                    kept[second] = moved
        out.append(ResourceSeries(source=source, samples=tuple(kept[k] for k in sorted(kept)),
                                  errors=max(s.errors for s in group), started_at=start,
                                  gone_at=min(gone) if gone else None,
                                  thinned=max(s.thinned for s in group)))
    return tuple(out)


def _mean_of(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else (a + b) / 2


def _pair(a: ResourceSample, b: ResourceSample) -> ResourceSample:
    """Two neighbouring samples as one, at the first one's time (a gap only when both are)."""
    rss = _mean_of(a.rss_bytes, b.rss_bytes)
    fds = [v for v in (a.open_fds, b.open_fds) if v is not None]
    return ResourceSample(t=a.t, cpu_percent=_mean_of(a.cpu_percent, b.cpu_percent),
                          rss_bytes=None if rss is None else int(rss), open_fds=max(fds) if fds else None)


TICK_SLACK = 0.05
"""Seconds a sample may be read before its whole second and still count as that second's."""
