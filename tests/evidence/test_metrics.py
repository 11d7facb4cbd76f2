"""Histograms and metrics merge exactly and survive a JSON round trip."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from fpt.config.hist import Histogram
from fpt.evidence.continuity import ContinuityEvidence, ReadBack
from fpt.evidence.engine import EngineStats
from fpt.evidence.findings import MAX_MESSAGE_KEYS, Finding, FindingLog
from fpt.evidence.metrics import MAX_FAILURE_KEYS, MAX_SERIES_BUCKETS, OTHER_MESSAGES, Metrics
from fpt.evidence.resources import ResourceSample, ResourceSeries
from fpt.evidence.result import RunResult
from fpt.judge.dod.catalogue import NOT_EVIDENCED
from fpt.judge.dod.evaluate import evaluate as dod_evaluate
from fpt.judge.loadtypes import window
from fpt.report.checklist import detail
from fpt.run.context import LEDGER_KEEP, Ledger, RunContext
from fpt.run.detectors.continuity import read_back
from fpt.run.resources import _Track


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

    from fpt.config.hist import HIGHEST_US

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


# -- boundedness: what a long run keeps stays within its cap, and what was left out is counted ---------


def test_series_buckets_stay_within_the_cap_and_keep_every_count() -> None:
    """Past MAX_SERIES_BUCKETS seconds the buckets merge pairwise: fewer points, the same counts."""
    seconds = 3 * MAX_SERIES_BUCKETS  # a three-hour run, one iteration a second
    m, other = Metrics(), Metrics()
    for sec in range(seconds):
        t = sec + 0.5
        m.step("book", t, 1000 + sec % 7, "status" if sec % 100 == 0 else None)
        m.request(t, 800, None, 10)
        m.iteration(t, 1500, None)
        if sec < 10:
            other.iteration(t, 1500, None)  # a worker still at one second a bucket
    assert len(m.series) <= MAX_SERIES_BUCKETS
    assert m.resolution == 4  # 10,800 seconds in at most 3,600 buckets: doubled twice
    assert all(sec % m.resolution == 0 for sec in m.series)
    assert sum(b["book"].count for b in m.series.values()) == m.steps["book"].count == seconds
    assert sum(b["book"].failed for b in m.series.values()) == seconds // 100
    assert sum(b["*"].hist.count for b in m.series.values()) == seconds
    # Verdicts read windows: every bucket once, and a window shorter than a bucket gets its bucket.
    assert window(m, 0, seconds)["@flow"].count == seconds
    assert window(m, 4001, 4002)["@flow"].count == m.resolution
    m.merge(other)
    back = Metrics.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.resolution == m.resolution
    assert len(back.series) <= MAX_SERIES_BUCKETS
    assert sum(b["@flow"].count for b in back.series.values()) == seconds + 10


def test_failures_and_finding_messages_are_bounded_but_all_counted() -> None:
    """A message per request (ids, user names in it) is counted, not kept apart, past the cap."""
    m = Metrics()
    log = FindingLog()
    n = 5 * MAX_FAILURE_KEYS
    for i in range(n):
        m.failure("book", "HTTP 503", f"POST /visits: visit {i} refused", float(i))
        log.add(Finding(kind="data_swap", step="book", message=f"member.email belongs to user#{i}"))
    assert len(m.failures) == MAX_FAILURE_KEYS + 1
    assert sum(int(c) for c, _ in m.failures.values()) == n
    assert m.failures[("book", "HTTP 503", OTHER_MESSAGES)][0] == n - MAX_FAILURE_KEYS
    assert len(log.messages) == MAX_MESSAGE_KEYS + 1
    assert sum(log.messages.values()) == log.counts["data_swap"] == n
    assert log.messages[("data_swap", "book", OTHER_MESSAGES)] == n - MAX_MESSAGE_KEYS
    merged = FindingLog()
    merged.merge(log)
    merged.merge(log)
    assert len(merged.messages) == MAX_MESSAGE_KEYS + 1
    assert sum(merged.messages.values()) == 2 * n


def test_ledgers_and_the_runs_writes_are_bounded_and_what_is_not_kept_is_counted() -> None:
    """Each ledger keeps its last LEDGER_KEEP writes; the run keeps a sample; read-back counts the rest."""
    ctx = RunContext(flow="f", writes_cap=300)
    ledgers = [Ledger(owner, ctx) for owner in range(4)]
    n = 1000
    for i in range(n):
        ledgers[i % 4].add("visit", f"/visits/{i}", note=f"n{i}")
    for ledger in ledgers:
        assert len(ledger) == len(ledger.entries) == LEDGER_KEEP
        assert ledger.total == n // 4
        assert ledger.dropped == n // 4 - LEDGER_KEEP
        assert ledger.entries[-1].url == f"/visits/{n - 4 + ledger.entries[-1].owner}"  # the newest kept
    assert len(ctx.writes) == 300
    assert ctx.writes_seen == n
    assert ctx.writes_dropped == n - 300
    ids = [int(e.url.rsplit("/", 1)[1]) for e in ctx.writes]
    assert len(set(ids)) == 300
    assert sum(i >= n // 2 for i in ids) > 60  # a sample of the whole run, not its first writes
    # Read-back: the writes not kept are not made (never read back, never silently fewer) ...
    counts = asyncio.run(read_back([], {}, ctx, not_kept=ctx.writes_dropped))
    assert counts == {"tried": 0, "ok": 0, "lost": 0, "errors": 0, "skipped": n - 300, "not_kept": n - 300}
    # ... and the no-data-loss item cannot pass on a sample: it says how many were left out.
    item = dod_evaluate([_scaled_run({**counts, "tried": 300, "ok": 300})]).item("autoscaling.no_data_loss")
    assert item.status == NOT_EVIDENCED
    assert f"{n - 300} were not made ({n - 300} writes past the run's read-back sample)" in detail(item)


def _scaled_run(readback: dict[str, int]) -> RunResult:
    stats = EngineStats(planned=1, started=1, completed=1, crashed=0, dropped_no_user=0, dropped_cap=0,
                        cancelled=0, overlapped_starts=0, window=1.0, elapsed=1.0, peak_inflight=1,
                        mean_inflight=1.0, lateness=Histogram())
    return RunResult(name="t", flow="f", profile="live", target="x", shape="1/s", target_rate=1, duration=1,
                     users=4, seed=1, arrivals="uniform", engine=stats, metrics=Metrics(),
                     findings=FindingLog(), continuity=ContinuityEvidence(readback=ReadBack(**readback)))


def test_resource_series_stay_within_their_cap_keeping_baseline_end_and_slope() -> None:
    """Past the cap the samples after the baseline minute merge pairwise, counted in ``thinned``."""
    track = _Track("fpt", cap=500)
    n = 5000
    for sec in range(n):
        gap = sec % 97 == 0
        track.add(ResourceSample(t=float(sec), cpu_percent=None if gap else 10.0 + sec % 3,
                                 rss_bytes=None if gap else 100_000_000 + 1000 * sec,
                                 open_fds=None if gap else 20 + (sec == 3000)))
        assert len(track.samples) <= 500
    assert len(track.samples) + track.thinned == n
    series = ResourceSeries(source="fpt", samples=tuple(track.samples), thinned=track.thinned)
    assert [s.t for s in series.samples[:60]] == [float(t) for t in range(60)]  # the baseline minute, as read
    assert series.samples[-1].t == n - 1  # the end, as read
    assert series.rss_end == 100_000_000 + 1000 * (n - 1)
    slope = series.rss_slope_bytes_per_min
    assert slope is not None
    assert abs(slope - 60_000) / 60_000 < 0.05
    assert series.fds_max == 21  # the peak survives the merges
    assert ResourceSeries.from_dict(json.loads(json.dumps(series.to_dict()))).thinned == track.thinned


def test_sparse_counts_past_32_bits_stay_exact() -> None:
    """The time series' arrays hold 32-bit counts; a bucket merged past that widens, never wraps."""
    big = Histogram(1)
    big.record(1000)
    assert big._h is not None
    big._h.counts[big._h._counts_index_for(1000)] += 2**32  # as if 2**32 more had been recorded
    big._h.total_count += 2**32
    sparse = Histogram.from_dict(big.to_dict(), sparse=True)
    other = Histogram(1, sparse=True)
    other.record(1000)
    other.merge(sparse)
    assert other.count == 2**32 + 2
    assert other.to_dict() == Histogram.from_dict(other.to_dict()).to_dict()
    assert Histogram.from_dict(other.to_dict()).percentile(50) == big.percentile(50)


def test_coarse_buckets_plot_per_second_rates() -> None:
    """The HTML plots read buckets of any width as per-second rates, at each bucket's first second."""
    from fpt.report import html

    m = Metrics()
    for sec in range(40):
        for _ in range(10):  # 10 iterations a second, one failed in each
            m.step("book", sec + 0.5, 2000, None)
            m.iteration(sec + 0.5, 3000, None)
        m.step("book", sec + 0.5, 2000, "status")
    m._coarsen(4)
    m.targets = {s: 10.0 for s in range(40)}
    r = dataclasses.replace(_scaled_run({}), metrics=m, continuity=None,
                            engine=dataclasses.replace(_scaled_run({}).engine, window=40.0))
    assert html._load_seconds(r) == list(range(0, 40, 4))
    assert html.load_plot(r).lstrip().startswith("<svg")
    assert html.latency_plot(r).lstrip().startswith("<svg")
