"""Stress, spike, volume and soak observations: plain, mergeable records (judged in fpt.judge.loadtypes)."""


from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from fpt.config.records import changed
from fpt.evidence.checks import plain


class BreachKind(StrEnum):
    """What a stair broke (the words are made in :mod:`fpt.report.loadtypes`)."""

    #: a throughput or dropped threshold: iterations that finished against those due
    DROPS = "drops"
    ERRORS = "errors"
    LATENCY = "latency"
    #: nothing came back within the stair: a hang is a break
    NOTHING_FINISHED = "nothing_finished"
    #: read from a file written before breaches were typed: its words are kept as they were
    WRITTEN = "written"


@dataclass(frozen=True, kw_only=True)
class Breach:
    """One way a stair broke: the threshold (as written) and what its seconds measured."""

    kind: BreachKind
    expr: str = ""
    measured: float = 0.0
    words: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the fields its kind uses)."""
        return {**changed(self), "kind": str(self.kind)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str) -> Breach:
        """Inverse of :meth:`to_dict`; a phrase (a file written before) is kept as written."""
        if isinstance(d, str):
            return cls(kind=BreachKind.WRITTEN, words=d)
        return cls(**{**d, "kind": BreachKind(d["kind"])})


@dataclass(frozen=True, kw_only=True)
class FirstStep:
    """The step that broke first at the breaking stair: the most errors, else the largest p90 growth."""

    step: str
    error_rate: float = 0.0
    #: its p90 at the stair before (None: it did not run there) and at the breaking stair
    p90_before_ms: float | None = None
    p90_ms: float = 0.0
    #: read from a file written before: the whole phrase as written
    words: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str | None) -> FirstStep | None:
        """Inverse of ``plain(first_step)``; a phrase (a file written before) is kept as written."""
        if not d:
            return None
        if isinstance(d, str):
            return cls(step="", words=d)
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class Stair:
    """One stair of a step_up run: its rate, its own seconds' figures, and what broke."""

    rate: float
    start: float
    seconds: float
    iterations: int
    p90_ms: float | None
    error_rate: float | None
    broke: tuple[Breach, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        d = plain(self)
        d["broke"] = [b.to_dict() for b in self.broke]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Stair:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "broke": tuple(Breach.from_dict(b) for b in d["broke"])})


@dataclass(frozen=True, kw_only=True)
class StressEvidence:
    """A step_up run: the stairs, where it broke and how, and the recovery window after."""

    stairs: tuple[Stair, ...]
    held_rate: float | None = None
    broke_rate: float | None = None
    how: tuple[Breach, ...] = ()
    #: which step broke first: the one whose p90 grew most, or that failed most, from the stair before
    first_step: FirstStep | None = None
    recovery_rate: float | None = None
    recovery_start: float | None = None
    recovery_seconds: float = 0.0
    recovery_within: float = 30.0
    recovered_after: float | None = None
    recovery_iterations: int = 0

    @property
    def broke(self) -> bool:
        """A stair broke its thresholds."""
        return self.broke_rate is not None

    @property
    def recovery_observed(self) -> bool:
        """A recovery window ran and finished iterations."""
        return self.recovery_start is not None and self.recovery_iterations > 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        d = plain(self)
        d["stairs"] = [s.to_dict() for s in self.stairs]
        d["how"] = [b.to_dict() for b in self.how]
        d["first_step"] = plain(self.first_step) if self.first_step is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StressEvidence:
        """Inverse of :meth:`to_dict`."""
        d = {k: v for k, v in d.items() if k != "recovered"}  # a verdict older files carry
        return cls(**{**d, "stairs": tuple(Stair.from_dict(s) for s in d["stairs"]),
                      "how": tuple(Breach.from_dict(b) for b in d["how"]),
                      "first_step": FirstStep.from_dict(d.get("first_step"))})


@dataclass(frozen=True, kw_only=True)
class SpikeEvidence:
    """A spike run: baseline before, errors during, and the time back to baseline after."""

    base: float
    peak: float
    start: float
    end: float
    baseline_p90_ms: float | None
    baseline_error_rate: float | None
    during_iterations: int
    during_error_rate: float | None
    during_p90_ms: float | None
    error_limit: float | None
    after_seconds: float
    back_after: float | None
    within: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpikeEvidence:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: v for k, v in d.items() if k != "passed"})  # a verdict written by older files


