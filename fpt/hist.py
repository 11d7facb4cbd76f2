"""Mergeable latency histograms (HDR), serialisable for xdist and JSON.

Values are microseconds. Two precisions: ``FINE`` (2 significant digits, per step
and per flow) and ``COARSE`` (1 digit, for the one-second time series, where
memory must stay flat over a soak).
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped, not lost
FINE = 2
COARSE = 1
PERCENTILES = (50.0, 90.0, 95.0, 99.0)


class Histogram:
    """A latency histogram in microseconds that merges exactly with its peers."""

    __slots__ = ("_counts", "_h", "_half", "_mask", "_shift", "digits")

    def __init__(self, digits: int = FINE, _h: HdrHistogram | None = None) -> None:
        self.digits = digits
        self._h = h = _h if _h is not None else HdrHistogram(1, HIGHEST_US, digits)
        # HdrHistogram.record_value in pure Python costs ~3 us; six records per request
        # made it the largest cost of the load generator. record() below computes the
        # same counts index (HDR's layout, lowest value 1 so unit magnitude 0) with
        # int.bit_length; tests check it against record_value value by value.
        self._counts = h.counts
        self._mask = h.sub_bucket_mask
        self._shift = h.sub_bucket_half_count_magnitude
        self._half = h.sub_bucket_half_count

    def record(self, us: float) -> None:
        """Record one value in microseconds (clamped to the histogram's range)."""
        v = int(us)
        if v < 1:
            v = 1
        elif v > HIGHEST_US:
            v = HIGHEST_US
        shift = self._shift
        bucket = (v | self._mask).bit_length() - shift - 1
        self._counts[((bucket + 1) << shift) + (v >> bucket) - self._half] += 1
        h = self._h
        h.total_count += 1
        if v < h.min_value:
            h.min_value = v
        if v > h.max_value:
            h.max_value = v

    def merge(self, other: Histogram) -> None:
        """Add every count of ``other`` into this histogram."""
        if other._h.get_total_count():
            self._h.add(other._h)

    @property
    def count(self) -> int:
        """Number of recorded values."""
        return int(self._h.get_total_count())

    def percentile(self, p: float) -> float:
        """Value at percentile ``p`` (0-100), microseconds; 0 when empty."""
        if not self.count:
            return 0.0
        return float(self._h.get_value_at_percentile(p))

    @property
    def max(self) -> float:
        """Largest recorded value (to histogram precision), microseconds."""
        return float(self._h.get_max_value()) if self.count else 0.0

    @property
    def min(self) -> float:
        """Smallest recorded value, microseconds."""
        return float(self._h.get_min_value()) if self.count else 0.0

    @property
    def mean(self) -> float:
        """Mean of recorded values, microseconds."""
        return float(self._h.get_mean_value()) if self.count else 0.0

    def summary(self) -> dict[str, float]:
        """p50/p90/p95/p99/max/mean in microseconds."""
        out = {f"p{p:g}": self.percentile(p) for p in PERCENTILES}
        out["max"] = self.max
        out["mean"] = self.mean
        return out

    def to_dict(self) -> dict[str, Any]:
        """Compressed, exact form for JSON and xdist."""
        return {"digits": self.digits, "hdr": self._h.encode().decode("ascii") if self.count else ""}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        """Inverse of :meth:`to_dict`."""
        digits = int(data["digits"])
        if not data["hdr"]:
            return cls(digits)
        return cls(digits, HdrHistogram.decode(data["hdr"].encode("ascii")))
