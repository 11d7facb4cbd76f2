"""Resources on the timeline: real processes, a real metrics endpoint, merging and the leak math."""

from __future__ import annotations

import asyncio
import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from fpt.config.errors import ConfigError
from fpt.demo import server as demo
from fpt.evidence.resources import ResourceSample, ResourceSeries, merge
from fpt.run.resources import PidTarget, PrometheusMetrics, PrometheusTarget, ResourceSampler, parse_metrics

MB = 1024 * 1024


async def until(sampler: ResourceSampler, ready: Callable[[tuple[ResourceSeries, ...]], bool],
                within: float = 10.0) -> tuple[ResourceSeries, ...]:
    """Wait (bounded) until the sampler's series satisfy ``ready``; fail the test otherwise."""
    deadline = time.monotonic() + within
    while not ready(series := sampler.series()):
        if time.monotonic() > deadline:
            pytest.fail(f"not ready after {within}s: {[s.summary() for s in series]}")
        await asyncio.sleep(0.05)
    return series


def known(series: ResourceSeries) -> list[ResourceSample]:
    return [s for s in series.samples if s.known]


def no_stray_tasks() -> None:
    assert asyncio.all_tasks() == {asyncio.current_task()}


# --- (a) a real local process: the demo under uvicorn -------------------------------------


def test_samples_the_demo_service_under_uvicorn(tmp_path: Path) -> None:
    with demo.serve(log_dir=tmp_path) as server:
        async def main() -> tuple[ResourceSeries, ...]:
            async with httpx.AsyncClient(base_url=server.base_url) as client, \
                    ResourceSampler([PidTarget(server.pid)], interval=0.5) as sampler:
                deadline = time.monotonic() + 2.5
                sent = 0
                while time.monotonic() < deadline:
                    answers = await asyncio.gather(*(client.get("/health") for _ in range(10)))
                    assert all(a.status_code == 200 for a in answers)
                    sent += len(answers)
                assert sent > 0
            no_stray_tasks()
            return sampler.series()

        service, harness = asyncio.run(main())

    assert service.source == f"pid:{server.pid}"
    assert harness.source == "fpt"
    assert service.errors == 0
    assert service.gone_at is None
    samples = known(service)
    assert 3 <= len(samples) <= 8  # 2.5 s at 0.5 s, loosely
    assert all(s.rss_bytes and s.rss_bytes > 10 * MB for s in samples)
    assert all(s.open_fds and s.open_fds > 2 for s in samples)  # stdio and the listening socket at least
    assert samples[0].cpu_percent is None  # a rate needs two readings
    assert all(s.cpu_percent is not None for s in samples[1:])
    assert service.cpu_max is not None
    assert service.cpu_max > 0
    assert [s.t for s in samples] == sorted(s.t for s in samples)
    # fpt's own process is its own series, never summed into the service's
    assert harness.rss_end
    assert harness.rss_end > 10 * MB
    assert harness.rss_end != service.rss_end


def test_children_are_summed() -> None:
    """A parent that sleeps while its child burns CPU: the child's CPU and memory count."""
    burn = "import time\nt = time.monotonic() + 15\nwhile time.monotonic() < t: pass"
    parent_code = (f"import subprocess, sys, time\np = subprocess.Popen([sys.executable, '-c', {burn!r}])\n"
                   "print(p.pid, flush=True)\nsys.stdin.read()\np.kill()\np.wait()")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        int(parent.stdout.readline())  # the child is running

        async def main() -> ResourceSeries:
            async with ResourceSampler([PidTarget(parent.pid)], interval=0.3, harness=None) as sampler:
                series = await until(sampler, lambda ss: len(known(ss[0])) >= 4)
            return series[0]

        series = asyncio.run(main())
    finally:
        parent.communicate(b"", timeout=10)
    # the parent alone sleeps (~0%) and holds one interpreter's memory
    assert series.cpu_max is not None
    assert series.cpu_max > 20
    assert series.rss_end is not None
    assert series.rss_end > 2 * 8 * MB


# --- (b) a real Prometheus text endpoint ------------------------------------------------------


