"""Run one flow under load: users + engine + recording, then judge the thresholds.

This is where the layers meet: it builds identities and users, hands the engine a
``work(slot, i)`` that runs the flow as that slot's user, and turns what was
recorded into a :class:`RunResult`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx

from fpt.config.errors import ConfigError
from fpt.config.hosts import Perimeter
from fpt.config.redact import scrub
from fpt.config.settings import FptConfig
from fpt.config.thresholds import Threshold, ThresholdOutcome
from fpt.evidence.checks import AloneEvidence, AloneFailure, AloneTrouble, Evidence, SetupEvidence
from fpt.evidence.findings import Finding
from fpt.evidence.loadtypes import HOLD_SECONDS, LoadEvidence, Stair
from fpt.evidence.metrics import Metrics
from fpt.evidence.progress import Progress
from fpt.evidence.resources import HARNESS
from fpt.evidence.result import RunResult
from fpt.judge.loadtypes import judge_spike, judge_stress, stair_broke, stairs
from fpt.judge.thresholds import measure
from fpt.run.bounds import STOP_BOUND, finish_within, run_within
from fpt.run.context import NO_STEP, REQUEST_DEADLINE, ErrorKind, Observer, RunContext, error_kind
from fpt.run.current import reset_current, set_current
from fpt.run.detectors.attribution import attribute
from fpt.run.detectors.canary import CanaryScanner
from fpt.run.detectors.continuity import SessionWatch, read_back
from fpt.run.detectors.probes import CrossUserProbe
from fpt.run.detectors.replay import Hunter
from fpt.run.engine import LoadEngine
from fpt.run.identity import SOLO_BASE, IdentityFactory, OwnerIndex
from fpt.run.perimeter import GuardedTransport, ProcessGuard, process_perimeter
from fpt.run.recorder import Recorder
from fpt.run.resources import PidTarget, PrometheusMetrics, PrometheusTarget, ResourceSampler, Target
from fpt.run.scaling import Event
from fpt.run.shapes import Shape, constant, schedule
from fpt.run.timeline import Timeline
from fpt.run.transport.desync_check import DesyncCheck
from fpt.run.transport.fast import FastTransport, proxy_in_env
from fpt.run.transport.pool import MAX_CONNECTIONS
from fpt.run.user import User, unawaited_as_findings

Flow = Callable[[User], Awaitable[None]]
Setup = Callable[[User], Awaitable[object]]
"""Per-user setup (sign up, log in) run once before the measured window; what it returns is ignored."""
Seed = Callable[[User, int], Awaitable[None]]
SEED_CONCURRENCY = 8
ASGI_BASE = "http://fpt.asgi"
PREBUILT_USERS = 2000




def new_context(cfg: FptConfig, *, flow: str, phase: str, owners: OwnerIndex, scan: bool = True,
                observers: Sequence[Observer] = ()) -> RunContext:
    """The one way to build a run's context from its config.

    Every phase's requests keep the run's deadline and scan limit; ``scan=False`` (seeding)
    leaves out the shared routes and the canary scan, whose findings would not be the run's.
    """
    ctx = RunContext(flow=flow, phase=phase, owners=owners, request_deadline=cfg.request_deadline,
                     stream_scan_limit=cfg.scan_limit, login_steps=cfg.login_steps)
    ctx.observers.extend(observers)
    if scan:
        ctx.request_id_header = cfg.request_id_header
        ctx.shared_steps = frozenset(cfg.shared_steps)
        ctx.shared_paths = tuple(re.compile(p) for p in cfg.shared_paths)
        ctx.public_paths = tuple(re.compile(p) for p in cfg.public_paths)
        if cfg.canary_scan:
            ctx.observers.append(CanaryScanner(owners, limit=cfg.scan_limit))
    return ctx


def describe_target(target: Any) -> str:
    """A short, secret-free name for the target."""
    if isinstance(target, str):
        return target
    if isinstance(target, httpx.AsyncBaseTransport):
        return f"transport:{type(target).__name__}"
    return f"asgi:{getattr(target, '__name__', type(target).__name__)}"


def _log_note(text: str) -> None:
    """Where a note goes without a session to keep it (``Run`` used directly): fpt's logger."""
    import logging

    logging.getLogger("fpt").warning("fpt: %s", text)


