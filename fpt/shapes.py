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

from fpt.units import parse_duration

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
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    if value < 0 or math.isnan(value):
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
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
        raise ValueError("stages needs at least one (duration, target) pair")
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
        raise ValueError("steps must be >= 1")
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
    segs = list(_inverse(shape.over(duration)))
    k = 0
    for m in marks:
        while k < len(segs) and segs[k][1] + segs[k][2].iterations < m:
            k += 1
        if k >= len(segs):
            return
        at, cum, s = segs[k]
        yield _time_for(m, at, cum, s)


def schedule(shape: Shape, duration: float, *, arrivals: str = "uniform", burst: int = 5,
             seed: int = 0) -> Iterator[float]:
    """Due times (seconds from start, non-decreasing) of every iteration of a run."""
    if arrivals == "uniform":
        return times_for(shape, duration, (i + 0.5 for i in _count()))
    if arrivals == "poisson":
        rng = random.Random(seed)
        return times_for(shape, duration, _poisson_marks(rng))
    if arrivals == "rendezvous":
        return _bursts(shape, duration, max(1, burst))
    raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}; got {arrivals!r}")


def _count() -> Iterator[int]:
    i = 0
    while True:
        yield i
        i += 1


def _poisson_marks(rng: random.Random) -> Iterator[float]:
    s = 0.0
    while True:
        s += rng.expovariate(1.0)
        yield s


def _bursts(shape: Shape, duration: float, k: int) -> Iterator[float]:
    """Release ``k`` users at the same instant, bursts spaced so the mean rate holds."""
    total = round(shape.total(duration))

    def marks() -> Iterator[float]:
        released = 0
        while released < total:
            n = min(k, total - released)
            yield released + n / 2.0
            released += n

    for j, t in enumerate(times_for(shape, duration, marks())):
        for _ in range(min(k, total - j * k)):
            yield t
