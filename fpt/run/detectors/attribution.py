"""Attribution proven, not guessed: a leak is asked again alone, after the load, before it is named.

During the load a leak is labelled by what was around it: a cross-user read is *authorization*,
another user's data in an answer no concurrent request explains is *cache/shared state*. Both
guesses go wrong on one bug class: state kept across an ``await`` (a request-global "current
user") leaks only while another request is in flight, yet its probe answers look like a missing
owner check. So each such finding keeps the request that showed it (bounded), and after the load,
with nothing else in flight, fpt sends that request once more, alone, with the same credentials:

- the victim's data comes back alone -> the label stands (*authorization*, *cache/shared state*);
- refused, or the asker's own data -> *concurrency* (the leak needed another request in flight);
- no usable answer (a transport error, a 5xx, a write that cannot be resent) -> the label stands,
  marked not confirmed in the finding's evidence.

The outcome is the finding's ``attribution`` (what ``verdict_kind`` says everywhere: run line,
failure message, checklist items, reports), with the re-ask in its evidence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, cast

import httpx

from fpt.evidence.findings import Finding
from fpt.run.detectors.canary import carries

if TYPE_CHECKING:
    from fpt.run.client import UserClient
    from fpt.run.context import RunContext
    from fpt.run.identity import Identity
    from fpt.run.user import User

#: findings re-asked per run at most (the kept examples are what reports show)
MAX_REASKS = 40
#: methods resent alone: a write is never repeated for attribution
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
#: identity values whose presence shows the victim's data (canary first)
VICTIM_VALUES = ("canary", "email", "member_id")


class Alone(StrEnum):
    """What the same request answered when asked alone after the load."""

    LEAKED = "leaked_alone"          # the victim's data again: the label stands
    REFUSED = "refused_alone"        # denied, or the asker's own data: concurrency
    UNCONFIRMED = "unconfirmed"      # no usable answer, or a method fpt does not resend


@dataclass(frozen=True)
class ReAsk:
    """The request that showed a leak, enough to send it again: over whose transport, to whom."""

    via: User
    method: str
    url: httpx.URL
    headers: dict[str, str]
    victim: Identity


def victim_of(ctx: RunContext, who: Identity | str | None) -> Identity | None:
    """The identity whose data leaked: given, or found by its label (``user#12``)."""
    if who is None or not isinstance(who, str):
        return who
    return next((i for i in ctx.owners.by_index.values() if i.label == who), None)


def note(ctx: RunContext, finding: Finding, via: User | None, request: httpx.Request | None,
         victim: Identity | str | None, headers: dict[str, str] | None = None) -> None:
    """Keep ``request`` (what showed ``finding``) for the re-ask after the load, when it is worth one.

    Only findings that were kept as examples (the ones every report shows), whose label is a guess:
    cross-user reads and non-concurrent swaps; bounded by :data:`MAX_REASKS`.
    """
    if via is None or request is None or len(ctx.reasks) >= MAX_REASKS:
        return
    if finding.kind not in ("cross_user", "data_swap", "foreign_canary") or finding.concurrent:
        return
    if not ctx.findings.examples or ctx.findings.examples[-1] is not finding:
        return
    victim = victim_of(ctx, victim)
    if victim is None:
        return
    sent = dict(request.headers) if headers is None else headers
    sent = {k: v for k, v in sent.items() if k.lower() not in ("content-length", "host")}
    ctx.reasks.append((finding, ReAsk(via=via, method=request.method, url=request.url, headers=sent,
                                      victim=victim)))


def judge_alone(status: int | None, body: bytes, victim: Identity) -> Alone:
    """The re-ask's outcome from its answer (``status`` None: no answer)."""
    if status is None or status >= 500:
        return Alone.UNCONFIRMED
    values = {str(getattr(victim, name)): name for name in VICTIM_VALUES}
    return Alone.LEAKED if carries(body, values) else Alone.REFUSED


def attribution(finding: Finding, alone: Alone) -> str:
    """The verdict word a finding gets from its re-ask."""
    if alone is Alone.REFUSED:
        return "concurrency"
    return "authorization" if finding.kind == "cross_user" else "cache_shared_state"


async def attribute(ctx: RunContext, budget: float) -> dict[str, int]:
    """Re-ask every kept request alone (one at a time), and set each finding's ``attribution``.

    Call it after the load, with nothing else in flight. Bounded by ``budget`` seconds in all;
    the rest stays unconfirmed. Returns the count of each outcome.
    """
    counts = {a.value: 0 for a in Alone}
    if not ctx.reasks:
        return counts
    deadline = time.monotonic() + budget
    outcomes: dict[int, tuple[Alone, int | None]] = {}
    for finding, ask in ctx.reasks:
        status: int | None = None
        body = b""
        left = deadline - time.monotonic()
        if ask.method in SAFE and left > 0:
            try:
                async with asyncio.timeout(left):
                    r = await cast("UserClient", ask.via.http).raw(ask.method, ask.url, headers=ask.headers)
                status, body = r.status_code, r.content
            except (httpx.HTTPError, TimeoutError):
                status = None
        alone = judge_alone(status, body, ask.victim)
        outcomes[id(finding)] = (alone, status)
        counts[alone.value] += 1
    examples = ctx.findings.examples
    for i, f in enumerate(examples):
        got = outcomes.get(id(f))
        if got is None:
            continue
        alone, status = got
        examples[i] = dataclasses.replace(
            f, attribution=attribution(f, alone),
            evidence={**f.evidence, "asked_alone": alone.value, "alone_status": status})
    ctx.reasks.clear()
    return counts