def client_kwargs(target: Any, *, fast: bool = True, perimeter: Perimeter | None = None,
                  note: Callable[[str], None] | None = None,
                  request_deadline: float = REQUEST_DEADLINE) -> Callable[[], dict[str, Any]]:
    """Per-user ``httpx.AsyncClient`` arguments for a URL, an ASGI app or a transport.

    For a URL each user gets its own :class:`fpt.run.transport.fast.FastTransport` (``fast``)
    or httpx's own pool of as many connections (httpx's when the environment sets a
    proxy for the URL, which FastTransport cannot use, with a ``note`` saying so),
    either one inside a :class:`fpt.run.perimeter.GuardedTransport` that refuses hosts
    outside ``perimeter`` (default: the default ``live_hosts``), redirect hops and
    absolute URLs included. ``request_deadline`` is the one limit on a request, connect to
    last byte: httpx's own timeouts are set to it, so none fires before it.
    """
    timeout = httpx.Timeout(request_deadline)
    if isinstance(target, str):
        guard = perimeter if perimeter is not None else Perimeter.of(FptConfig().live_hosts)
        # One SSL context for the run: httpx builds a new one per client otherwise,
        # which costs ~20 ms a user.
        ssl_context = httpx.create_ssl_context()
        if fast and proxy_in_env(target) is not None:
            # Not silently around the proxy: httpx's transport goes through it. A note, not a
            # Python warning: under `-W error` (common in CI) a warning would end the run. The
            # proxy's address is left out of it, it may carry credentials.
            (note or _log_note)(f"the environment sets a proxy for {scrub(target)}; fpt's transport does "
                                "not speak to proxies, so runs against it use httpx's transport (through "
                                "the proxy)")
            fast = False
        # A client given a transport ignores proxy variables; read them as httpx would
        # (once), so the httpx transport keeps its proxies, each behind the guard too.
        proxies = _environment_proxies() if not fast else {}

        # One small pool per user: users never share connections, and no pool is
        # contended by many tasks (httpx pools slow down sharply under contention).
        def pool(proxy: str | None = None) -> httpx.AsyncBaseTransport:
            return GuardedTransport(DesyncCheck(httpx.AsyncHTTPTransport(
                verify=ssl_context, proxy=proxy,
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS,
                                    max_keepalive_connections=MAX_CONNECTIONS))), guard)

        def per_url() -> dict[str, Any]:
            mounts = {pattern: None if proxy is None else pool(proxy) for pattern, proxy in proxies.items()}
            return {"base_url": target, "timeout": timeout, "transport": pool(), "mounts": mounts}

        def per_url_fast() -> dict[str, Any]:
            return {"base_url": target, "timeout": timeout,
                    "transport": GuardedTransport(FastTransport(ssl_context=ssl_context), guard)}
        return per_url_fast if fast else per_url
    if isinstance(target, httpx.AsyncBaseTransport):
        transport: httpx.AsyncBaseTransport = target
    elif callable(target):
        from fpt.run.wsgi import as_asgi

        # Like a real server: an exception in the app is a 500 response, not a crash here.
        transport = httpx.ASGITransport(app=as_asgi(target), raise_app_exceptions=False)
    else:
        raise ConfigError("target", target, "be a base URL, an ASGI app or an httpx transport")
    return lambda: {"base_url": ASGI_BASE, "timeout": timeout, "transport": transport}


def _environment_proxies() -> dict[str, str | None]:
    """httpx's reading of HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY (mount pattern: proxy)."""
    from httpx._utils import get_environment_proxies  # private, but the one true reading of them

    return get_environment_proxies()