class CpuCounter(Collector):
    """A CPU-seconds counter that grows half a second per second: 50% CPU."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.t0 = time.monotonic()

    def collect(self) -> Iterable[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, "cpu", value=0.5 * (time.monotonic() - self.t0))


@pytest.fixture
def metrics_endpoint() -> Iterator[tuple[str, CollectorRegistry]]:
    registry = CollectorRegistry()
    httpd, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/metrics", registry
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_scrapes_a_prometheus_endpoint(metrics_endpoint: tuple[str, CollectorRegistry]) -> None:
    url, registry = metrics_endpoint
    rss = Gauge("svc_rss_bytes", "rss", registry=registry)
    fds = Gauge("svc_fds", "fds", ["pool"], registry=registry)
    registry.register(CpuCounter("svc_cpu_seconds"))
    rss.set(100 * MB)
    fds.labels(pool="a").set(7)
    fds.labels(pool="b").set(5)
    metrics = PrometheusMetrics(rss="svc_rss_bytes", cpu_seconds="svc_cpu_seconds_total", open_fds="svc_fds")
    asked: list[str] = []

    def allowed(u: str) -> bool:
        asked.append(u)
        return u.startswith("http://127.0.0.1:")

    async def main() -> ResourceSeries:
        async with ResourceSampler([PrometheusTarget(url, metrics=metrics)], interval=0.25,
                                   allowed=allowed, harness=None) as sampler:
            await until(sampler, lambda ss: len(known(ss[0])) >= 3)
            rss.set(150 * MB)  # the service grows: the sampler sees it
            series = await until(sampler, lambda ss: ss[0].rss_end == 150 * MB)
        no_stray_tasks()
        return series[0]

    series = asyncio.run(main())
    assert asked == [url]
    assert series.source == url
    assert series.errors == 0
    samples = known(series)
    assert {s.rss_bytes for s in samples} == {100 * MB, 150 * MB}
    assert all(s.open_fds == 12 for s in samples)  # same-named samples (two label sets) summed
    cpu = [s.cpu_percent for s in samples[1:]]
    assert samples[0].cpu_percent is None
    assert None not in cpu
    assert all(30 < c < 70 for c in cpu if c is not None), cpu  # the counter grows at 50%


def test_default_metric_names_and_counter_reset() -> None:
    page = ("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n"
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 2.5e+07\n"
            "process_open_fds 33\nprocess_max_fds 1024\n")
    assert parse_metrics(page, PrometheusMetrics()) == {"rss": 2.5e7, "cpu_seconds": 12.5, "open_fds": 33.0}
    assert parse_metrics("", PrometheusMetrics()) == {"rss": None, "cpu_seconds": None, "open_fds": None}
    from fpt.run.resources import _cpu_percent
    assert _cpu_percent((10.0, 5.0), (12.0, 6.0)) == pytest.approx(50.0)
    assert _cpu_percent((10.0, 5.0), (11.0, 0.2)) is None  # restarted: no negative CPU
    assert _cpu_percent(None, (11.0, 0.2)) is None


def test_scrape_errors_are_counted_not_raised() -> None:
    missing = f"http://127.0.0.1:{demo.free_port()}/metrics"  # nobody listens: connection refused

    async def main() -> ResourceSeries:
        async with ResourceSampler([PrometheusTarget(missing)], interval=0.1, allowed=lambda u: True,
                                   harness=None) as sampler:
            series = await until(sampler, lambda ss: ss[0].errors >= 2)
        return series[0]

    series = asyncio.run(main())
    assert series.gaps == len(series.samples) >= 2
    assert series.gone_at is None


# --- (c) a process that exits mid-run ---------------------------------------------------------


@pytest.mark.parametrize("reaped", [True, False], ids=["reaped", "zombie"])
def test_a_process_that_exits_is_a_gap_not_a_crash(reaped: bool) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        async def main() -> tuple[ResourceSeries, ...]:
            async with ResourceSampler([PidTarget(proc.pid)], interval=0.1) as sampler:
                await until(sampler, lambda ss: len(known(ss[0])) >= 2)
                proc.kill()
                if reaped:
                    proc.wait(5)
                await until(sampler, lambda ss: ss[0].gone_at is not None)
                # sampling goes on for the other series; the gone one stays quiet
                n = len(sampler.series()[0].samples)
                await until(sampler, lambda ss: len(ss[1].samples) >= len(ss[0].samples) + 3)
                assert len(sampler.series()[0].samples) == n
            no_stray_tasks()
            return sampler.series()

        service, harness = asyncio.run(main())
    finally:
        proc.kill()
        proc.communicate(timeout=5)  # closes the stdin pipe too
    assert service.errors == 0
    assert service.samples[-1].known == 0
    assert service.samples[-1].t == service.gone_at
    assert service.gaps == 1
    assert len(known(service)) >= 2
    assert service.rss_end is not None  # the summary still reads the known part
    assert harness.errors == 0
    assert harness.gaps == 0


def test_stops_promptly_while_a_scrape_hangs() -> None:
    """A listener that accepts and never answers: leaving the block does not wait for it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"

        async def main() -> float:
            async with ResourceSampler([PrometheusTarget(url)], interval=5.0, timeout=30.0,
                                       allowed=lambda u: True, harness=None):
                await asyncio.sleep(0.2)  # the scrape is in flight
                left = time.monotonic()
            no_stray_tasks()
            return time.monotonic() - left

        assert asyncio.run(main()) < 2.0


