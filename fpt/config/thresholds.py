"""Pass/fail limits such as ``p90<800ms``, ``login:p99<=1s``, ``errors<1%``, ``throughput>=95%``.

Parsed once at the boundary into :class:`Threshold`; evaluated as a pure function
of the measured values.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fpt.config.records import changed
from fpt.config.units import parse_duration

THRESHOLD_FORM = ("look like p90<800ms, login:p99<=1s, max<2s, errors<1%, throughput>=95%, "
                  "dropped<1%, service_rss_growth<10% or volume_p90_growth<50% "
                  "(latencies need a unit: ms or s; ratios need %; an upper limit for latencies, "
                  "errors and dropped, a lower one for throughput, that can fail)")
_EXPR = re.compile(
    r"^\s*(?:(?P<step>[^:<>=]+):)?\s*(?P<metric>p\d{1,2}(?:\.\d+)?|max|mean|errors|throughput|dropped"
    r"|service_rss_growth|volume_p90_growth)"
    r"\s*(?P<op><=|<|>=|>)\s*(?P<value>\S+)\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
RATIO_METRICS = ("errors", "throughput", "dropped", "service_rss_growth", "volume_p90_growth")
GROWTH_METRICS = ("service_rss_growth", "volume_p90_growth")
"""Judged on the whole run's evidence (resources, volumes), never on a window of seconds."""


