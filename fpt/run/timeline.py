"""Scale events during a run: fire them on time, label phases, record what happened (judged in
:mod:`fpt.judge.continuity`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from fpt.config.settings import FptConfig
from fpt.evidence.continuity import (
    ContinuityEvidence,
    Phase,
    ReadBack,
    ReplicaSeen,
    ScaleEvent,
    ScaleTimeline,
)
from fpt.run.context import RunContext
from fpt.run.detectors.continuity import SessionWatch
from fpt.run.perimeter import EXEMPT
from fpt.run.scaling import Event, fire, scaler_of

SETTLE_MARGIN = 2.0
"""Seconds the *during* phase runs past the fleet reporting its new size: connections
re-balance and caches warm after the count changes, and that belongs to the event."""


class Timeline:
    """Fires events at their times and keeps the phase boundaries."""

    def __init__(self, events: Sequence[Event], ctx: RunContext) -> None:
        self.events = sorted(events, key=lambda e: e.at)
        self.ctx = ctx
        self.outcomes: list[ScaleEvent] = []
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
            self.outcomes.append(ScaleEvent(label=event.describe(), at=event.at, target=event.target,
                                            error="not reached before the run ended"))

    def evidence(self, cfg: FptConfig, watch: SessionWatch, readback: dict[str, int],
                 session_findings: int) -> ContinuityEvidence:
        """Events, phases, replicas seen, user moves and read-back as recorded (judged afterwards)."""
        end = self.phases[-1][2] if self.phases[-1][2] is not None else self.ctx.now()
        phases = tuple(Phase(name=name, start=start, end=stop if stop is not None else start)
                       for name, start, stop in self.phases)
        if phases:
            phases = (*phases[:-1], Phase(name=phases[-1].name, start=phases[-1].start, end=end))
        timeline = ScaleTimeline(
            events=tuple(self.outcomes),
            phases=phases,
            replicas=tuple(ReplicaSeen(replica=r, first=first, last=watch.last_seen[r])
                           for r, first in watch.first_seen.items()),
            last_any=watch.last_any)
        return ContinuityEvidence(timelines=(timeline,), user_moves=watch.user_moves,
                                  broken_sessions=session_findings, readback=ReadBack(**readback),
                                  p90_factor=cfg.scale_p90_factor, error_rate_limit=cfg.scale_error_rate)
