"""Virtual downstream services on respx: routes, per-user state, latency, faults, recording.

The service under test runs for real; the services *it* calls are answered here, so
load never reaches shared downstream systems. Two ways in: hand the service
``virtual.transport`` (an ``httpx.MockTransport`` over the respx routers — the way
respx recommends), or ``virtual.patch()`` for code that builds its own clients
(respx patches httpcore; every other host passes through untouched).

Latency is applied with ``await asyncio.sleep`` inside an async side effect, so
concurrent calls overlap instead of queueing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from fpt.config.errors import ConfigError
from fpt.config.hist import Histogram

Z99 = 2.3263478740408408  # standard normal quantile at 0.99


class Latency(Protocol):
    """A latency model: draws one delay in seconds."""

    def sample(self, rng: random.Random) -> float:
        """One delay, seconds (never negative)."""
        ...


@dataclass(frozen=True)
class Fixed:
    """Always ``ms`` milliseconds."""

    ms: float

    def sample(self, rng: random.Random) -> float:
        """The fixed delay."""
        return self.ms / 1000


@dataclass(frozen=True)
class Uniform:
    """Uniform between ``low_ms`` and ``high_ms``."""

    low_ms: float
    high_ms: float

    def sample(self, rng: random.Random) -> float:
        """A uniform delay."""
        return rng.uniform(self.low_ms, self.high_ms) / 1000


@dataclass(frozen=True)
class Normal:
    """Normal with ``mean_ms`` and ``sd_ms``, cut at zero."""

    mean_ms: float
    sd_ms: float

    def sample(self, rng: random.Random) -> float:
        """A normal delay, never negative."""
        return max(0.0, rng.gauss(self.mean_ms, self.sd_ms)) / 1000


@dataclass(frozen=True)
class LogNormal:
    """Log-normal given by its median and 99th percentile, as latency usually is."""

    p50_ms: float
    p99_ms: float

    def __post_init__(self) -> None:
        if not 0 < self.p50_ms <= self.p99_ms:
            raise ConfigError("lognormal", (self.p50_ms, self.p99_ms), "have 0 < p50 <= p99 (p50, p99 in ms)")

    def sample(self, rng: random.Random) -> float:
        """A log-normal delay."""
        sigma = (math.log(self.p99_ms) - math.log(self.p50_ms)) / Z99
        return rng.lognormvariate(math.log(self.p50_ms), sigma) / 1000


@dataclass(frozen=True)
class Replay:
    """Draws from recorded delays (milliseconds)."""

    samples_ms: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.samples_ms:
            raise ConfigError("replay", self.samples_ms, "have at least one recorded latency")

    def sample(self, rng: random.Random) -> float:
        """One of the recorded delays."""
        return rng.choice(self.samples_ms) / 1000


@dataclass(frozen=True)
class Faults:
    """Injected failures: error status, timeouts and connection resets, each a probability."""

    error_rate: float = 0.0
    error_status: int = 503
    timeout_rate: float = 0.0
    reset_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "timeout_rate", "reset_rate"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(name, v, "be between 0 and 1")
        total = self.error_rate + self.timeout_rate + self.reset_rate
        if total > 1:
            raise ConfigError("error_rate + timeout_rate + reset_rate", total, "be at most 1")


Handler = Callable[[httpx.Request, dict[str, Any]], Any]
"""``handler(request, state)`` returns an ``httpx.Response``, a JSON-able value, or awaits one."""


@dataclass
class CallLog:
    """What a virtual service answered: counts, statuses, applied latency."""

    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)

    @property
    def total(self) -> int:
        """Every call answered or failed."""
        return sum(self.calls.values())


class VirtualService:
    """One virtual downstream host with routes, state, a latency model and faults."""

    def __init__(self, name: str, base_url: str, *, latency: Latency | None = None,
                 faults: Faults | None = None, seed: int = 0) -> None:
        import respx

        self.name = name
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.latency = latency
        self.faults = faults or Faults()
        self.state: dict[str, dict[str, Any]] = {}
        self.log = CallLog()
        self._rng = random.Random(seed)
        self.router = respx.MockRouter(base_url=self.base_url, assert_all_called=False,
                                       assert_all_mocked=True)

    def route(self, method: str, path: str, *, json: Any = None, status: int = 200,
              handler: Handler | None = None, latency: Latency | None = None,
              name: str | None = None) -> VirtualService:
        """Answer ``method path`` (respx path patterns, e.g. ``r"/eligibility/(?P<id>\\w+)"``)."""
        label = name or f"{method.upper()} {path}"
        lat = latency or self.latency

        async def respond(request: httpx.Request, **params: Any) -> httpx.Response:
            return await self._respond(label, request, params, lat, handler, json, status)

        pattern = {"path__regex": path} if "(" in path or "\\" in path else {"path": path}
        self.router.route(method=method.upper(), **pattern).mock(side_effect=respond)
        return self

    async def _respond(self, label: str, request: httpx.Request, params: Mapping[str, Any],
                       latency: Latency | None, handler: Handler | None, body: Any,
                       status: int) -> httpx.Response:
        self.log.calls[label] += 1
        delay = latency.sample(self._rng) if latency else 0.0
        self.log.latency.record(delay * 1e6)
        roll = self._rng.random()
        f = self.faults
        if roll < f.timeout_rate:
            self.log.faults["timeout"] += 1
            await asyncio.sleep(delay)
            raise httpx.ReadTimeout(f"virtual {self.name}: injected timeout", request=request)
        if roll < f.timeout_rate + f.reset_rate:
            self.log.faults["reset"] += 1
            raise httpx.RemoteProtocolError(f"virtual {self.name}: injected connection reset",
                                            request=request)
        if delay:
            await asyncio.sleep(delay)
        if roll < f.timeout_rate + f.reset_rate + f.error_rate:
            self.log.faults["error"] += 1
            self.log.statuses[f.error_status] += 1
            return httpx.Response(f.error_status, json={"error": f"virtual {self.name}: injected error"})
        if handler is not None:
            key = str(params.get("key") or params.get("id") or "")
            out = handler(request, self.state.setdefault(key, {}) if key else self.state.setdefault("", {}))
            if isinstance(out, Awaitable):
                out = await out
            response = out if isinstance(out, httpx.Response) else httpx.Response(status, json=out)
        else:
            response = httpx.Response(status, json=body)
        self.log.statuses[response.status_code] += 1
        return response

    @classmethod
    def from_recording(cls, path: str | Path, *, seed: int = 0) -> VirtualService:
        """A service that replays a recording: each route's status mix, latencies and a body."""
        data = json.loads(Path(path).read_text())
        svc = cls(data["name"], data["base_url"], seed=seed)
        for r in data["routes"]:
            statuses = {int(k): v for k, v in r["statuses"].items()}
            bodies = {int(k): v for k, v in r.get("bodies", {}).items()}
            def handler(request: httpx.Request, state: dict[str, Any], statuses: dict[int, int] = statuses,
                        bodies: dict[int, Any] = bodies, rng: random.Random = svc._rng) -> httpx.Response:
                code = rng.choices(list(statuses), weights=list(statuses.values()))[0]
                return httpx.Response(code, json=bodies.get(code))

            svc.route(r["method"], r["path"], handler=handler, latency=Replay(tuple(r["latency_ms"])))
        return svc


