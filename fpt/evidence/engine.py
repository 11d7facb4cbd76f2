"""What the load engine counted: planned, started, dropped, late, cancelled iterations."""


from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fpt.config.hist import Histogram


@dataclass(frozen=True, kw_only=True)
class EngineStats:
    """What the engine did, independent of what the iterations found."""

    planned: int
    started: int
    completed: int
    crashed: int
    dropped_no_user: int
    dropped_cap: int
    cancelled: int
    window: float
    elapsed: float
    peak_inflight: int
    mean_inflight: float
    overlapped_starts: int
    lateness: Histogram = field(compare=False)
    stopped_at: float | None = None
    #: due iterations that could not start within LATE_LIMIT of their time (a blocked loop,
    #: an offered rate far past what the engine can start): dropped, never started late
    dropped_late: int = 0
    #: merged from xdist workers: the sum of their peaks, an upper bound of the whole run's peak
    #: (``peak_inflight`` is then the largest worker's peak, a lower bound); 0 for one process
    peak_inflight_sum: int = 0

    @property
    def dropped(self) -> int:
        """Iterations that were due but could not start."""
        return self.dropped_no_user + self.dropped_cap + self.dropped_late

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "lateness"}
        d["lateness"] = self.lateness.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineStats:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        d["lateness"] = Histogram.from_dict(d["lateness"])
        return cls(**d)
