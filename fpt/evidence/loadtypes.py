"""Stress, spike, volume and soak observations: plain, mergeable records (judged in fpt.judge.loadtypes)."""


from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


def _plain(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}


@dataclass(frozen=True, kw_only=True)
class Stair:
    """One stair of a step_up run: its rate, its own seconds' figures, and what broke."""

    rate: float
    start: float
    seconds: float
    iterations: int
    p90_ms: float | None
    error_rate: float | None
    broke: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        d = _plain(self)
        d["broke"] = list(self.broke)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Stair:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "broke": tuple(d["broke"])})


@dataclass(frozen=True, kw_only=True)
class StressEvidence:
    """A step_up run: the stairs, where it broke and how, and the recovery window after."""

    stairs: tuple[Stair, ...]
    held_rate: float | None = None
    broke_rate: float | None = None
    how: tuple[str, ...] = ()
    #: which step broke first: the one whose p90 grew most, or that failed most, from the stair before
    first_step: str = ""
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

    @property
    def recovered(self) -> bool | None:
        """Back within the thresholds within ``recovery_within``; ``None`` when nothing could show it."""
        if not self.broke or not self.recovery_observed:
            return None
        return self.recovered_after is not None and self.recovered_after <= self.recovery_within

    def describe(self) -> str:
        """One line: held, broke, how, recovered."""
        if not self.broke:
            top = self.stairs[-1].rate if self.stairs else 0.0
            return f"stress: every stair held (up to {top:g}/s): no breaking point found"
        held = f"{self.held_rate:g}/s" if self.held_rate is not None else "no stair"
        first = f"; first: {self.first_step}" if self.first_step else ""
        line = f"stress: held {held}, broke at {self.broke_rate:g}/s ({'; '.join(self.how)}{first})"
        if not self.recovery_observed:
            return line + "; recovery not observed"
        if self.recovered:
            return (line + f"; recovered at {self.recovery_rate:g}/s after {self.recovered_after:.0f}s "
                    f"(limit {self.recovery_within:g}s)")
        return (line + f"; did NOT recover at {self.recovery_rate:g}/s within {self.recovery_within:g}s "
                f"({self.recovery_seconds:.0f}s watched)")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        d = _plain(self)
        d["stairs"] = [s.to_dict() for s in self.stairs]
        d["how"] = list(self.how)
        d["recovered"] = self.recovered
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StressEvidence:
        """Inverse of :meth:`to_dict`."""
        d = {k: v for k, v in d.items() if k != "recovered"}
        return cls(**{**d, "stairs": tuple(Stair.from_dict(s) for s in d["stairs"]), "how": tuple(d["how"])})


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

    @property
    def evidenced(self) -> bool:
        """Baseline and spike both finished iterations, and some time after the spike was watched."""
        return (self.baseline_p90_ms is not None and self.during_iterations > 0
                and self.after_seconds >= HOLD_SECONDS)

    @property
    def errors_ok(self) -> bool:
        """Errors during the spike within the run's ``errors`` threshold (none set: any error fails)."""
        rate = self.during_error_rate or 0.0
        return rate < self.error_limit if self.error_limit is not None else rate == 0.0

    @property
    def passed(self) -> bool | None:
        """Survived the spike and came back within ``within``; ``None`` when not evidenced."""
        if not self.evidenced:
            return None
        return self.errors_ok and self.back_after is not None and self.back_after <= self.within

    def describe(self) -> str:
        """One line."""
        if not self.evidenced:
            return "spike: not evidenced (no baseline, no iteration during the spike, or no time after it)"
        back = (f"back to baseline after {self.back_after:.0f}s" if self.back_after is not None
                else f"NOT back to baseline within {self.after_seconds:.0f}s watched")
        limit = f"limit {self.error_limit * 100:g}%" if self.error_limit is not None else "no errors allowed"
        over = "" if self.errors_ok else ": OVER"
        errors = f"{(self.during_error_rate or 0) * 100:.2f}% errors during ({limit}{over})"
        return (f"spike {self.base:g}/s -> {self.peak:g}/s: {errors}, p90 {self.during_p90_ms or 0:.1f}ms "
                f"(baseline {self.baseline_p90_ms:.1f}ms); {back} (limit {self.within:g}s)")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {**_plain(self), "passed": self.passed}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpikeEvidence:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: v for k, v in d.items() if k != "passed"})


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
        return {**_plain(self), "p90_ms": dict(self.p90_ms)}

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

    def describe(self) -> str:
        """One line: p90 per volume."""
        parts = [f"{s.volume}: {s.p90_ms.get(FLOW, float('nan')):.1f}ms" for s in self.steps]
        g = self.growth()
        failed = next((s for s in self.steps if s.seed_failures), None)
        why = (f" (growth not shown: seeding {failed.volume} failed for {failed.seed_failures} users, "
               f"e.g. {failed.seed_error})" if failed else " (growth not shown)")
        return f"volume p90 by records per user {', '.join(parts)}" + (
            f" (growth {g * 100:+.0f}%)" if g is not None else why)

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


def merge_load(parts: Sequence[LoadEvidence]) -> LoadEvidence:
    """Workers' load evidence as one: rates add, verdicts take the worst part (never better than any)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    stress = [p.stress for p in parts if p.stress]
    spikes = [p.spike for p in parts if p.spike]
    vols = [p.volume for p in parts if p.volume]
    merged_stress = None
    if stress:
        worst = min(stress, key=lambda s: (s.recovered is not False, s.broke, -(s.recovered_after or 0)))

        def add(values: Iterable[float | None]) -> float | None:
            vs = list(values)
            return None if any(v is None for v in vs) else sum(v for v in vs if v is not None)
        # Each worker drove its share of every stair: the stairs' rates add up.
        n = min(len(s.stairs) for s in stress)
        steps = tuple(replace(worst.stairs[k], rate=sum(s.stairs[k].rate for s in stress)) for k in range(n))
        merged_stress = replace(worst, stairs=steps, held_rate=add(s.held_rate for s in stress),
                                broke_rate=add(s.broke_rate for s in stress) if all(s.broke for s in stress)
                                else worst.broke_rate,
                                recovery_rate=add(s.recovery_rate for s in stress),
                                recovery_iterations=sum(s.recovery_iterations for s in stress))
    merged_spike = min(spikes, key=lambda s: (s.passed is not False, -(s.during_error_rate or 0))) if spikes \
        else None
    merged_volume = max(vols, key=_growth_or_inf) if vols else None
    return LoadEvidence(stress=merged_stress, spike=merged_spike, volume=merged_volume,
                        soak_min_span=max(p.soak_min_span for p in parts) if parts else first.soak_min_span)


HOLD_SECONDS = 2
"""Consecutive good seconds that count as 'back': one good second can be luck."""


FLOW = "@flow"
