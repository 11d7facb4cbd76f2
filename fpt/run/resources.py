"""The service's resources on the run's timeline: CPU, RSS and open fds, once a second.

Two kinds of target: a local process by PID (read with psutil, its children summed,
since uvicorn may fork workers) and a remote service's Prometheus text endpoint
(scraped with httpx, parsed with prometheus_client). fpt's own process is sampled as
a series of its own (source ``fpt``), so a leak in the harness is never blamed on the
service.

Sampling never raises into the run: a failed read is a gap (a sample whose values are
all ``None``) and is counted in ``errors``; a process that exits is a gap and
``gone_at``. A series stays bounded: past :data:`MAX_SAMPLES` its samples after the
baseline minute merge pairwise (counted in ``thinned``). Series from several xdist
workers merge without double counting: one sample per source and whole second of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from fpt.config import redact
from fpt.config.errors import ConfigError
from fpt.evidence.resources import BASELINE_SECONDS, HARNESS, ResourceSample, ResourceSeries, _pair

MAX_SCRAPE_BYTES = 4 * 1024 * 1024
"""A metrics page larger than this is an error, not something to keep reading."""

TEXT_FORMAT = "text/plain;version=0.0.4"
"""Asked for explicitly: some exporters answer protobuf or OpenMetrics to a bare ``*/*``."""



MAX_SAMPLES = 7200
"""Samples a series keeps while sampling (two hours at one a second). Past it, the samples
after the baseline minute merge pairwise, the last one excepted: CPU and RSS averaged, open
fds the larger. The soak verdict's baseline, end and slope stay what they were; CPU max
becomes the max over the merged intervals."""










# --- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PrometheusMetrics:
    """Sample names to read from a metrics page; ``None`` skips one. Same-named samples are summed."""

    rss: str | None = "process_resident_memory_bytes"
    cpu_seconds: str | None = "process_cpu_seconds_total"
    open_fds: str | None = "process_open_fds"


@dataclass(frozen=True)
class PidTarget:
    """A local process (and its children) by process id."""

    pid: int

    @property
    def source(self) -> str:
        """The series' source name."""
        return f"pid:{self.pid}"


@dataclass(frozen=True)
class PrometheusTarget:
    """A service's Prometheus text endpoint, scraped once per interval."""

    url: str
    metrics: PrometheusMetrics = field(default_factory=PrometheusMetrics, kw_only=True)

    @property
    def source(self) -> str:
        """The series' source name: the URL without secrets."""
        return redact.url(self.url)


Target = PidTarget | PrometheusTarget

Reading = tuple[float | None, int | None, int | None]
"""``(cpu_percent, rss_bytes, open_fds)``."""


# --- readers: one per series, each keeps what it needs between samples ------------------------


def _cpu_percent(prev: tuple[float, float] | None, now: tuple[float, float]) -> float | None:
    """CPU percent between two ``(time, cpu seconds)`` readings; ``None`` if unknown or reset."""
    if prev is None:
        return None
    dt, dcpu = now[0] - prev[0], now[1] - prev[1]
    if dt <= 0 or dcpu < 0:  # a counter that went back: the service restarted
        return None
    return 100.0 * dcpu / dt


class _Gone(Exception):
    """The process has exited."""


class _ProcessReader:
    """Reads a process (and optionally its children) with psutil; blocking, run in a thread."""

    def __init__(self, pid: int, *, children: bool) -> None:
        self.pid = pid
        self.children = children
        self._root: psutil.Process | None = None
        self._procs: dict[int, psutil.Process] = {}  # kept so each child's create_time is read once
        self._cpu: dict[int, float] = {}  # cpu seconds per pid at the previous sample
        self._prev_wall: float | None = None
        # A read that outlived its tick's timeout may still run in its thread; the next must not overlap.
        self._busy = threading.Lock()

    def _proc(self, pid: int) -> psutil.Process:
        p = self._procs.get(pid)
        if p is None:
            p = self._procs[pid] = psutil.Process(pid)
        return p

    def read(self) -> Reading:
        """``(cpu_percent, rss_bytes, open_fds)`` summed over the process tree; raises ``_Gone``."""
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("the previous read of this process is still running")
        try:
            return self._read()
        finally:
            self._busy.release()

    def _read(self) -> Reading:
        wall = time.monotonic()
        try:
            if self._root is None:
                self._root = psutil.Process(self.pid)
                self._procs[self.pid] = self._root
            root = self._root
            # is_running() compares the create time, so a reused pid is not mistaken for ours.
            if not root.is_running() or root.status() == psutil.STATUS_ZOMBIE:
                raise _Gone
            tree = [root]
            if self.children:
                tree += root.children(recursive=True)
        except psutil.NoSuchProcess as e:
            raise _Gone from e
        cpu_now: dict[int, float] = {}
        rss = 0
        fds: int | None = 0
        cpu_delta = 0.0
        for child in tree:
            p = self._proc(child.pid)
            try:
                with p.oneshot():
                    times = p.cpu_times()
                    used = times.user + times.system
                    rss += p.memory_info().rss
                    try:
                        n = p.num_fds()
                        fds = None if fds is None else fds + n
                    except psutil.AccessDenied:  # another user's process: fds stay unknown
                        fds = None
                    created = p.create_time()
            except psutil.NoSuchProcess:
                if p is root:
                    raise _Gone from None
                continue  # a child that exited between listing and reading
            cpu_now[p.pid] = used
            before = self._cpu.get(p.pid)
            if before is not None:
                cpu_delta += max(0.0, used - before)
            elif self._prev_wall is not None and created >= time.time() - (wall - self._prev_wall):
                cpu_delta += used  # born since the last sample: all its CPU is in this interval
        for pid in set(self._procs) - set(cpu_now):
            del self._procs[pid]
        cpu = None if self._prev_wall is None else 100.0 * cpu_delta / max(wall - self._prev_wall, 1e-9)
        self._cpu, self._prev_wall = cpu_now, wall
        return cpu, rss, fds


class _ScrapeReader:
    """Scrapes one Prometheus text page and turns the CPU counter into a percentage."""

    def __init__(self, target: PrometheusTarget, client: httpx.AsyncClient) -> None:
        self.target = target
        self.client = client
        self._prev_cpu: tuple[float, float] | None = None

    async def read(self) -> Reading:
        """``(cpu_percent, rss_bytes, open_fds)`` from one scrape; raises on any failure."""
        async with self.client.stream("GET", self.target.url) as answer:
            answer.raise_for_status()
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_SCRAPE_BYTES:
                    raise ValueError(f"metrics page larger than {MAX_SCRAPE_BYTES} bytes")
        at = time.monotonic()
        values = parse_metrics(body.decode("utf-8", errors="replace"), self.target.metrics)
        cpu_seconds = values["cpu_seconds"]
        cpu = None
        if cpu_seconds is not None:
            cpu = _cpu_percent(self._prev_cpu, (at, cpu_seconds))
            self._prev_cpu = (at, cpu_seconds)
        rss, fds = values["rss"], values["open_fds"]
        return cpu, None if rss is None else int(rss), None if fds is None else int(fds)


def parse_metrics(text: str, metrics: PrometheusMetrics) -> dict[str, float | None]:
    """The named samples' values from a Prometheus text page (same names summed; ``None`` if absent)."""
    wanted = {name: key for key, name in (("rss", metrics.rss), ("cpu_seconds", metrics.cpu_seconds),
                                           ("open_fds", metrics.open_fds)) if name}
    found: dict[str, float | None] = {"rss": None, "cpu_seconds": None, "open_fds": None}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = wanted.get(sample.name)
            if key is not None and not math.isnan(sample.value):
                found[key] = (found[key] or 0.0) + sample.value
    return found


# --- the sampler -----------------------------------------------------------------------------






class _Track:
    """The series of one source while the sampler runs, kept within ``cap`` samples."""

    def __init__(self, source: str, cap: int = MAX_SAMPLES) -> None:
        self.source = source
        self.samples: list[ResourceSample] = []
        self.errors = 0
        self.gone_at: float | None = None
        self.cap = max(cap, 8)
        self.thinned = 0

    def add(self, sample: ResourceSample) -> None:
        """Keep ``sample``; past the cap, merge the samples after the baseline minute pairwise."""
        samples = self.samples
        samples.append(sample)
        if len(samples) <= self.cap:
            return
        after = samples[0].t + BASELINE_SECONDS
        # The baseline minute stays as read (never more than a quarter of the cap).
        first = next((i for i, x in enumerate(samples) if x.t > after), len(samples))
        first = min(first, self.cap // 4)
        body = samples[first:-1]
        merged = [_pair(body[i], body[i + 1]) if i + 1 < len(body) else body[i]
                  for i in range(0, len(body), 2)]
        self.thinned += len(body) - len(merged)
        self.samples = [*samples[:first], *merged, samples[-1]]


class ResourceSampler:
    """Samples targets' CPU, RSS and open fds every ``interval`` seconds, as an asyncio task.

    ``async with ResourceSampler([PidTarget(pid)]) as s: ...`` then ``s.series()``.
    Scrape URLs must pass ``allowed`` (the caller's host allowlist) or the sampler
    refuses them here, with ``ConfigError``, before anything is sent.
    """

    def __init__(self, targets: Sequence[Target], *, interval: float = 1.0,
                 allowed: Callable[[str], bool] | None = None, harness: str | None = HARNESS,
                 now: Callable[[], float] | None = None, started_at: float | None = None,
                 timeout: float | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 max_samples: int = MAX_SAMPLES) -> None:
        """``now`` is the run's clock (seconds since its start) and ``started_at`` its wall-clock
        start; both default to the moment the sampler is entered. Under xdist name each
        worker's ``harness`` series (``fpt:gw0``): they are different processes. Each series
        keeps at most ``max_samples`` samples (see :data:`MAX_SAMPLES`)."""
        if not interval > 0:
            raise ConfigError("resources interval", interval, "be a positive number of seconds")
        for target in targets:
            if isinstance(target, PrometheusTarget):
                scheme = httpx.URL(target.url).scheme
                if scheme not in ("http", "https"):
                    raise ConfigError("resources scrape URL", target.source, "be an http(s) URL")
                if allowed is None or not allowed(target.url):
                    raise ConfigError("resources scrape URL", target.source,
                                      "be on the host allowlist (nothing was sent)")
        self.targets = tuple(targets)
        self.interval = interval
        self.harness = harness
        self.max_samples = max_samples
        # A scrape must end before the next is due: one request per interval, never a pile-up.
        self.timeout = timeout if timeout is not None else min(2.0, 0.8 * interval)
        self._transport = transport
        self._now = now
        self._started_at = started_at
        self._t0 = 0.0
        self._tracks: list[_Track] = []
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def _clock(self) -> float:
        return self._now() if self._now is not None else time.perf_counter() - self._t0

    async def __aenter__(self) -> ResourceSampler:
        self._t0 = time.perf_counter()
        if self._started_at is None:
            self._started_at = time.time()
        readers: list[tuple[_Track, Callable[[], Awaitable[Reading]]]] = []
        if any(isinstance(t, PrometheusTarget) for t in self.targets):
            # No redirects and no proxies from the environment: the request goes to the URL the
            # allowlist approved and nowhere else.
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False,
                                             transport=self._transport, headers={"Accept": TEXT_FORMAT},
                                             limits=httpx.Limits(max_connections=len(self.targets)))
        for target in self.targets:
            track = _Track(target.source, self.max_samples)
            if isinstance(target, PidTarget):
                readers.append((track, self._in_thread(_ProcessReader(target.pid, children=True))))
            else:
                assert self._client is not None
                readers.append((track, _ScrapeReader(target, self._client).read))
            self._tracks.append(track)
        if self.harness:
            track = _Track(self.harness, self.max_samples)
            # fpt's own process only: its children include the services a test starts.
            readers.append((track, self._in_thread(_ProcessReader(os.getpid(), children=False))))
            self._tracks.append(track)
        self._task = asyncio.create_task(self._run(readers), name="fpt-resources")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop sampling (bounded: nothing waits on a slow scrape) and close the HTTP client."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # A psutil read in a thread finishes on its own; nothing here waits for it.
            await asyncio.wait({task}, timeout=1.0)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so it is never logged as unhandled; _run counts its own
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    @staticmethod
    def _in_thread(reader: _ProcessReader) -> Callable[[], Awaitable[Reading]]:
        # psutil reads /proc: quick, but blocking, and listing children scans every process.
        async def read() -> Reading:
            return await asyncio.to_thread(reader.read)
        return read

    async def _sample(self, track: _Track, read: Callable[[], Awaitable[Reading]]) -> None:
        if track.gone_at is not None:
            return
        t = self._clock()
        try:
            cpu, rss, fds = await asyncio.wait_for(read(), self.timeout + 0.5)
        except asyncio.CancelledError:
            raise
        except _Gone:
            track.gone_at = t
            track.add(ResourceSample(t=t))
            return
        except Exception:  # never into the run: a failed read is a counted gap
            track.errors += 1
            track.add(ResourceSample(t=t))
            return
        track.add(ResourceSample(t=t, cpu_percent=cpu, rss_bytes=rss, open_fds=fds))

    async def _run(self, readers: list[tuple[_Track, Callable[[], Awaitable[Reading]]]]) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            await asyncio.gather(*(self._sample(track, read) for track, read in readers))
            # Drift-free ticks; a tick missed behind a slow read is skipped, not caught up.
            due += self.interval
            now = loop.time()
            if due < now:
                due += math.ceil((now - due) / self.interval) * self.interval
            await asyncio.sleep(due - now)

    def series(self) -> tuple[ResourceSeries, ...]:
        """A frozen snapshot of every series so far: targets in order, then fpt's own."""
        return tuple(ResourceSeries(source=t.source, samples=tuple(t.samples), errors=t.errors,
                                    started_at=self._started_at or 0.0, gone_at=t.gone_at,
                                    thinned=t.thinned)
                     for t in self._tracks)