# --- (d) merging workers' series ----------------------------------------------------------------


def series_of(source: str, started_at: float, times: Iterable[float], rss: int = 50 * MB,
              **kw: object) -> ResourceSeries:
    samples = tuple(ResourceSample(t=t, cpu_percent=10.0, rss_bytes=rss, open_fds=9) for t in times)
    return ResourceSeries(source=source, samples=samples, started_at=started_at, **kw)  # type: ignore[arg-type]


def test_merge_does_not_double_count_one_source() -> None:
    # two workers sample the same pid; the second started its run 0.4 s later
    gw0 = series_of("pid:42", 1000.0, [0.1, 1.1, 2.1, 3.1], errors=1)
    gw1 = series_of("pid:42", 1000.4, [0.2, 1.2, 2.2, 3.2], errors=2, gone_at=3.5)
    gw1 = ResourceSeries(source=gw1.source, started_at=gw1.started_at, errors=gw1.errors,
                         gone_at=gw1.gone_at, samples=(*gw1.samples, ResourceSample(t=3.5)))
    own0 = series_of("fpt:gw0", 1000.0, [0.1, 1.1])
    own1 = series_of("fpt:gw1", 1000.4, [0.2, 1.2])

    merged = merge([gw0, own0, gw1, own1])

    assert [s.source for s in merged] == ["pid:42", "fpt:gw0", "fpt:gw1"]
    pid = merged[0]
    seconds = [int(s.t) for s in pid.samples]
    assert seconds == [0, 1, 2, 3]  # one per second: 4, not 9
    assert pid.samples[-1].known == 3  # the known reading wins over gw1's gap at 3.9
    assert pid.errors == 2
    assert pid.started_at == 1000.0
    assert pid.gone_at == pytest.approx(3.9)
    assert pid.cpu_mean == pytest.approx(10.0)
    assert merged[1].samples == own0.samples  # different processes stay apart
    # merging is idempotent, and survives the trip through plain data
    assert merge(merged) == merged
    again = merge([ResourceSeries.from_dict(s.to_dict()) for s in (gw0, own0, gw1, own1)])
    assert again == merged


def test_merge_keeps_every_second_of_one_worker() -> None:
    one = series_of("http://svc/metrics", 5.0, [0.0, 1.0, 2.0])
    assert merge([one]) == (one,)
    # ticks read a hair before their whole second are still that second's
    jitter = series_of("pid:7", 5.0, [0.0003, 0.9999, 2.0004, 2.9998])
    assert merge([jitter, jitter]) == (jitter,)
    assert merge([]) == ()


# --- (f) the leak math, both ways ------------------------------------------------------------


def test_a_leaking_series_grows_and_slopes() -> None:
    minutes = 10
    leak = ResourceSeries(source="pid:1", samples=tuple(
        ResourceSample(t=float(t), rss_bytes=100 * MB + t * MB // 60, cpu_percent=float(t % 7),
                       open_fds=10 + t)
        for t in range(minutes * 60 + 1)))
    assert leak.rss_slope_bytes_per_min == pytest.approx(MB, rel=1e-3)
    # baseline: the first minute's mean (100 MB + 0.5 MB); end: 110 MB
    assert leak.rss_first_minute == pytest.approx(100 * MB + MB / 2, rel=1e-3)
    assert leak.rss_end == 110 * MB
    assert leak.rss_growth == pytest.approx(110 / 100.5, rel=1e-3)
    assert leak.cpu_max == 6.0
    assert leak.cpu_mean == pytest.approx(3.0, abs=0.02)
    assert leak.fds_max == 10 + minutes * 60


