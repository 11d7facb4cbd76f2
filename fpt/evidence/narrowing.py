"""What narrowed the session: FPT tests left out of it, and settings that weakened a check.

Both are recorded as typed evidence in ``fpt-dod.json`` whatever the level, shown in the
summary, and judged by two checklist items a level can require (``release`` does):

- ``suite.selection``: every collected FPT test ran; none was deselected (``-k``,
  ``--deselect``, ``-m``, ``--sw``) and the session was not a ``--lf`` re-run (which skips
  whole files without deselecting them);
- ``checks.full_strength``: no setting narrowed a check below its floor: routes or steps
  declared shared or public, the scan or a hunting detector off or cut short, a lowered
  ``high_traffic_rate``, thresholds so loose they cannot meaningfully fail.

Each weakening names its key, value, where it came from (command line, environment, ini,
pyproject, marker, ``fpt_load()``) and what it hid, in counts from the run's evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fpt.config.settings import FptConfig
    from fpt.config.thresholds import Threshold
    from fpt.evidence.result import RunResult

SELECTION_ITEM, STRENGTH_ITEM = "suite.selection", "checks.full_strength"


@dataclass(frozen=True, kw_only=True)
class Selection:
    """FPT tests collected but not run by this session's selection."""

    deselected: tuple[str, ...] = ()
    #: ``--lf``/``--last-failed``: files without a failure last time are not even collected
    last_failed: bool = False

    @property
    def partial(self) -> bool:
        """Whether some FPT test may have been left out."""
        return bool(self.deselected) or self.last_failed

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"deselected": list(self.deselected), "last_failed": self.last_failed}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Selection:
        """Inverse of :meth:`to_dict` (a file without one: nothing recorded)."""
        if not d:
            return cls()
        return cls(deselected=tuple(d.get("deselected", ())), last_failed=bool(d.get("last_failed")))


@dataclass(frozen=True, kw_only=True)
class Weakening:
    """One setting that narrowed a check: its key, value, source, the floor, and what it hid."""

    key: str
    value: Any
    source: str
    #: the weakest value the built-in floors accept (``None``: any value of this key narrows)
    floor: Any = None
    #: what the setting hid, in counts from the evidence (foreign canaries, probes, ...)
    hid: Mapping[str, int] = field(default_factory=dict)
    #: the test whose run had it ("" for the whole session)
    test: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"key": self.key, "value": self.value, "source": self.source, "floor": self.floor,
                "hid": dict(self.hid), "test": self.test}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Weakening:
        """Inverse of :meth:`to_dict`."""
        return cls(key=d["key"], value=d["value"], source=d["source"], floor=d.get("floor"),
                   hid=dict(d.get("hid", {})), test=d.get("test", ""))


@dataclass(frozen=True, kw_only=True)
class Floors:
    """The weakest settings that still count as full strength (the ``release`` level's floors)."""

    high_traffic_rate: float = 50.0
    scan_limit: int = 1 << 20
    hunt_max_rate: float = 10.0
    #: most a whole-flow or step error-rate limit may allow
    errors: float = 0.10
    #: most a dropped-iterations limit may allow
    dropped: float = 0.10
    #: least an achieved-rate limit may ask for
    throughput: float = 0.80


FLOORS = Floors()
#: hunting detectors: a share of 0 turns each off
HUNTERS = ("probe_share", "replay_share", "cache_probe_share", "cancel_share")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _source(cfg: FptConfig, key: str) -> str:
    return cfg.sources.get(key, "default")


def loose(th: Threshold, floors: Floors = FLOORS) -> bool:
    """Whether a threshold is so loose it cannot meaningfully fail (an error limit of 100%, ...)."""
    allows_less = th.op in ("<", "<=")
    if th.metric == "errors":
        return allows_less and th.limit > floors.errors
    if th.metric == "dropped":
        return allows_less and th.limit > floors.dropped
    if th.metric == "throughput":
        return th.op in (">", ">=") and th.limit < floors.throughput
    return False


def of_run(cfg: FptConfig, thresholds: Sequence[Threshold], sources: Mapping[str, str], result: RunResult,
           floors: Floors = FLOORS) -> tuple[Weakening, ...]:
    """Every setting of one run that narrowed a check, with what the run's evidence says it hid.

    ``sources`` names where each threshold expression came from (marker, ``fpt_load()``, ...).
    """
    ev = result.evidence
    out: list[Weakening] = []

    def add(key: str, value: Any, floor: Any = None, **hid: int) -> None:
        out.append(Weakening(key=key, value=_plain(value), source=_source(cfg, key), floor=floor,
                             hid=hid, test=result.name))

    shared_hid = {"foreign_canaries": ev.scan.shared, "replays": ev.replay.shared
                  + int(getattr(ev.replay, "anon_shared", 0)), "cache_probes": ev.cache.shared}
    if cfg.shared_paths:
        add("shared_paths", cfg.shared_paths, **shared_hid)
    if cfg.shared_steps:
        add("shared_steps", cfg.shared_steps, **shared_hid)
    if cfg.public_paths:
        add("public_paths", cfg.public_paths, probes=ev.probes.public, replays=ev.replay.public)
    if not cfg.canary_scan:
        add("canary_scan", False, True, answers_not_scanned=sum(s.ok for s in ev.steps))
    elif cfg.scan_limit < floors.scan_limit:
        add("scan_limit", cfg.scan_limit, floors.scan_limit, truncated=ev.scan.truncated,
            bytes_not_scanned=ev.scan.skipped_bytes)
    if cfg.users > 1:
        for key in HUNTERS:
            if not getattr(cfg, key):
                add(key, 0.0, "> 0", iterations=result.engine.started)
        if 0 < cfg.hunt_max_rate < floors.hunt_max_rate:
            add("hunt_max_rate", cfg.hunt_max_rate, floors.hunt_max_rate)
    for t in result.thresholds:
        from fpt.config.thresholds import parse_threshold

        th = parse_threshold(t.expr)
        if loose(th, floors):
            floor = {"errors": floors.errors, "dropped": floors.dropped, "throughput": floors.throughput}
            at_floor = floor[th.metric]
            would_fail = t.measured is not None and not _holds(th, at_floor, t.measured)
            out.append(Weakening(key="thresholds", value=[t.expr], source=sources.get(t.expr, "default"),
                                 floor=at_floor, hid={"failed_at_floor": int(would_fail)}, test=result.name))
    return tuple(out)


def _holds(th: Threshold, limit: float, measured: float) -> bool:
    import dataclasses

    return dataclasses.replace(th, limit=limit).holds(measured)


def of_session(cfg: FptConfig, floors: Floors = FLOORS) -> tuple[Weakening, ...]:
    """Session-wide settings that narrow an item (a high-traffic rate below the floor)."""
    if cfg.high_traffic_rate < floors.high_traffic_rate:
        return (Weakening(key="high_traffic_rate", value=cfg.high_traffic_rate,
                          source=_source(cfg, "high_traffic_rate"), floor=floors.high_traffic_rate),)
    return ()






