"""Mergeable latency histograms (HDR), serialisable for xdist and JSON.

Values are microseconds. Two precisions: ``FINE`` (2 significant digits, per step
and per flow) and ``COARSE`` (1 digit, for the one-second time series, kept
sparse, where memory must stay flat over a soak).
"""

from __future__ import annotations

from array import array
from typing import Any

from hdrh.histogram import HdrHistogram

HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped, not lost
FINE = 2
COARSE = 1
PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def _geometry(digits: int) -> tuple[int, int, int]:
    """HDR's sub-bucket mask, half-count magnitude and half count for ``digits``."""
    g = _GEOMETRY.get(digits)
    if g is None:
        h = HdrHistogram(1, HIGHEST_US, digits)
        g = _GEOMETRY[digits] = (h.sub_bucket_mask, h.sub_bucket_half_count_magnitude,
                                 h.sub_bucket_half_count)
    return g


_GEOMETRY: dict[int, tuple[int, int, int]] = {}

_SPARSE = "I"
"""Typecode of a sparse histogram's counts: 32 bits (a count past that widens it to 64)."""
_SPARSE_MAX = 2**32 - 1


class Histogram:
    """A latency histogram in microseconds that merges exactly with its peers.

    Dense (an ``HdrHistogram``, a few KB) by default. ``sparse=True`` keeps only the
    counts between the lowest and the highest index recorded, in a flat array of
    32-bit counts with an offset, for the many small one-second histograms of the time
    series: a soak adds several of those a second (dense ones made memory grow by
    about 1 MB a minute; a dict of counts still cost ~2.7 KB each, 16 KB a second
    for a six-step flow). Both hold the same counts at the same HDR indexes, so they
    merge and serialise exactly into one another.
    """

    __slots__ = ("_counts", "_h", "_half", "_hi", "_lo", "_mask", "_n", "_off", "_shift", "_sparse", "digits")

    def __init__(self, digits: int = FINE, _h: HdrHistogram | None = None, *, sparse: bool = False) -> None:
        self.digits = digits
        # HdrHistogram.record_value in pure Python costs ~1-3 us; six records per request
        # made it a large cost of the load generator. record() computes the same counts
        # index (HDR's layout, lowest value 1 so unit magnitude 0) with int.bit_length;
        # tests check it against record_value value by value.
        self._mask, self._shift, self._half = _geometry(digits)
        self._sparse: array[int] | None = None
        self._n = self._hi = self._off = 0
        self._lo = HIGHEST_US + 1
        if sparse and _h is None:
            self._h: HdrHistogram | None = None
            self._sparse = array(_SPARSE)
            self._counts: Any = None
        else:
            self._h = h = _h if _h is not None else HdrHistogram(1, HIGHEST_US, digits)
            self._counts = h.counts

    def record(self, us: float) -> None:
        """Record one value in microseconds (clamped to the histogram's range)."""
        v = int(us)
        if v < 1:
            v = 1
        elif v > HIGHEST_US:
            v = HIGHEST_US
        shift = self._shift
        bucket = (v | self._mask).bit_length() - shift - 1
        index = ((bucket + 1) << shift) + (v >> bucket) - self._half
        sparse = self._sparse
        if sparse is not None:
            i = index - self._off
            if not 0 <= i < len(sparse):
                i = self._widen(index, index)
            try:
                sparse[i] += 1
            except OverflowError:  # 2**32 of one value: never in a second, but stay exact
                self._sparse = array("Q", sparse)
                self._sparse[i] += 1
            self._n += 1
            if v < self._lo:
                self._lo = v
            if v > self._hi:
                self._hi = v
            return
        self._counts[index] += 1
        h: Any = self._h  # dense here
        h.total_count += 1
        if v < h.min_value:
            h.min_value = v
        if v > h.max_value:
            h.max_value = v

    def _widen(self, lo: int, hi: int) -> int:
        """Make the sparse array cover indexes ``lo..hi``; returns ``lo``'s position in it."""
        sparse = self._sparse
        assert sparse is not None
        if not len(sparse):
            self._off = lo
            sparse.frombytes(bytes(sparse.itemsize * (hi - lo + 1)))
            return 0
        if lo < self._off:
            sparse[0:0] = array(sparse.typecode, bytes(sparse.itemsize * (self._off - lo)))
            self._off = lo
        top = self._off + len(sparse) - 1
        if hi > top:
            sparse.frombytes(bytes(sparse.itemsize * (hi - top)))
        return lo - self._off

    def _hdr(self) -> HdrHistogram:
        """The dense form (built afresh from a sparse histogram)."""
        if self._h is not None:
            return self._h
        h = HdrHistogram(1, HIGHEST_US, self.digits)
        counts, off = h.counts, self._off
        for i, c in enumerate(self._sparse or ()):
            if c:
                counts[off + i] += c
        if self._n:
            h.total_count, h.min_value, h.max_value = self._n, self._lo, self._hi
        return h

    def merge(self, other: Histogram) -> None:
        """Add every count of ``other`` into this histogram."""
        if not other.count:
            return
        mine, theirs = self._sparse, other._sparse
        if mine is not None and theirs is not None:
            at = self._widen(other._off, other._off + len(theirs) - 1)
            mine = self._sparse
            assert mine is not None
            if mine.typecode != theirs.typecode or any(
                    c and mine[at + i] + c > _SPARSE_MAX for i, c in enumerate(theirs)):
                mine = self._sparse = array("Q", mine)
            for i, c in enumerate(theirs):
                if c:
                    mine[at + i] += c
            self._n += other._n
            self._lo = min(self._lo, other._lo)
            self._hi = max(self._hi, other._hi)
            return
        if mine is not None:  # sparse + dense: become dense
            self._h = self._hdr()
            self._counts = self._h.counts
            self._sparse = None
        self._hdr().add(other._hdr())

    @property
    def count(self) -> int:
        """Number of recorded values."""
        if self._sparse is not None:
            return self._n
        return int(self._hdr().get_total_count())

    def percentile(self, p: float) -> float:
        """Value at percentile ``p`` (0-100), microseconds; 0 when empty."""
        if not self.count:
            return 0.0
        return float(self._hdr().get_value_at_percentile(p))

    @property
    def max(self) -> float:
        """Largest recorded value (to histogram precision), microseconds."""
        return float(self._hdr().get_max_value()) if self.count else 0.0

    @property
    def min(self) -> float:
        """Smallest recorded value, microseconds."""
        return float(self._hdr().get_min_value()) if self.count else 0.0

    @property
    def mean(self) -> float:
        """Mean of recorded values, microseconds."""
        return float(self._hdr().get_mean_value()) if self.count else 0.0

    def summary(self) -> dict[str, float]:
        """p50/p90/p95/p99/max/mean in microseconds."""
        h = self._hdr()
        if not self.count:
            return {**{f"p{p:g}": 0.0 for p in PERCENTILES}, "max": 0.0, "mean": 0.0}
        out = {f"p{p:g}": float(h.get_value_at_percentile(p)) for p in PERCENTILES}
        out["max"] = float(h.get_max_value())
        out["mean"] = float(h.get_mean_value())
        return out

    def to_dict(self) -> dict[str, Any]:
        """Compressed, exact form for JSON and xdist (the same for dense and sparse)."""
        return {"digits": self.digits, "hdr": self._hdr().encode().decode("ascii") if self.count else ""}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, sparse: bool = False) -> Histogram:
        """Inverse of :meth:`to_dict`."""
        digits = int(data["digits"])
        if not data["hdr"]:
            return cls(digits, sparse=sparse)
        dense = cls(digits, HdrHistogram.decode(data["hdr"].encode("ascii")))
        if not sparse:
            return dense
        out = cls(digits, sparse=True)
        h = dense._hdr()
        used = [i for i, c in enumerate(h.counts) if c]
        out._widen(used[0], used[-1])
        arr = out._sparse
        assert arr is not None
        if max(h.counts[i] for i in used) > _SPARSE_MAX:
            arr = out._sparse = array("Q", arr)
        for i in used:
            arr[i - out._off] = int(h.counts[i])
        out._n, out._lo, out._hi = int(h.total_count), int(h.min_value), int(h.max_value)
        return out