def test_a_flat_series_neither_grows_nor_slopes() -> None:
    # a sawtooth (GC) around 100 MB: no trend
    flat = ResourceSeries(source="pid:1", samples=tuple(
        ResourceSample(t=float(t), rss_bytes=100 * MB + (t % 10) * MB // 10) for t in range(10 * 60)))
    assert abs(flat.rss_slope_bytes_per_min or 0.0) < 0.01 * MB
    assert flat.rss_growth == pytest.approx(1.0, abs=0.01)
    assert flat.cpu_mean is None
    assert flat.fds_max is None


def test_summaries_of_short_and_empty_series() -> None:
    short = ResourceSeries(source="s", samples=(
        ResourceSample(t=0.0, rss_bytes=100), ResourceSample(t=1.0, rss_bytes=110),
        ResourceSample(t=2.0), ResourceSample(t=3.0, rss_bytes=130), ResourceSample(t=4.0, rss_bytes=140)))
    # shorter than two minutes: the baseline is the first half (t 0..2)
    assert short.rss_first_minute == pytest.approx(105)
    assert short.rss_end == 140
    assert short.rss_growth == pytest.approx(140 / 105)
    assert short.rss_slope_bytes_per_min == pytest.approx(600.0)
    assert short.gaps == 1
    empty = ResourceSeries(source="s")
    assert empty.summary() == {"source": "s", "samples": 0, "gaps": 0, "errors": 0, "gone_at": None,
                               "thinned": 0, "rss_first_minute": None, "rss_end": None, "rss_growth": None,
                               "rss_slope_bytes_per_min": None, "cpu_mean": None, "cpu_max": None,
                               "fds_max": None}
    one = ResourceSeries(source="s", samples=(ResourceSample(t=0.0, rss_bytes=5),))
    assert one.rss_growth == 1.0
    assert one.rss_slope_bytes_per_min is None
    assert ResourceSample.from_dict(short.samples[0].to_dict()) == short.samples[0]


# --- (e) a scrape URL off the allowlist --------------------------------------------------------


def accepts(listener: socket.socket) -> int:
    """Connections waiting on a non-blocking listener (accepted and closed here)."""
    n = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


def test_a_disallowed_scrape_url_is_refused_before_any_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        url = f"http://user:secret@127.0.0.1:{listener.getsockname()[1]}/metrics?token=abc"
        asked: list[str] = []

        def only_prod(u: str) -> bool:
            asked.append(u)
            return httpx.URL(u).host == "metrics.prod.example"

        async def sample(allowed: Callable[[str], bool] | None) -> None:
            async with ResourceSampler([PrometheusTarget(url)], interval=0.1, allowed=allowed, harness=None):
                await asyncio.sleep(0.3)

        for allowed in (only_prod, None):
            with pytest.raises(ConfigError, match="allowlist") as refused:
                asyncio.run(sample(allowed))
            assert "secret" not in str(refused.value)
            assert "abc" not in str(refused.value)
        assert asked == [url]
        assert accepts(listener) == 0
        # the same URL, allowed, does connect: the listener above would have seen a refused one
        asyncio.run(sample(lambda u: True))
        assert accepts(listener) >= 1


def test_a_redirect_off_the_allowlist_is_not_followed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as elsewhere:
        elsewhere.setblocking(False)
        target = f"http://127.0.0.1:{elsewhere.getsockname()[1]}/metrics"

        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect) as httpd:
            thread = threading.Thread(target=httpd.serve_forever, daemon=True)
            thread.start()
            url = f"http://127.0.0.1:{httpd.server_port}/metrics"

            async def main() -> ResourceSeries:
                async with ResourceSampler([PrometheusTarget(url)], interval=0.1, harness=None,
                                           allowed=lambda u: u == url) as sampler:
                    series = await until(sampler, lambda ss: ss[0].errors >= 2)
                return series[0]

            try:
                series = asyncio.run(main())
            finally:
                httpd.shutdown()
                thread.join(5)
        assert series.gaps == len(series.samples)
        assert accepts(elsewhere) == 0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="http"):
        ResourceSampler([PrometheusTarget("file:///etc/passwd")], allowed=lambda u: True)
    with pytest.raises(ConfigError, match="positive"):
        ResourceSampler([], interval=0)