@dataclass(frozen=True, kw_only=True)
class Threshold:
    """One parsed limit: ``step`` (``""`` for the whole flow), metric, operator, limit."""

    expr: str
    step: str
    metric: str
    op: str
    limit: float

    @property
    def unit(self) -> str:
        """``%`` for ratios, ``ms`` for latencies."""
        return "%" if self.metric in RATIO_METRICS else "ms"

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` (ms, or a fraction for ratios) is within the limit."""
        return _OPS[self.op](measured, self.limit)

    def show(self, value: float) -> str:
        """Render a value in this threshold's unit."""
        return f"{value * 100:.2f}%" if self.unit == "%" else f"{value:.1f}ms"


def parse_threshold(text: str) -> Threshold:
    """Parse one expression; ``ValueError`` says what the form must be."""
    m = _EXPR.match(text)
    if not m:
        raise ValueError(THRESHOLD_FORM)
    metric = m.group("metric")
    raw = m.group("value")
    # A bare number is refused: "errors<1" (1 or 1%?) and "p90<800" (ms or s?) mean different
    # things to different readers, and a wrong guess passes a broken service.
    try:
        if metric in RATIO_METRICS:
            if not raw.endswith("%"):
                raise ValueError
            limit = float(raw[:-1]) / 100.0
        else:
            if not re.fullmatch(r"\d+(?:\.\d+)?(?:ms|s)", raw):
                raise ValueError
            limit = parse_duration(raw) * 1000.0
    except ValueError:
        raise ValueError(THRESHOLD_FORM) from None
    if metric.startswith("p") and not 0 < float(metric[1:]) < 100:
        raise ValueError(THRESHOLD_FORM)
    if metric == "service_rss_growth" and m.group("step"):
        raise ValueError(THRESHOLD_FORM)  # the service's memory belongs to no step
    th = Threshold(expr=text.strip(), step=(m.group("step") or "").strip(), metric=metric,
                   op=m.group("op"), limit=limit)
    # "p90>1s" passes only when the service is slow, "errors<=100%" whatever happens: a limit
    # pointing the wrong way, or one that every ratio from 0% to 100% meets, checks nothing.
    if (metric != "throughput") != (th.op in ("<", "<=")):
        raise ValueError(THRESHOLD_FORM)
    # Growth is unbounded (p90 can grow 1,000%): only the other ratios live within 0%..100%.
    if metric in RATIO_METRICS and metric not in GROWTH_METRICS and th.holds(0.0) and th.holds(1.0):
        raise ValueError(THRESHOLD_FORM)
    return th


def parse_thresholds(items: Iterable[str]) -> tuple[Threshold, ...]:
    """Parse several expressions."""
    return tuple(parse_threshold(x) for x in items)


class Unmeasurable(StrEnum):
    """Why a threshold has no measured value (the words are made in :mod:`fpt.report.checklist`)."""

    NO_ITERATION_DUE = "no_iteration_due"
    NO_ITERATION_COMPLETED = "no_iteration_completed"
    STEP_NEVER_RAN = "step_never_ran"
    #: a metric judged on whole runs only (``dropped_late``, growths...), asked of a stress run's stairs
    NOT_A_WINDOW_METRIC = "not_a_window_metric"
    NONE_DUE_IN_HELD_STAIRS = "none_due_in_held_stairs"
    NOTHING_FINISHED_IN_HELD_STAIRS = "nothing_finished_in_held_stairs"
    NO_SERVICE_SAMPLED = "no_service_sampled"
    SERVICE_EXITED = "service_exited"
    SHORT_SPAN = "short_span"
    NO_VOLUME_RUN = "no_volume_run"
    VOLUME_SEEDING_FAILED = "volume_seeding_failed"
    TOO_FEW_VOLUMES = "too_few_volumes"
    MERGED_NOT_JUDGED = "merged_not_judged"
    #: read from a file written before reasons were typed: its words are kept as they were
    WRITTEN = "written"


@dataclass(frozen=True, kw_only=True)
class Unmeasured:
    """Why a threshold was not measured, with the numbers the words need (unused ones stay 0/"")."""

    why: Unmeasurable
    #: the window of seconds judged (the stairs that held)
    start: float = 0.0
    end: float = 0.0
    #: a process that exited (its name), or a volume whose seeding failed (its first error)
    source: str = ""
    #: when the process exited; the longest RSS span sampled
    seconds: float = 0.0
    #: soak_min_span
    needed: float = 0.0
    #: the volume whose seeding failed, and for how many users
    volume: int = 0
    failures: int = 0
    #: ``WRITTEN``: the whole line as an older fpt wrote it
    words: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form: the reason and the numbers it uses."""
        return {**changed(self), "why": str(self.why)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Unmeasured:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "why": Unmeasurable(data["why"])})


@dataclass(frozen=True, kw_only=True)
class ThresholdOutcome:
    """A parsed threshold with what was measured; ``measured is None`` means not evidenced (``unmeasured``
    says why)."""

    threshold: Threshold
    measured: float | None
    passed: bool
    unmeasured: Unmeasured | None = None

    @property
    def expr(self) -> str:
        """The threshold as written."""
        return self.threshold.expr

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the parsed threshold included)."""
        return {"expr": self.expr, "step": self.threshold.step, "metric": self.threshold.metric,
                "op": self.threshold.op, "limit": self.threshold.limit, "measured": self.measured,
                "passed": self.passed,
                "unmeasured": None if self.unmeasured is None else self.unmeasured.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdOutcome:
        """Inverse of :meth:`to_dict`; a file from an fpt that wrote a ``detail`` sentence instead of
        ``unmeasured`` keeps that sentence as its reason (:attr:`Unmeasurable.WRITTEN`)."""
        th = Threshold(expr=data["expr"], step=data["step"], metric=data["metric"], op=data["op"],
                       limit=data["limit"])
        raw = data.get("unmeasured")
        unmeasured = Unmeasured.from_dict(raw) if isinstance(raw, dict) else None
        if unmeasured is None and data["measured"] is None:
            unmeasured = Unmeasured(why=Unmeasurable.WRITTEN, words=str(data.get("detail", th.expr)))
        return cls(threshold=th, measured=data["measured"], passed=data["passed"], unmeasured=unmeasured)


def evaluate(th: Threshold, measured: float | None, why: Unmeasured | Unmeasurable | None = None
             ) -> ThresholdOutcome:
    """Judge one threshold against a measured value (``None``: nothing to measure, for reason ``why``)."""
    if measured is None:
        if why is None:
            raise ValueError(f"{th.expr}: an unmeasured threshold needs its reason")
        reason = why if isinstance(why, Unmeasured) else Unmeasured(why=why)
        return ThresholdOutcome(threshold=th, measured=None, passed=False, unmeasured=reason)
    return ThresholdOutcome(threshold=th, measured=measured, passed=th.holds(measured))
