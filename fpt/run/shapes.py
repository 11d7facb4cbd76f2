"""Load shapes (the target rate over time) and arrival schedules.

Every shape is piecewise linear, so the cumulative number of due iterations has a
closed-form inverse: iteration *i* is due when the integral of the rate reaches
``i + 1/2`` (uniform arrivals). Schedules are generators, so a soak keeps no list.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from fpt.config.errors import ConfigError
from fpt.config.units import parse_duration

ARRIVALS = ("uniform", "poisson", "rendezvous")


@dataclass(frozen=True, kw_only=True, slots=True)
class Segment:
    """A stretch of time over which the rate moves linearly from ``start`` to ``end``."""

    duration: float
    start: float
    end: float

    @property
    def iterations(self) -> float:
        """Integral of the rate over the segment."""
        return (self.start + self.end) / 2.0 * self.duration


@dataclass(frozen=True, kw_only=True)
class Shape:
    """A target rate over time: segments, then hold the last rate until the run ends."""

    segments: tuple[Segment, ...]
    name: str = "constant"
    #: True when the shape fixes the run's length itself (stages, spike).
    fixed_length: bool = False

    @property
    def length(self) -> float:
        """Total length of the declared segments, seconds."""
        return sum(s.duration for s in self.segments)

    def over(self, duration: float) -> tuple[Segment, ...]:
        """Segments cut or extended (holding the last rate) to exactly ``duration``."""
        out: list[Segment] = []
        left = duration
        for s in self.segments:
            if left <= 0:
                break
            if s.duration <= left:
                out.append(s)
                left -= s.duration
            else:
                frac = left / s.duration
                out.append(Segment(duration=left, start=s.start, end=s.start + (s.end - s.start) * frac))
                left = 0
        if left > 0:
            last = self.segments[-1].end if self.segments else 0.0
            out.append(Segment(duration=left, start=last, end=last))
        return tuple(out)

    def scaled(self, factor: float) -> Shape:
        """The same shape at ``factor`` times the rate (a worker's share of the load)."""
        segs = tuple(Segment(duration=s.duration, start=s.start * factor, end=s.end * factor)
                     for s in self.segments)
        return Shape(segments=segs, name=self.name, fixed_length=self.fixed_length)

    def rate_at(self, t: float) -> float:
        """Target rate at time ``t`` seconds after the start."""
        at = 0.0
        for s in self.segments:
            if t < at + s.duration:
                return s.start + (s.end - s.start) * (t - at) / s.duration
            at += s.duration
        return self.segments[-1].end if self.segments else 0.0

    @property
    def peak(self) -> float:
        """Highest target rate anywhere in the shape."""
        return max((max(s.start, s.end) for s in self.segments), default=0.0)

    def total(self, duration: float) -> float:
        """Integral of the rate over ``duration``: the expected number of iterations."""
        return sum(s.iterations for s in self.over(duration))

    def describe(self) -> str:
        """One line for reports."""
        if self.name == "constant" and self.segments:
            return f"{self.segments[0].start:g}/s"
        return f"{self.name} (peak {self.peak:g}/s)"


def _rate(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(what, value, "be a number >= 0")
    if value < 0 or math.isnan(value):
        raise ConfigError(what, value, "be a number >= 0")
    return float(value)


def constant(rate: float) -> Shape:
    """The same rate for the whole run."""
    r = _rate(rate, "rate")
    return Shape(segments=(Segment(duration=1.0, start=r, end=r),))


def ramp(start: float, end: float, over: str | float) -> Shape:
    """Move linearly from ``start`` to ``end`` per second over ``over``, then hold ``end``."""
    seg = Segment(duration=parse_duration(over), start=_rate(start, "start"), end=_rate(end, "end"))
    return Shape(segments=(seg,), name="ramp")


def stages(targets: Sequence[tuple[str | float, float]], *, start: float = 0.0) -> Shape:
    """k6-style stages: each ``(duration, target)`` ramps linearly from the previous target."""
    if not targets:
        raise ConfigError("stages", list(targets), "have at least one (duration, target) pair")
    segs: list[Segment] = []
    prev = _rate(start, "start")
    for d, target in targets:
        t = _rate(target, "stage target")
        segs.append(Segment(duration=parse_duration(d), start=prev, end=t))
        prev = t
    return Shape(segments=tuple(segs), name="stages", fixed_length=True)


def spike(base: float, peak: float, *, at: str | float, hold: str | float, after: str | float = "10s",
          rise: str | float = "1s") -> Shape:
    """``base`` rate, a quick rise to ``peak`` at ``at``, held for ``hold``, then ``base`` again."""
    b, p = _rate(base, "base"), _rate(peak, "peak")
    rt = parse_duration(rise)
    return Shape(
        segments=(
            Segment(duration=parse_duration(at), start=b, end=b),
            Segment(duration=rt, start=b, end=p),
            Segment(duration=parse_duration(hold), start=p, end=p),
            Segment(duration=rt, start=p, end=b),
            Segment(duration=parse_duration(after), start=b, end=b),
        ),
        name="spike",
        fixed_length=True,
    )


def step_up(start: float, step: float, every: str | float, *, steps: int = 10) -> Shape:
    """Stress to breaking point: ``start``, then ``+step`` every ``every``, ``steps`` times.

    Pair it with thresholds: the run stops at the first step whose thresholds break,
    and the result names the rate at which it broke.
    """
    s0, st = _rate(start, "start"), _rate(step, "step")
    e = parse_duration(every)
    if steps < 1:
        raise ConfigError("steps", steps, "be >= 1")
    segs = tuple(Segment(duration=e, start=s0 + k * st, end=s0 + k * st) for k in range(steps))
    return Shape(segments=segs, name="step_up", fixed_length=True)


def _inverse(segments: Sequence[Segment]) -> Iterator[tuple[float, float, Segment]]:
    at = 0.0
    cum = 0.0
    for s in segments:
        yield at, cum, s
        at += s.duration
        cum += s.iterations


def _time_for(target: float, at: float, cum: float, s: Segment) -> float:
    """Time at which the cumulative count reaches ``target`` inside segment ``s``."""
    need = target - cum
    a = (s.end - s.start) / (2.0 * s.duration)
    disc = s.start * s.start + 4.0 * a * need
    root = math.sqrt(max(disc, 0.0))
    denom = s.start + root
    x = 2.0 * need / denom if denom > 0 else 0.0
    return at + min(max(x, 0.0), s.duration)


def times_for(shape: Shape, duration: float, marks: Iterator[float]) -> Iterator[float]:
    """Map increasing cumulative counts (``marks``) to due times within ``duration``."""
    segs = [(at, cum, cum + s.iterations, s) for at, cum, s in _inverse(shape.over(duration))]
    n = len(segs)
    k = 0
    last_mark, last_time = -1.0, 0.0
    for m in marks:
        if m == last_mark:  # a burst: its iterations share one mark, so one due time
            yield last_time
            continue
        while k < n and segs[k][2] < m:
            k += 1
        if k >= n:
            return
        at, cum, _, s = segs[k]
        last_mark, last_time = m, _time_for(m, at, cum, s)
        yield last_time


class _Marks:
    """Increasing cumulative counts, one per iteration, that can jump ahead."""

    def __init__(self, arrivals: str, burst: int, seed: int, total: float) -> None:
        if arrivals not in ARRIVALS:
            raise ConfigError("arrivals", arrivals, f"be one of {', '.join(ARRIVALS)}")
        self.arrivals = arrivals
        self.k = max(1, burst)
        self.total = round(total)
        self.rng = random.Random(seed)
        self.pos = 0.0  # uniform: iterations issued; poisson: the running sum
        self.copies = 0  # rendezvous: iterations left in the current burst
        self.mark = 0.0

    def __iter__(self) -> Iterator[float]:
        return self

    def __next__(self) -> float:
        if self.arrivals == "uniform":
            self.pos += 1
            return self.pos - 0.5
        if self.arrivals == "poisson":
            self.pos += self.rng.expovariate(1.0)
            return self.pos
        if not self.copies:  # rendezvous: k users released at the same instant
            if self.pos >= self.total:
                raise StopIteration
            n = min(self.k, self.total - int(self.pos))
            self.mark = self.pos + n / 2.0
            self.pos += n
            self.copies = n
        self.copies -= 1
        return self.mark

    def skip(self, cum: float) -> int:
        """Jump to cumulative count ``cum``; how many iterations were passed over."""
        if self.arrivals == "poisson":
            passed = max(0, round(cum - self.pos))
            self.pos = max(self.pos, cum)
            return passed
        if self.arrivals == "uniform":
            target = max(self.pos, float(math.floor(cum + 0.5)))
            passed = int(target - self.pos)
            self.pos = target
            return passed
        bursts_done = min(self.total, int(cum // self.k) * self.k)
        if bursts_done <= self.pos:
            return 0
        passed = bursts_done - int(self.pos) + self.copies
        self.pos, self.copies = float(bursts_done), 0
        return passed


class Schedule:
    """Due times (seconds from start, non-decreasing) of every iteration of a run.

    An engine that fell behind calls :meth:`skip_to` instead of walking every past-due
    time one by one (offered a billion a second, that walk never ends).
    """

    def __init__(self, shape: Shape, duration: float, *, arrivals: str = "uniform", burst: int = 5,
                 seed: int = 0) -> None:
        self._shape = shape
        self._duration = duration
        self._marks = _Marks(arrivals, burst, seed, shape.total(duration))
        self._times = times_for(shape, duration, self._marks)

    def __iter__(self) -> Iterator[float]:
        # The generator itself: no Python-level __next__ per due time. skip_to moves the marks it
        # reads, so it still sees the jump.
        return self._times

    def __next__(self) -> float:
        return next(self._times)

    def skip_to(self, t: float) -> int:
        """Pass over every iteration due before ``t``; returns how many there were."""
        return self._marks.skip(self._shape.total(min(t, self._duration)))


def schedule(shape: Shape, duration: float, *, arrivals: str = "uniform", burst: int = 5,
             seed: int = 0) -> Schedule:
    """Due times (seconds from start, non-decreasing) of every iteration of a run."""
    return Schedule(shape, duration, arrivals=arrivals, burst=burst, seed=seed)
