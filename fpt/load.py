"""The ``fpt_load`` callable: per-test configuration in, one judged run out."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fpt.config.errors import ConfigError, FptFailure
from fpt.config.settings import FptConfig
from fpt.config.thresholds import Threshold, parse_threshold
from fpt.evidence.result import RunResult
from fpt.judge.thresholds import measure
from fpt.report.problems import failures
from fpt.run.context import Observer
from fpt.run.runner import new_context
from fpt.run.scaling import Event
from fpt.run.shapes import Shape, constant

if TYPE_CHECKING:
    from fpt.evidence.explore import ExploreRecord

OVERRIDABLE = ("profile", "users", "duration", "seed", "arrivals", "burst", "max_inflight", "grace",
               "allow_rate", "base_url", "alone", "probe_share", "canary_scan", "scan_limit",
               "served_by", "session_cookie", "login_steps", "scale_p90_factor", "scale_error_rate",
               "public_paths", "high_traffic_rate", "request_deadline",
               "replay_share", "replay_writes", "cancel_share", "cache_probe_share", "hunt_max_rate",
               "connection_share",
               "request_id_header",
               "shared_paths", "shared_steps", "unique_identities", "identity_nonce",
               "service_pids", "recovery_within", "recovery_rate", "soak_min_span")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (timers wake ~0.2 ms late instead of ~1 ms), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _as_list(value: Any) -> list[str]:
    """A threshold list given as one comma-separated string or as a list."""
    if isinstance(value, str):
        return [x.strip() for x in value.split(",") if x.strip()]
    return list(value)


def merge_thresholds(*groups: Iterable[str]) -> tuple[Threshold, ...]:
    """Later groups override earlier ones for the same step and metric."""
    merged: dict[tuple[str, str], Threshold] = {}
    for group in groups:
        for text in group:
            try:
                th = parse_threshold(text)
            except ValueError as e:
                raise ConfigError("thresholds", text, str(e)) from None
            merged[(th.step, th.metric)] = th
    return tuple(merged.values())


class LoadRunner:
    """What ``fpt_load`` is: call it in a sync test, ``await .arun(...)`` in an async one."""

    def __init__(self, cfg: FptConfig, *, name: str, marker: Mapping[str, Any],
                 record: Callable[[RunResult], None], progress: Callable[[Any], None] | None = None,
                 observers: Sequence[Observer] = (), worker: str = "main", first_user: int = 0,
                 split: tuple[int, int] | None = None,
                 record_explore: Callable[[ExploreRecord], None] | None = None,
                 note: Callable[[str], None] | None = None) -> None:
        self._cfg = cfg
        self._name = name
        self._marker = dict(marker)
        self._record = record
        self._progress = progress
        self._observers = tuple(observers)
        self._worker = worker
        self._first_user = first_user
        #: (this worker's index, worker count) when xdist runs every test on every worker
        self._split = split
        #: keeps each exploration's ``ExploreRecord`` in the session, however the test ends
        self._record_explore = record_explore
        #: one line for the session's summary (a proxy in the environment, ...)
        self._note = note
        self.results: list[RunResult] = []

    def __call__(self, flow: Callable[..., Any], **kwargs: Any) -> RunResult:
        """Run ``flow`` under load with its own event loop and return the judged result."""
        __tracebackhide__ = True  # a failure shows the test's line, not fpt's internals
        try:
            asyncio.get_running_loop()
            inside_loop = True
        except RuntimeError:
            inside_loop = False
        if not inside_loop:
            from fpt.run.bounds import close_loop

            # Not `with asyncio.Runner(...)`: its close waits for every task, forever for an
            # iteration that swallows cancellation; close_loop abandons those after a bound.
            factory = loop_factory()
            runner = asyncio.Runner(loop_factory=factory)
            try:
                return runner.run(self.arun(flow, **kwargs))
            except FptFailure as e:
                # The verdict is the message: asyncio's and the event loop's frames add nothing.
                raise e.with_traceback(None) from None
            finally:
                close_loop(runner.get_loop())
                if factory is None:  # as Runner.close: the loop it set as current is gone
                    asyncio.set_event_loop(None)
        raise ConfigError("fpt_load", "called inside a running event loop",
                          "be awaited as `await fpt_load.arun(...)` in an async test")

    def plan(self, **kwargs: Any) -> tuple[FptConfig, Shape, float, tuple[Threshold, ...], Any]:
        """Resolve marker and call arguments over the session config."""
        from fpt.config.settings import KEY_BY_NAME

        for k in self._marker:
            if k not in KEY_BY_NAME and k not in ("rate", "thresholds", "target"):
                raise ConfigError(k, self._marker[k], "be a known fpt key in @pytest.mark.fpt(...)")
        marker = {k: v for k, v in self._marker.items() if k in OVERRIDABLE or k == "rate"}
        call = {k: v for k, v in kwargs.items() if k in OVERRIDABLE}
        target = kwargs.get("target", self._marker.get("target"))
        rate = kwargs.get("rate", self._marker.get("rate"))
        cfg = self._cfg.with_values({k: v for k, v in marker.items() if not isinstance(v, Shape)},
                                    "@pytest.mark.fpt")
        cfg = cfg.with_values(call, "fpt_load()")
        if isinstance(target, str):
            cfg = cfg.with_values({"base_url": target}, "fpt_load()")
            target = cfg.base_url
        if target is None:
            target = cfg.base_url
        if target is None:
            raise ConfigError("base_url", None, "be set: pass target= to fpt_load, or set base_url "
                              "(--fpt-base-url, FPT_BASE_URL, or [tool.fpt])")
        if cfg.profile == "live" and not isinstance(target, str):
            raise ConfigError("target", type(target).__name__,
                              "be a base URL with the live profile (use profile='virtual' for an "
                              "in-process app)")
        if isinstance(rate, Shape):
            shape = rate
            if "rate" in kwargs or "rate" in self._marker:
                cfg = cfg.with_values({"rate": max(shape.peak, 1e-9)}, "fpt_load()")
        else:
            if rate is not None:
                cfg = cfg.with_values({"rate": rate}, "fpt_load()")
            shape = constant(cfg.effective_rate)
        if shape.fixed_length and "duration" not in kwargs and "duration" not in self._marker:
            duration = shape.length
        else:
            duration = cfg.duration
        cfg.validate(url_target=isinstance(target, str))
        for where, value in (("@pytest.mark.fpt", self._marker.get("thresholds", ())),
                             ("fpt_load()", kwargs.get("thresholds", ()))):
            if isinstance(value, str):
                continue
            if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
                raise ConfigError("thresholds", value, "be a list of strings such as "
                                  "['p90<800ms', 'errors<1%']", where)
        thresholds = merge_thresholds(cfg.thresholds, _as_list(self._marker.get("thresholds", ())),
                                      _as_list(kwargs.get("thresholds") or ()))
        events = kwargs.get("events", ())
        if not isinstance(events, list | tuple) or not all(isinstance(e, Event) for e in events):
            raise ConfigError("events", events, "be a list of events such as "
                              "[fpt.at('20s', scaler.scale_to, 3)]", "fpt_load()")
        return cfg, shape, duration, thresholds, target

    def _weakened(self, cfg: FptConfig, result: RunResult, kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
        """The run's settings that narrowed a check, each threshold named by where it came from."""
        from fpt.evidence.narrowing import of_run

        sources = {**dict.fromkeys(cfg.thresholds, cfg.sources.get("thresholds", "default")),
                   **dict.fromkeys(_as_list(self._marker.get("thresholds", ())), "@pytest.mark.fpt"),
                   **dict.fromkeys(_as_list(kwargs.get("thresholds") or ()), "fpt_load()")}
        return of_run(cfg, [t.threshold for t in result.thresholds], sources, result)

    async def _volumes(self, make_run: Callable[[tuple[Threshold, ...]], Any],
                       thresholds: tuple[Threshold, ...], seed: Callable[..., Any],
                       volumes: Sequence[int]) -> RunResult:
        """The same run at each volume: seed the users up to it, run, note p90 per step.

        ``seed(user, n)`` adds ``n`` records for the user (the difference to the previous
        volume). Every volume's run is recorded; the last one carries the volume evidence
        and the ``volume_p90_growth`` thresholds (the others cannot show a growth).
        """
        from fpt.config.thresholds import GROWTH_METRICS
        from fpt.evidence.loadtypes import VolumeEvidence
        from fpt.judge.loadtypes import volume_step

        plain = tuple(t for t in thresholds if t.metric != "volume_p90_growth")
        steps = []
        have = 0
        result: RunResult | None = None
        for k, volume in enumerate(volumes):
            last = k == len(volumes) - 1
            run = make_run(thresholds if last else plain)
            seeded, failed, error = await run.seed(seed, volume - have)
            have = volume
            result = await run.execute()
            steps.append(volume_step(volume, seeded, failed, result.metrics, error))
            if not last:
                self.results.append(result)
                self._record(result)
        assert result is not None
        load = dataclasses.replace(result.load, volume=VolumeEvidence(steps=tuple(steps)))
        result = dataclasses.replace(result, load=load)
        outcomes = tuple(measure(result, t) if t.metric in GROWTH_METRICS else o
                         for t, o in zip(thresholds, result.thresholds, strict=True))
        return dataclasses.replace(result, thresholds=outcomes)

    def explore(self, flow: Callable[..., Any], strategy: Any, *, max_examples: int = 50,
                **kwargs: Any) -> Any:
        """Single-user phase over Hypothesis-generated inputs: ``flow(user, value)`` for each.

        Shrinks a failing input to a minimal one and raises ``FptFailure`` naming it;
        returns an ``ExploreResult`` when every example passes. Either way the session keeps
        what it tried and found: a failure fails the checklist even if the test catches it.
        """
        from fpt.config.hosts import Perimeter
        from fpt.config.settings import PROFILE_RATE
        from fpt.evidence.explore import ExploreRecord, ExploreResult
        from fpt.report.explore import explore_failure, minimal_line
        from fpt.run.explore import explore
        from fpt.run.identity import SOLO_BASE, IdentityFactory, OwnerIndex
        from fpt.run.runner import client_kwargs
        from fpt.run.user import User

        known = {"target", "profile", "seed", "base_url", "allow_rate", "canary_scan", "scan_limit",
                 "http_transport"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(unknown[0], kwargs[unknown[0]],
                              f"not be passed: explore takes {', '.join(sorted(known))}")
        cfg, _, _, _, target = self.plan(**kwargs)
        make_kwargs = client_kwargs(target, fast=cfg.http_transport == "fast",
                                    perimeter=Perimeter.of(cfg.live_hosts), note=self._note,
                                    request_deadline=cfg.request_deadline)
        # Examples are iterations: on a live target they keep to the live ceiling too.
        max_rate = PROFILE_RATE["live"] if cfg.profile == "live" and not cfg.allow_rate else None

        def make_user() -> User:
            ctx = new_context(cfg, flow=getattr(flow, "__name__", "flow"), phase="explore",
                              owners=OwnerIndex(cfg.seed))
            identity = IdentityFactory(cfg.seed).make(SOLO_BASE + 1 + self._first_user)
            return User(identity, ctx, **make_kwargs())

        name = getattr(flow, "__name__", "flow")

        def on_end(result: ExploreResult) -> None:
            if self._record_explore is not None:
                minimal = minimal_line(result.shrunk) if result.shrunk is not None else ""
                self._record_explore(ExploreRecord.of(result, test=self._name, worker=self._worker,
                                                      flow=name, minimal=minimal))

        result = explore(flow, strategy, make_user=make_user, max_examples=max_examples, seed=cfg.seed,
                         loop_factory=loop_factory(), max_rate=max_rate, on_end=on_end)
        if result.shrunk is not None:
            raise FptFailure(explore_failure(name, result.shrunk))
        return result

    def openapi(self, spec: Any, *, auth: Callable[..., Any], check: bool = True, exclude: Any = None,
                params: Any = None, public: Any = None, shared: Any = None, **kwargs: Any) -> RunResult:
        """Hunt every operation of an OpenAPI document under load, with no hand-written flow.

        ``spec``: a dict, a JSON/YAML file, or a URL (absolute on ``live_hosts``, or a path such
        as ``"/openapi.json"`` on the target); ``auth``: ``async def auth(user)`` that signs the
        user up and in, leaving the credentials on ``user.http``. ``exclude``, ``params``,
        ``public``, ``shared``: squad overrides (see :mod:`fpt.run.openapi`); every other ``fpt_load``
        keyword applies. The result carries the per-operation ``coverage``.
        """
        __tracebackhide__ = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                try:
                    return runner.run(self.aopenapi(spec, auth=auth, check=check, exclude=exclude,
                                                    params=params, public=public, shared=shared, **kwargs))
                except FptFailure as e:
                    raise e.with_traceback(None) from None
        raise ConfigError("fpt_load.openapi", "called inside a running event loop",
                          "be awaited as `await fpt_load.aopenapi(...)` in an async test")

    async def aopenapi(self, spec: Any, *, auth: Callable[..., Any], check: bool = True, exclude: Any = None,
                       params: Any = None, public: Any = None, shared: Any = None,
                       **kwargs: Any) -> RunResult:
        """:meth:`openapi` inside the caller's event loop."""
        __tracebackhide__ = True
        from fpt.run.openapi_flow import derive

        if not callable(auth):
            raise ConfigError("auth", auth, "be an async function auth(user) that signs the user up and in "
                              "and leaves the credentials on user.http")
        if "setup" in kwargs:
            raise ConfigError("setup", kwargs["setup"], "not be passed to fpt_load.openapi: auth= is the "
                              "per-user setup")
        cfg, _, _, _, target = self.plan(**kwargs)
        flow, public_paths, shared_paths = await derive(
            spec, target=target, cfg=cfg, note=self._note,
            overrides={"exclude": exclude, "params": params, "public": public, "shared": shared})
        if public_paths:
            kwargs["public_paths"] = [*cfg.public_paths, *public_paths]
        if shared_paths:
            kwargs["shared_paths"] = [*cfg.shared_paths, *shared_paths]
        return await self.arun(flow, check=check, setup=auth,
                               _finish=lambda r: dataclasses.replace(r, coverage=flow.coverage()), **kwargs)

    async def arun(self, flow: Callable[..., Any], *, check: bool = True,
                   _finish: Callable[[RunResult], RunResult] | None = None, **kwargs: Any) -> RunResult:
        """Run ``flow`` under load inside the caller's event loop."""
        __tracebackhide__ = True
        from fpt.run.runner import Run

        known = set(OVERRIDABLE) | {"rate", "thresholds", "target", "events", "setup", "service_pid",
                                    "seed_volume"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(unknown[0], kwargs[unknown[0]],
                              f"not be passed: fpt_load takes {', '.join(sorted(known | {'check'}))}")
        cfg, shape, duration, thresholds, target = self.plan(**kwargs)
        first_user = self._first_user
        whole_shape = shape
        peers: list[int] = []
        if self._split is not None:
            # `--dist each`: this worker drives 1/N of the rate with its own slice of users.
            index, count = self._split
            per_worker = -(-cfg.users // count)
            shape = shape.scaled(1.0 / count)
            cfg = dataclasses.replace(cfg, users=per_worker)
            # The other slices' users are the same seed's people: known here too (personal data).
            peers = [first_user + w * per_worker for w in range(count) if w != index]
            first_user += index * per_worker
        step_every = shape.segments[0].duration if shape.name == "step_up" else None
        pid = kwargs.get("service_pid")
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or pid < 1):
            raise ConfigError("service_pid", pid, "be a process id (a whole number >= 1)")
        seed, volumes = _seed_volume(kwargs.get("seed_volume"))

        def make_run(run_thresholds: tuple[Threshold, ...]) -> Run:
            return Run(flow, cfg=cfg, shape=shape, duration=duration, target=target,
                       thresholds=run_thresholds, name=self._name, observers=self._observers,
                       progress=self._progress, step_every=step_every, worker=self._worker,
                       first_user=first_user, events=kwargs.get("events") or (),
                       setup=kwargs.get("setup"), service_pids=(pid,) if pid is not None else (),
                       note=self._note, peers=peers)

        from fpt.run.reach import ensure_reachable

        await ensure_reachable(target, cfg)  # a dead port: said at once, not loaded for the duration
        from fpt.run.alarm import AlarmInterrupts

        async with AlarmInterrupts():  # pytest-timeout's signal method ends the run, on uvloop too
            if seed is None:
                result = await make_run(thresholds).execute()
            else:
                result = await self._volumes(make_run, thresholds, seed, volumes)
        if self._split is not None:
            # Reports describe the whole run (the merged target rate is the workers' sum).
            result = dataclasses.replace(result, shape=whole_shape.describe())
        if _finish is not None:  # what the flow kept beside the run (an OpenAPI hunt's coverage)
            result = _finish(result)
        result = dataclasses.replace(result, weakened=self._weakened(cfg, result, kwargs))
        self.results.append(result)
        self._record(result)
        if check:
            reasons = failures(result)
            if reasons:
                raise FptFailure(failure_message(result, reasons))
        return result


def _seed_volume(value: Any) -> tuple[Any, tuple[int, ...]]:
    """``(seed_fn, [0, 100, 1000])`` checked: an async callable and two or more increasing volumes."""
    if value is None:
        return None, ()
    allowed = "be (seed_fn, [volume, ...]): an async seed_fn(user, n) and two or more increasing " \
              "whole numbers of records per user"
    if not isinstance(value, tuple | list) or len(value) != 2 or not callable(value[0]):
        raise ConfigError("seed_volume", value, allowed)
    volumes = value[1]
    if (not isinstance(volumes, list | tuple) or len(volumes) < 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in volumes)
            or list(volumes) != sorted(set(volumes))):
        raise ConfigError("seed_volume", volumes, allowed)
    return value[0], tuple(volumes)


def failure_message(result: RunResult, failures: Sequence[str]) -> str:
    """The readable summary an ``FptFailure`` carries; its first line stands alone in pytest's summary."""
    from fpt.report.verdict import headline

    r = result
    head = f"fpt: {r.flow}: {headline(r) or f'{len(failures)} checks failed'}"
    context = (f"  ({r.profile}, {r.achieved_rate:.1f}/s of {r.target_rate:.1f}/s, {r.engine.started} "
               f"iterations, {r.users} users, {r.arrivals} arrivals)")
    repro = (f"  reproduce: pytest '{r.name}' --fpt-seed {r.seed} (same seed: same users, same "
             f"arrival times; {r.users} users, {r.shape}, {r.duration:g}s, profile {r.profile})")
    return "\n".join([head, context, *(f"  - {f}" for f in failures), repro])
