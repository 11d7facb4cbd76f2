"""Histograms and metrics merge exactly and survive a JSON round trip."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from fpt.hist import Histogram
from fpt.metrics import Metrics
from fpt.records import Finding, FindingLog


@settings(max_examples=50, deadline=None)
@given(a=st.lists(st.integers(1, 10**7), max_size=300), b=st.lists(st.integers(1, 10**7), max_size=300))
def test_merged_percentiles_equal_union(a: list[int], b: list[int]) -> None:
    ha, hb, hu = Histogram(), Histogram(), Histogram()
    for v in a:
        ha.record(v)
        hu.record(v)
    for v in b:
        hb.record(v)
        hu.record(v)
    ha.merge(hb)
    assert ha.count == len(a) + len(b)
    for p in (50, 90, 99, 99.9):
        assert ha.percentile(p) == hu.percentile(p)


_EDGES = [2**k for k in range(33)] + [2**k - 1 for k in range(1, 33)]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.integers(-5, 10**4), st.integers(1, 4 * 10**9), st.sampled_from(_EDGES)),
                       min_size=1, max_size=400),
       digits=st.sampled_from([1, 2]))
def test_fast_record_matches_hdr_record_value(values: list[int], digits: int) -> None:
    """Histogram.record computes HDR's counts index itself; it must land where HdrHistogram's does."""
    from hdrh.histogram import HdrHistogram

    from fpt.hist import HIGHEST_US

    ours, ref = Histogram(digits), HdrHistogram(1, HIGHEST_US, digits)
    for v in values:
        ours.record(v)
        ref.record_value(min(max(v, 1), HIGHEST_US))
    assert list(ours._h.counts) == list(ref.counts)
    assert (ours.count, ours.min, ours.max) == (ref.total_count, ref.get_min_value(), ref.get_max_value())
    back = Histogram.from_dict(json.loads(json.dumps(ours.to_dict())))
    back.record(values[0])
    ref.record_value(min(max(values[0], 1), HIGHEST_US))
    assert list(back._h.counts) == list(ref.counts)  # decoded histograms record in the same place


@settings(max_examples=40, deadline=None)
@given(a=st.lists(st.integers(1, 10**8), max_size=200), b=st.lists(st.integers(1, 10**8), max_size=200),
       digits=st.sampled_from([1, 2]))
def test_sparse_and_dense_histograms_agree_and_merge_exactly(a: list[int], b: list[int], digits: int) -> None:
    """The time series keep sparse histograms; they must be the dense ones in all but memory."""
    dense, sparse, union = Histogram(digits), Histogram(digits, sparse=True), Histogram(digits)
    other_sparse, other_dense = Histogram(digits, sparse=True), Histogram(digits)
    for v in a:
        dense.record(v)
        sparse.record(v)
        union.record(v)
    for v in b:
        other_sparse.record(v)
        other_dense.record(v)
        union.record(v)
    assert sparse.to_dict() == dense.to_dict()
    assert sparse.summary() == dense.summary()
    back = Histogram.from_dict(json.loads(json.dumps(sparse.to_dict())), sparse=True)
    assert back.to_dict() == dense.to_dict()
    sparse.merge(other_sparse)  # sparse + sparse stays sparse
    back.merge(other_dense)  # sparse + dense becomes dense
    dense.merge(other_sparse)  # dense + sparse
    for h in (sparse, back, dense):
        assert h.count == len(a) + len(b)
        for p in (50, 90, 99):
            assert h.percentile(p) == union.percentile(p)
        assert (h.min, h.max) == (union.min, union.max)


def test_percentiles_within_precision() -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(10, 1) for _ in range(20_000))
    h = Histogram()
    for v in values:
        h.record(v)
    exact = values[int(0.9 * len(values)) - 1]
    assert abs(h.percentile(90) - exact) / exact < 0.02


def test_histogram_round_trip_and_clamp() -> None:
    h = Histogram()
    for v in (0, 5, 1e15):
        h.record(v)
    back = Histogram.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back.count == 3
    assert back.max == h.max
    assert Histogram.from_dict(Histogram().to_dict()).count == 0


def test_metrics_merge_matches_single_collection() -> None:
    one, a, b = Metrics(), Metrics(), Metrics()
    rng = random.Random(1)
    for i in range(2000):
        t = rng.uniform(0, 10)
        lat = rng.uniform(100, 50_000)
        err = "status" if i % 17 == 0 else None
        target = a if i % 2 else b
        for m in (one, target):
            m.step("login", t, lat, err)
            m.request(t, lat, err, 100)
            m.iteration(t, lat * 2, err)
    a.merge(b)
    a2 = Metrics.from_dict(json.loads(json.dumps(a.to_dict())))
    for m in (a, a2):
        assert m.steps["login"].count == one.steps["login"].count == 2000
        assert m.steps["login"].errors == one.steps["login"].errors
        assert m.requests.bytes_in == 200_000
        assert m.flow.hist.percentile(90) == one.flow.hist.percentile(90)
        assert sorted(m.series) == sorted(one.series)
        for sec in one.series:
            assert m.series[sec]["login"].count == one.series[sec]["login"].count


def test_finding_log_is_bounded_but_counts_everything() -> None:
    log = FindingLog()
    for i in range(500):
        log.add(Finding(kind="data_swap", message="foreign profile", step="profile", user=f"user#{i}"))
    assert log.counts["data_swap"] == 500
    assert len(log.of("data_swap")) == 20
    other = FindingLog()
    other.add(Finding(kind="functional", message="x"))
    log.merge(other)
    back = FindingLog.from_dict(json.loads(json.dumps(log.to_dict())))
    assert back.counts == log.counts
    assert back.messages == log.messages
    assert [f.to_dict() for f in back.examples] == [f.to_dict() for f in log.examples]
