"""Scale events during a run: fire them on time, label phases, judge continuity afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from fpt.config.settings import FptConfig
from fpt.evidence.metrics import Metrics, StepMetrics
from fpt.run.detectors.continuity import SessionWatch, moved_traffic, phase_stats
from fpt.run.perimeter import EXEMPT
from fpt.run.scaling import Event, EventOutcome, fire, scaler_of
from fpt.run.user import RunContext

SETTLE_MARGIN = 2.0
"""Seconds the *during* phase runs past the fleet reporting its new size: connections
re-balance and caches warm after the count changes, and that belongs to the event."""


def _merged(metrics: Metrics, names: list[str]) -> StepMetrics | None:
    found = [metrics.phases[n] for n in names if n in metrics.phases]
    if not found:
        return None
    out = StepMetrics()
    for m in found:
        out.merge(m)
    return out


class Timeline:
    """Fires events at their times and keeps the phase boundaries."""

    def __init__(self, events: Sequence[Event], ctx: RunContext) -> None:
        self.events = sorted(events, key=lambda e: e.at)
        self.ctx = ctx
        self.outcomes: list[EventOutcome] = []
        #: (phase name, start, end) in run seconds
        self.phases: list[list[Any]] = [["before", 0.0, None]]

    def _enter(self, name: str) -> None:
        now = self.ctx.now()
        self.phases[-1][2] = now
        self.phases.append([name, now, None])
        self.ctx.phase = name

    async def run(self) -> None:
        """Fire every event at its time (relative to the run's start).

        A scaler's own calls (a cloud API, a control plane) are not the load: this task's
        connects are left out of the process perimeter.
        """
        EXEMPT.set(True)  # this task's context only
        self.ctx.phase = "before"
        for i, event in enumerate(self.events, 1):
            delay = event.at - self.ctx.now()
            if delay > 0:
                await asyncio.sleep(delay)
            self._enter(f"during:{i}")
            outcome = await fire(event, scaler_of, self.ctx.now)
            self.outcomes.append(outcome)
            margin = SETTLE_MARGIN - (self.ctx.now() - (outcome.settled_at or self.ctx.now()))
            if i < len(self.events):  # the next event still fires on time
                margin = min(margin, self.events[i].at - self.ctx.now())
            if margin > 0:
                await asyncio.sleep(margin)
            self._enter(f"after:{i}")

    def close(self, end: float) -> None:
        """End the last phase; events that never fired are recorded as not reached."""
        self.phases[-1][2] = end
        for event in self.events[len(self.outcomes):]:
            self.outcomes.append(EventOutcome(label=event.describe(), at=event.at, target=event.target,
                                              error="not reached before the run ended"))

    def continuity(self, cfg: FptConfig, metrics: Metrics, watch: SessionWatch,
                   readback: dict[str, int], session_findings: int) -> dict[str, Any]:
        """Events, phases, proof of traffic movement, degradation and read-back, as plain data."""
        events = []
        degradation_ok = True
        details = []
        moved_all = True
        end = self.phases[-1][2] or self.ctx.now()
        for i, out in enumerate(self.outcomes, 1):
            d = out.to_dict()
            kind = "out" if (out.target or 0) > (out.before or 0) else "in"
            if out.ok:
                until = self.outcomes[i].at if i < len(self.outcomes) else end
                moved, why = moved_traffic(watch, out.at, until, kind)
            else:
                moved, why = False, f"event failed: {out.error}"
            d.update(direction=kind, moved_traffic=moved, moved_detail=why)
            moved_all = moved_all and moved
            pb = _merged(metrics, ["before"] if i == 1 else [f"during:{i - 1}", f"after:{i - 1}"])
            pd = metrics.phases.get(f"during:{i}")
            if pd is None or not pd.count or pb is None or not pb.count:
                degradation_ok = False
                details.append(f"event {i}: no iterations to compare before/during")
            else:
                p90b, p90d = pb.hist.percentile(90), pd.hist.percentile(90)
                ok = p90d <= cfg.scale_p90_factor * p90b and pd.error_rate <= cfg.scale_error_rate
                degradation_ok = degradation_ok and ok
                details.append(f"event {i}: p90 {p90b / 1000:.1f}ms -> {p90d / 1000:.1f}ms "
                               f"(limit x{cfg.scale_p90_factor:g}), errors {pd.error_rate * 100:.2f}% "
                               f"(limit {cfg.scale_error_rate * 100:g}%) {'ok' if ok else 'FAILED'}")
            events.append(d)
        phases = {}
        for name, start, end in self.phases:
            m = metrics.phases.get(name)
            if m is not None:
                phases[name] = {**phase_stats(m, (end or start) - start), "start": round(start, 3),
                                "end": round(end or start, 3)}
        all_ok = bool(self.outcomes) and all(o.ok for o in self.outcomes)
        return {
            "events": events, "phases": phases,
            "evidenced": all_ok and moved_all,
            "not_evidenced_because": "" if all_ok and moved_all else "; ".join(
                e["moved_detail"] for e in events if not e["moved_traffic"]),
            "broken_sessions": session_findings, "user_moves": watch.user_moves,
            "readback": readback,
            "degradation": {"passed": degradation_ok and all_ok, "detail": "; ".join(details)},
        }