class Recorder(httpx.AsyncBaseTransport):
    """Wraps a real transport and records each downstream call, to virtualize it later."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, name: str, base_url: str,
                 route_of: Callable[[str], str] | None = None, max_samples: int = 5000) -> None:
        self.inner = inner
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.route_of = route_of or (lambda p: p)
        self.max_samples = max_samples
        self.routes: dict[tuple[str, str], dict[str, Any]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward the request, time it, remember its status, latency and a body per status."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        ms = (loop.time() - start) * 1000
        key = (request.method, self.route_of(request.url.path))
        r = self.routes.setdefault(key, {"statuses": Counter(), "latency_ms": [], "bodies": {}})
        r["statuses"][response.status_code] += 1
        if len(r["latency_ms"]) < self.max_samples:
            r["latency_ms"].append(round(ms, 3))
        if response.status_code not in r["bodies"]:
            with contextlib.suppress(ValueError):
                r["bodies"][response.status_code] = json.loads(body)
        return httpx.Response(response.status_code, headers=response.headers, content=body,
                              request=request)

    def save(self, path: str | Path) -> Path:
        """Write the recording as JSON (request shape, status mix, latencies, one body per status)."""
        out = Path(path)
        out.write_text(json.dumps({
            "name": self.name, "base_url": self.base_url,
            "routes": [{"method": m, "path": p, "statuses": dict(r["statuses"]),
                        "latency_ms": r["latency_ms"], "bodies": r["bodies"]}
                       for (m, p), r in self.routes.items()],
        }, indent=1))
        return out

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


class VirtualServices:
    """The ``fpt_virtual`` fixture: a set of virtual services and the ways to reach them."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.services: dict[str, VirtualService] = {}

    def service(self, name: str, base_url: str, *, latency: Latency | None = None,
                faults: Faults | None = None) -> VirtualService:
        """Declare a virtual downstream host."""
        svc = VirtualService(name, base_url, latency=latency, faults=faults,
                             seed=self.seed + len(self.services))
        self.services[name] = svc
        return svc

    def add(self, svc: VirtualService) -> VirtualService:
        """Add a service built elsewhere (e.g. :meth:`VirtualService.from_recording`)."""
        self.services[svc.name] = svc
        return svc

    async def _dispatch(self, request: httpx.Request) -> httpx.Response:
        for svc in self.services.values():
            if request.url.netloc.decode() == svc.host:
                return await svc.router.async_handler(request)
        return httpx.Response(502, json={"error": f"no virtual service for {request.url.host}"})

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """An ``httpx`` transport answering every declared host; hand it to the service under test."""
        return httpx.MockTransport(self._dispatch)

    @contextlib.contextmanager
    def patch(self) -> Iterator[None]:
        """Route in-process httpx calls to the virtual hosts (respx), pass every other host through."""
        import respx

        with respx.mock(assert_all_called=False, assert_all_mocked=False) as mock:
            for svc in self.services.values():
                parts = urlsplit(svc.base_url)
                where: dict[str, Any] = {"host": parts.hostname}
                if parts.port is not None:
                    where["port"] = parts.port
                mock.route(**where).mock(side_effect=self._dispatch)
            mock.route().pass_through()
            yield

    def summary(self) -> dict[str, Any]:
        """Calls, statuses, faults and latency percentiles (ms) of every service."""
        return {name: {"calls": dict(s.log.calls), "statuses": dict(s.log.statuses),
                       "faults": dict(s.log.faults),
                       "latency_ms": {k: v / 1000 for k, v in s.log.latency.summary().items()}}
                for name, s in self.services.items()}


def latency_from(spec: Mapping[str, Any] | Sequence[float] | None) -> Latency | None:
    """Build a model from a plain description, e.g. ``{"lognormal": [80, 400]}``."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        return Replay(tuple(float(x) for x in spec))
    ((kind, args),) = spec.items()
    models: dict[str, Callable[..., Latency]] = {
        "fixed": Fixed, "uniform": Uniform, "normal": Normal, "lognormal": LogNormal}
    if kind not in models:
        raise ConfigError("latency model", kind, f"be one of {', '.join(models)}")
    return models[kind](*args) if isinstance(args, list | tuple) else models[kind](args)