class Run:
    """One load run of one flow; ``await run.execute()`` gives its result."""

    def __init__(self, flow: Flow, *, cfg: FptConfig, shape: Shape, duration: float, target: Any,
                 thresholds: Sequence[Threshold], name: str, first_user: int = 0,
                 observers: Sequence[Observer] = (), progress: Callable[[Progress], None] | None = None,
                 step_every: float | None = None, phase: str = "load", worker: str = "main",
                 events: Sequence[Event] = (), setup: Setup | None = None,
                 service_pids: Sequence[int] = (), note: Callable[[str], None] | None = None,
                 peers: Sequence[int] = ()) -> None:
        self.flow = flow
        #: first user index of each other process that drives a slice of this load (xdist workers
        #: under ``--dist each``, shards): their users are known by slot as ours are made, so the
        #: personal-data index finds their values too (same seed, same people)
        self.peers = tuple(peers)
        self.cfg = cfg
        self.shape = shape
        #: tasks running the squad's code that refused to stop when cancelled (fpt.run.bounds)
        self.abandoned = 0
        #: users whose code is running now; after the run, those of abandoned tasks. Their clients
        #: stay open: closed, each request would fail at once, and a loop that swallows the error
        #: would spin without ever yielding, freezing the event loop for good.
        self._busy: set[int] = set()
        self.duration = duration
        self.target = target
        self.thresholds = tuple(thresholds)
        self.name = name
        self.first_user = first_user
        self.setup = setup
        # unique_identities: a nonce mixed into the identity seed (printed, reusable as identity_nonce).
        self.nonce = (cfg.identity_nonce or secrets.randbelow(10**9) + 1) if cfg.unique_identities else 0
        self.id_seed = cfg.seed * 1_000_000_007 + self.nonce if self.nonce else cfg.seed
        self.ctx = new_context(cfg, flow=getattr(flow, "__name__", "flow"), phase=phase,
                               owners=OwnerIndex(self.id_seed), observers=observers)
        self.progress = progress
        self.step_every = step_every
        self.worker = worker
        self.users: list[User | None] = [None] * cfg.users
        self._identities = IdentityFactory(self.id_seed)
        self._client_kwargs = client_kwargs(target, fast=cfg.http_transport == "fast",
                                            perimeter=Perimeter.of(cfg.live_hosts), note=note,
                                            request_deadline=cfg.request_deadline)
        self.scanner = next((o for o in self.ctx.observers if isinstance(o, CanaryScanner)), None)
        self.probe = (CrossUserProbe(self.ctx, share=cfg.probe_share, seed=cfg.seed,
                                     public_paths=cfg.public_paths)
                      if cfg.probe_share > 0 and cfg.users > 1 else None)
        self.hunter = (Hunter(self.ctx, seed=cfg.seed, replay_share=cfg.replay_share,
                              replay_writes=cfg.replay_writes, cache_share=cfg.cache_probe_share,
                              cancel_share=cfg.cancel_share, public_paths=cfg.public_paths,
                              max_rate=cfg.hunt_max_rate, connection_share=cfg.connection_share)
                       if cfg.users > 1 and (cfg.replay_share or cfg.cache_probe_share or cfg.cancel_share
                                             or cfg.connection_share)
                       else None)
        self.ctx.hunt = self.hunter
        self._setup_evidence: SetupEvidence | None = None
        # A group never larger than the users free to run it (nor the in-flight cap): none dropped for it.
        self.burst = max(1, min(cfg.burst, cfg.users, cfg.max_inflight or cfg.users))
        self.timeline = Timeline(events, self.ctx) if events else None
        self.watch: SessionWatch | None = None
        if self.timeline is not None:
            self.watch = SessionWatch(cookie=cfg.session_cookie, login_steps=cfg.login_steps,
                                      served_by=cfg.served_by)
            self.ctx.observers.append(self.watch)
        self._broke_at: float | None = None
        #: the process perimeter while the run lasts (connects of any client in the process)
        self._guard: ProcessGuard | None = None
        self._stair_checked = 0
        self._in_recovery = False
        self.resource_targets = resource_targets(cfg, service_pids)
        self._sampler(0.0)  # refuses a scrape URL off the perimeter now, before any user is built
        #: the running sampler (its ``series()`` is a snapshot so far), for progress displays
        self.sampler: ResourceSampler | None = None

    def user(self, slot: int) -> User:
        """The user in ``slot``, created on first use (a large pool costs nothing up front)."""
        u = self.users[slot]
        if u is None:
            u = self.users[slot] = User(self._identities.make(self.first_user + slot), self.ctx,
                                        **self._client_kwargs())
            for first in self.peers:
                self.ctx.owners.add(self._identities.make(first + slot))
        return u

    async def _work(self, slot: int, i: int) -> None:
        user = self.user(slot)
        start = time.perf_counter()
        error: str | None = "cancelled"  # unless the iteration gets to finish
        self._busy.add(slot)
        try:
            error = await iterate(self.flow, user)
        finally:
            self._busy.discard(slot)  # an abandoned task never gets here: its user stays busy
            # An iteration cancelled when the grace ran out did not finish: a failure, never a success.
            end = time.perf_counter()
            self.ctx.metrics.iteration(end - self.ctx.t0, (end - start) * 1e6, error,
                                       self.ctx.phase if self.timeline is not None else "")
        if self.probe is not None:
            await self.probe.maybe_probe(user)

    def alone_deadline(self) -> float:
        """Seconds the single-user phase may take in all (then it has failed: it hangs)."""
        return max(self.cfg.grace, 1.0)

    async def run_alone(self, iterations: int) -> AloneEvidence:
        """The flow for one user alone, ``iterations`` times in a row, before any load, within a deadline."""
        ctx = new_context(self.cfg, flow=self.ctx.flow, phase="alone", owners=self.ctx.owners)
        user = User(self._identities.make(SOLO_BASE + self.first_user), ctx, **self._client_kwargs())
        errors: dict[str, int] = {}
        if self.setup is not None:
            setup = self.setup
            done, stuck, error = await run_within(lambda: iterate(setup, user, must_send=False),
                                                  max(self.cfg.grace, 1.0))
            self.abandoned += stuck
            user.parked = user.parked or bool(stuck)
            if error or not done:
                errors["setup"] = 1
        alone_stuck = bool(self.abandoned)
        clean = failed = 0
        deadline = self.alone_deadline()

        async def repeat() -> None:
            nonlocal clean, failed
            for _ in range(iterations):
                error = await iterate(self.flow, user)
                if error:
                    failed += 1
                    errors[error] = errors.get(error, 0) + 1
                else:
                    clean += 1

        try:
            done, stuck, _ = await run_within(repeat, deadline)
            alone_stuck = alone_stuck or bool(stuck)
            if stuck:
                self.abandoned += stuck
                user.parked = True
        finally:
            if not alone_stuck:
                await user.aclose()
            await ctx.aclose()
        if ctx.misuse is not None:
            raise ctx.misuse
        unfinished = iterations - clean - failed
        failures = alone_failures(iterations=iterations, deadline=deadline, done=done, stuck=stuck,
                                  examples=ctx.findings.examples, failed=failed, errors=errors)
        return AloneEvidence(iterations=iterations, clean=clean, failed=failed, unfinished=unfinished,
                             deadline_s=deadline, user=user.identity.label,
                             findings=dict(ctx.findings.counts), errors=errors, failures=failures)

    def _active_checks(self) -> tuple[str, ...]:
        out = []
        if self.scanner is not None:
            out.append("canary_scan")
        if any(t.owner_checked for t in self.ctx.recorder.steps.values()):
            out.append("ownership")
        if self.probe is not None:
            out.append("cross_user_probes")
        return tuple(out)

    def _evidence(self, alone: AloneEvidence | None) -> Evidence:
        rec = self.ctx.recorder
        if self.scanner is not None:
            rec.scan = self.scanner.evidence()
        h = self.hunter
        arrivals = self.cfg.arrivals + (f", groups of {self.burst}" if self.cfg.arrivals == "rendezvous"
                                        else "")
        return rec.freeze(checks=self._active_checks(), probes_enabled=self.probe is not None, alone=alone,
                          replay=h is not None and h.replaying, cache=h is not None and h.caching,
                          cancel=h is not None and h.cancelling, pairing=self.cfg.request_id_header,
                          setup=self._setup_evidence, arrivals=arrivals, identity_nonce=self.nonce,
                          connection=h is not None and h.sharing)

    async def run_setup(self, users: int) -> SetupEvidence:
        """``setup(user)`` once per user before the clock starts, within a deadline; not measured.

        Its requests go to a throwaway recorder and metrics (the load window starts after it);
        a finding it makes stays a finding, and a setup that fails or raises is a functional one.
        """
        assert self.setup is not None
        setup = self.setup
        ctx = self.ctx
        metrics, recorder, phase = ctx.metrics, ctx.recorder, ctx.phase
        ctx.metrics, ctx.recorder, ctx.phase = Metrics(), Recorder(), "setup"
        deadline = max(self.cfg.grace, 5.0)
        gate = asyncio.Semaphore(8)  # a few at a time: a sign-up storm is not what is measured
        ok = failed = 0

        async def one(slot: int) -> None:
            nonlocal ok, failed
            user = self.user(slot)
            async with gate:
                self._busy.add(slot)
                try:
                    error = await iterate(setup, user, must_send=False)
                finally:
                    self._busy.discard(slot)
            if error:
                failed += 1
                user.fail("functional", f"setup failed ({error}): {user.last_error or 'see its steps'}",
                          step="setup")
            else:
                ok += 1

        try:
            _, abandoned = await finish_within([asyncio.ensure_future(one(slot)) for slot in range(users)],
                                               deadline)
            self._abandon(abandoned)
        finally:
            ctx.metrics, ctx.recorder, ctx.phase = metrics, recorder, phase
        unfinished = users - ok - failed
        if unfinished:
            ctx.findings.add(Finding(kind="functional", message=f"setup of {unfinished} users did not finish "
                                     f"within {deadline:g}s", flow=ctx.flow, step="setup", phase="setup"))
        return SetupEvidence(enabled=True, users=users, ok=ok, failed=failed, unfinished=unfinished,
                             deadline_s=deadline)

    def _stop(self) -> bool:
        return self._broke_at is not None or self.ctx.misuse is not None

    def _tick(self, elapsed: float, phase: str = "") -> None:
        if self.step_every and not phase:
            self._check_stair(elapsed)
        if self.progress:
            m = self.ctx.metrics
            now = self.ctx.phase
            self.progress(Progress(
                elapsed=elapsed, duration=self.duration, started=m.flow.count,
                rate=m.flow.count / elapsed if elapsed else 0.0,
                p90_ms=m.flow.hist.percentile(90) / 1000.0, errors=m.flow.failed,
                findings=self.ctx.findings.total, name=self.name,
                phase=phase or ("load" if now in ("load", "") else f"load {now}"),
                target_rate=self.shape.rate_at(min(elapsed, self.duration))))

    def _check_stair(self, elapsed: float) -> None:
        """step_up: judge each finished stair on its own seconds; stop at the first that breaks."""
        assert self.step_every
        if self._in_recovery:
            return
        stair = int(elapsed // self.step_every)
        while self._stair_checked < stair and self._broke_at is None:
            lo = self._stair_checked * self.step_every
            rate = self.shape.rate_at(lo + 0.5 * self.step_every)
            if stair_broke(self.ctx.metrics, lo, lo + self.step_every, rate, self.thresholds):
                self._broke_at = rate
            self._stair_checked += 1

    def stair_rates(self) -> list[float]:
        """The rate of each stair of a step_up shape."""
        assert self.step_every
        return [self.shape.rate_at((k + 0.5) * self.step_every)
                for k in range(round(self.shape.length / self.step_every))]

    async def seed(self, seed: Seed, count: int) -> tuple[int, int, str]:
        """Call ``seed(user, count)`` for every user of the run before its window.

        Returns (users seeded, users whose seeding failed, the first failure in one line).

        Each user is its own identity (as in the run), with a client and context of its
        own so seeding requests are not counted as the run's; bounded in concurrency and time.
        """
        if count <= 0:
            return 0, 0, ""
        ctx = new_context(self.cfg, flow=self.ctx.flow, phase="seed", owners=self.ctx.owners, scan=False)
        gate = asyncio.Semaphore(SEED_CONCURRENCY)
        ok = failed = 0
        errors: list[str] = []

        async def one(slot: int) -> None:
            nonlocal ok, failed
            async with gate:
                user = User(self._identities.make(self.first_user + slot), ctx, **self._client_kwargs())
                try:
                    await seed(user, count)
                    ok += 1
                except Exception as exc:  # the squad's code: counted and named, never into the run
                    failed += 1
                    errors.append(f"{user.identity.label}: {type(exc).__name__}: {exc}"[:300])
                finally:
                    await user.aclose()

        # Bounded: each wave of SEED_CONCURRENCY users gets a request deadline and the grace.
        waves = -(-self.cfg.users // SEED_CONCURRENCY)
        budget = (max(self.cfg.grace, 1.0) + self.cfg.request_deadline) * waves
        tasks = [asyncio.ensure_future(one(slot)) for slot in range(self.cfg.users)]
        cancelled, abandoned = await finish_within(tasks, budget)
        self.abandoned += abandoned
        await ctx.aclose()
        if cancelled:
            errors.append(f"{cancelled} users' seeding did not finish within {budget:g}s")
        return ok, failed + cancelled, errors[0] if errors else ""

    def _sampler(self, wall: float) -> ResourceSampler:
        harness = HARNESS if self.worker == "main" else f"{HARNESS}:{self.worker}"
        perimeter = Perimeter.of(self.cfg.live_hosts)
        return ResourceSampler(self.resource_targets, harness=harness, started_at=wall,
                               now=lambda: time.perf_counter() - self.ctx.t0,
                               allowed=lambda url: perimeter.allows(httpx.URL(url).host))

    async def _recover(self) -> tuple[float, float, float]:
        """After a broken stair: the safe rate for ``recovery_within`` (+ a hold) seconds.

        Returns (rate, start, end) in run seconds.
        """
        rate = self.cfg.recovery_rate
        if rate is None:
            held = self.stair_rates()[:self._stair_checked - 1]  # the stairs before the broken one
            rate = held[-1] if held else max(self.shape.rate_at(0.0) / 2.0, 0.5)
        length = self.cfg.recovery_within + HOLD_SECONDS + 1.0
        self._in_recovery = True
        engine = LoadEngine(users=self.cfg.users, max_inflight=self.cfg.max_inflight, grace=self.cfg.grace)
        start = self.ctx.now()
        await engine.run(schedule(constant(rate), length, arrivals=self.cfg.arrivals, burst=self.cfg.burst,
                                  seed=self.cfg.seed), self._work, duration=length,
                         tick=self._tick if self.progress else None)
        self._abandon(engine.abandoned)
        return rate, start, start + length

    async def execute(self) -> RunResult:
        """Run the load, close every client, and build the result."""
        with unawaited_as_findings(), process_perimeter(Perimeter.of(self.cfg.live_hosts)) as guard:
            self._guard = guard
            return await self._execute()

    async def _execute(self) -> RunResult:
        cfg = self.cfg
        if cfg.alone:
            self._tick(0.0, "alone")  # the live view says what the first seconds are spent on
        alone = await self.run_alone(cfg.alone) if cfg.alone else None
        engine = LoadEngine(users=cfg.users, max_inflight=cfg.max_inflight, grace=cfg.grace)
        due = schedule(self.shape, self.duration, arrivals=cfg.arrivals, burst=self.burst, seed=cfg.seed)
        # Users are built before the clock starts, so their cost does not make the
        # first iterations late; very large pools build the rest on first use.
        for slot in range(min(cfg.users, PREBUILT_USERS)):
            self.user(slot)
        if self.setup is not None:
            self._setup_evidence = await self.run_setup(min(cfg.users, PREBUILT_USERS))
        wall = time.time()
        self.ctx.t0 = time.perf_counter()
        continuity = None
        recovery: tuple[float, float, float] | None = None
        sampler = self.sampler = self._sampler(wall)
        timeline_task = asyncio.create_task(self.timeline.run()) if self.timeline else None
        try:
            await sampler.__aenter__()
            stats = await engine.run(due, self._work, duration=self.duration, stop=self._stop,
                                     tick=self._tick if (self.progress or self.step_every) else None)
            self._abandon(engine.abandoned)
            if self.step_every and self._broke_at is not None:
                recovery = await self._recover()
            if self.timeline is not None and self.watch is not None and timeline_task is not None:
                if not timeline_task.done():
                    timeline_task.cancel()
                await asyncio.gather(timeline_task, return_exceptions=True)
                self.timeline.close(self.ctx.now())
                self.ctx.phase = "readback"
                self._tick(self.ctx.now(), "read-back")
                owners = {u.index: u for u in self.users if u is not None}
                readback = await read_back(list(self.ctx.writes), owners, self.ctx,
                                           budget=max(cfg.grace, 1.0), not_kept=self.ctx.writes_dropped)
                continuity = self.timeline.evidence(cfg, self.watch, readback,
                                                    self.ctx.findings.counts["session"])
            if self.ctx.reasks:
                # Leaks are named only after the same request was asked again alone: nothing in flight.
                if self.hunter is not None:
                    await self.hunter.drain(max(cfg.grace, 1.0))
                await attribute(self.ctx, budget=max(cfg.grace, 1.0))
        finally:
            await sampler.stop()
            if timeline_task is not None and not timeline_task.done():
                timeline_task.cancel()
            if self.hunter is not None:
                await self.hunter.drain(max(cfg.grace, 1.0))
            await asyncio.gather(*(u.aclose() for k, u in enumerate(self.users)
                                   if u is not None and k not in self._busy),
                                 return_exceptions=True)
            await self.ctx.aclose()
        if self.ctx.misuse is not None:
            raise self.ctx.misuse
        self._perimeter_findings()
        # The target per second, for the report's plot (a ramp's target is not its mean).
        self.ctx.metrics.targets = {s: self.shape.total(min(s + 1.0, self.duration)) - self.shape.total(s)
                                    for s in range(math.ceil(self.duration))}
        load = self._load_evidence(stats.stopped_at, recovery)
        result = RunResult(
            name=self.name, flow=self.ctx.flow, profile=cfg.profile,
            target=describe_target(self.target), shape=self.shape.describe(),
            target_rate=self.shape.total(self.duration) / self.duration,
            duration=self.duration, users=cfg.users, seed=cfg.seed, arrivals=cfg.arrivals,
            engine=stats, metrics=self.ctx.metrics, findings=self.ctx.findings,
            first_user=self.first_user, worker=self.worker, started_at=wall,
            broke_at_rate=self._broke_at, phase=self.ctx.phase,
            evidence=self._evidence(alone), continuity=continuity,
            resources=sampler.series(), load=load, abandoned=self.abandoned,
        )
        if stats.stopped_at is not None:
            # A stress run that stopped at its breaking point is judged on the rate it did reach.
            result = _replace_rate(result, self.shape.total(stats.stopped_at) / stats.stopped_at
                                   if stats.stopped_at else result.target_rate)
        # A stress run that broke is judged on the stairs that held (see RunResult.measure).
        outcomes = tuple(measure(result, t) for t in self.thresholds)
        if self.progress:
            self._tick(self.ctx.now(), "done")
        return _with_thresholds(result, outcomes)

    def _abandon(self, n: int) -> None:
        """``n`` iterations refused to stop when cancelled: each is a failed iteration ("did not stop")
        (their own bookkeeping never ran), timed at least as long as the grace and the stop bound.
        Their users are parked: whatever the loop they are stuck in asks, nothing more is sent."""
        self.abandoned += n
        for slot in self._busy:
            user = self.users[slot]
            if user is not None:
                user.parked = True
        for _ in range(n):
            self.ctx.metrics.iteration(self.ctx.now(), (self.cfg.grace + STOP_BOUND) * 1e6, "did not stop",
                                       self.ctx.phase if self.timeline is not None else "")
    def _perimeter_findings(self) -> None:
        """Every connect the process perimeter refused is a ``perimeter`` finding naming the host."""
        guard = self._guard
        if guard is None or not guard.refused:
            return
        allowed = ", ".join(guard.perimeter.allowed) or "none"
        for refusal in guard.refusals:
            self.ctx.findings.add(Finding(
                kind="perimeter", flow=self.ctx.flow, step=refusal.step, user=refusal.user,
                phase=self.ctx.phase,
                evidence={"host": refusal.host, "port": refusal.port, "client": "process"},
                message=f"a connection to {refusal.host}:{refusal.port} from outside fpt's own clients was "
                        f"refused: not an allowed live host (allowed: {allowed})"))
        for _ in range(guard.refused - len(guard.refusals)):
            self.ctx.findings.add(Finding(kind="perimeter", flow=self.ctx.flow, phase=self.ctx.phase,
                                          message="a connection refused by the process perimeter (not kept)"))

    def _load_evidence(self, stopped_at: float | None, recovery: tuple[float, float, float] | None
                       ) -> LoadEvidence:
        metrics = self.ctx.metrics
        stress = spike = None
        if self.step_every:
            until = stopped_at if stopped_at is not None else self.duration
            steps: tuple[Stair, ...] = stairs(metrics, self.stair_rates(), self.step_every, self.thresholds,
                                             until=until)
            rate, start, end = recovery if recovery is not None else (None, None, 0.0)
            stress = judge_stress(metrics, steps, self.thresholds, recovery_rate=rate, recovery_start=start,
                                  recovery_end=end, recovery_within=self.cfg.recovery_within)
        if self.shape.name == "spike" and len(self.shape.segments) == 5:
            segs = self.shape.segments
            start = segs[0].duration
            end = start + segs[1].duration + segs[2].duration + segs[3].duration
            spike = judge_spike(metrics, base=segs[0].start, peak=segs[2].start, start=start, end=end,
                                run_end=self.duration, thresholds=self.thresholds,
                                within=self.cfg.recovery_within)
        return LoadEvidence(stress=stress, spike=spike, soak_min_span=self.cfg.soak_min_span)


def alone_failures(*, iterations: int, deadline: float, done: bool, stuck: int, examples: Sequence[Finding],
                   failed: int, errors: Mapping[str, int]) -> tuple[AloneFailure, ...]:
    """Why a single-user phase failed, in the order shown: not finished within ``deadline``, an
    iteration abandoned, the first five findings, iterations with errors (empty when none)."""
    out = []
    if not done:
        out.append(AloneFailure(trouble=AloneTrouble.NOT_FINISHED, iterations=iterations,
                                deadline_s=deadline))
    if stuck:
        out.append(AloneFailure(trouble=AloneTrouble.ABANDONED))
    out.extend(AloneFailure(trouble=AloneTrouble.FINDING, finding=f) for f in examples[:5])
    if errors:
        # the figures as they are now (an abandoned iteration may still count errors later)
        out.append(AloneFailure(trouble=AloneTrouble.ERRORS, failed=failed, iterations=iterations,
                                errors=dict(errors)))
    return tuple(out)


def resource_targets(cfg: FptConfig, service_pids: Sequence[int] = ()) -> tuple[Target, ...]:
    """What to sample besides fpt itself: the configured and passed PIDs, and the metrics URL."""
    targets: list[Target] = [PidTarget(pid) for pid in dict.fromkeys((*cfg.service_pids, *service_pids))]
    if cfg.metrics_url:
        metrics = PrometheusMetrics(rss=cfg.metrics_rss or None, cpu_seconds=cfg.metrics_cpu or None,
                                    open_fds=cfg.metrics_fds or None)
        targets.append(PrometheusTarget(cfg.metrics_url, metrics=metrics))
    return tuple(targets)


async def iterate(flow: Setup, user: User, *, must_send: bool = True) -> str | None:
    """One iteration of ``flow`` as ``user``; returns its error kind (None when clean).

    With ``must_send`` (every flow iteration; not a setup), an iteration that returned without
    sending a single request tested nothing — most often a missing ``await`` — and is a
    functional finding, never a clean iteration.
    """
    token = set_current(user)
    user._iteration_error = None
    user.raised_in = user.last_error = None
    sent = user._requests
    try:
        await flow(user)
    except (TimeoutError, httpx.TransportError) as exc:
        user._iteration_error = user._iteration_error or error_kind(exc)
    except Exception as exc:
        user.fail("functional", scrub(f"flow raised {type(exc).__name__}: {exc}")[:300], step=user.raised_in)
        user._iteration_error = ErrorKind.EXCEPTION
    else:
        # A derived flow with nothing to call (an OpenAPI hunt whose every operation was skipped)
        # says so: its empty iterations are no evidence either way, not a missing await.
        if (must_send and user._requests == sent and user.ctx.misuse is None
                and not getattr(flow, "nothing_to_send", False)):
            user.fail("functional", NO_REQUEST, step=NO_STEP)
    finally:
        user.iterations += 1
        reset_current(token)
    return user._iteration_error


NO_REQUEST = "the iteration sent no request (a missing await?): it tested nothing"


def _replace_rate(r: RunResult, rate: float) -> RunResult:
    return dataclasses.replace(r, target_rate=rate)


def _with_thresholds(r: RunResult, outcomes: tuple[ThresholdOutcome, ...]) -> RunResult:
    return dataclasses.replace(r, thresholds=outcomes)