@dataclass(frozen=True, kw_only=True)
class VolumeStep:
    """The flow's figures at one seeded volume (records per user)."""

    volume: int
    seeded_users: int
    seed_failures: int
    iterations: int
    p90_ms: dict[str, float] = field(default_factory=dict)
    error_rate: float | None = None
    #: the first seeding failure, in one line
    seed_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {**plain(self), "p90_ms": dict(self.p90_ms)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VolumeStep:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class VolumeEvidence:
    """Response time against seeded volume, one entry per volume in increasing order."""

    steps: tuple[VolumeStep, ...]

    def growth(self, step: str = "") -> float | None:
        """p90 at the largest volume over p90 at the smallest, minus one; ``None`` when not shown."""
        name = step or FLOW
        if len(self.steps) < 2 or any(s.seed_failures for s in self.steps):
            return None
        lo, hi = self.steps[0].p90_ms.get(name), self.steps[-1].p90_ms.get(name)
        if lo is None or hi is None or lo <= 0:
            return None
        return hi / lo - 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"steps": [s.to_dict() for s in self.steps], "growth": self.growth()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VolumeEvidence:
        """Inverse of :meth:`to_dict`."""
        return cls(steps=tuple(VolumeStep.from_dict(s) for s in d["steps"]))


@dataclass(frozen=True, kw_only=True)
class LoadEvidence:
    """What a run showed about the load types beyond plain load (each ``None`` when not that kind)."""

    stress: StressEvidence | None = None
    spike: SpikeEvidence | None = None
    volume: VolumeEvidence | None = None
    #: service RSS samples must span this long before a soak verdict is given
    soak_min_span: float = 60.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"stress": self.stress.to_dict() if self.stress else None,
                "spike": self.spike.to_dict() if self.spike else None,
                "volume": self.volume.to_dict() if self.volume else None,
                "soak_min_span": self.soak_min_span}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LoadEvidence:
        """Inverse of :meth:`to_dict`."""
        return cls(stress=StressEvidence.from_dict(d["stress"]) if d.get("stress") else None,
                   spike=SpikeEvidence.from_dict(d["spike"]) if d.get("spike") else None,
                   volume=VolumeEvidence.from_dict(d["volume"]) if d.get("volume") else None,
                   soak_min_span=d.get("soak_min_span", 60.0))


def _growth_or_inf(v: VolumeEvidence) -> float:
    g = v.growth()
    return g if g is not None else float("inf")  # an unshown growth wins: never better than a part


def _add(values: Iterable[float | None]) -> float | None:
    vs = list(values)
    return None if any(v is None for v in vs) else sum(v for v in vs if v is not None)


def merge_load(parts: Sequence[LoadEvidence], *,
               worst_stress: Callable[[Sequence[StressEvidence]], StressEvidence],
               worst_spike: Callable[[Sequence[SpikeEvidence]], SpikeEvidence]) -> LoadEvidence:
    """Workers' load evidence as one: rates add; where a part must stand for all, the worst part
    as the judge ranks them (``worst_stress``, ``worst_spike``: never better than any part)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    stress = [p.stress for p in parts if p.stress]
    spikes = [p.spike for p in parts if p.spike]
    vols = [p.volume for p in parts if p.volume]
    merged_stress = None
    if stress:
        worst = worst_stress(stress)
        # Each worker drove its share of every stair: the stairs' rates add up.
        n = min(len(s.stairs) for s in stress)
        steps = tuple(replace(worst.stairs[k], rate=sum(s.stairs[k].rate for s in stress)) for k in range(n))
        merged_stress = replace(worst, stairs=steps, held_rate=_add(s.held_rate for s in stress),
                                broke_rate=_add(s.broke_rate for s in stress) if all(s.broke for s in stress)
                                else worst.broke_rate,
                                recovery_rate=_add(s.recovery_rate for s in stress),
                                recovery_iterations=sum(s.recovery_iterations for s in stress))
    merged_spike = worst_spike(spikes) if spikes else None
    merged_volume = max(vols, key=_growth_or_inf) if vols else None
    return LoadEvidence(stress=merged_stress, spike=merged_spike, volume=merged_volume,
                        soak_min_span=max(p.soak_min_span for p in parts) if parts else first.soak_min_span)


HOLD_SECONDS = 2
"""Consecutive good seconds that count as 'back': one good second can be luck."""


FLOW = "@flow"
