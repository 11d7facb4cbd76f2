"""Negative concurrency: while the load runs, users try to read each other's writes.

After a share of iterations, the user requests a read-back URL from *another*
user's ledger with its own credentials. 401/403/404 is a denial (good); a response
that carries the owner's data (canary or ledger-declared field values) is a
``cross_user`` finding; a 5xx is a functional failure (refuse cleanly, do not crash).
"""

from __future__ import annotations

import random

import httpx

from fpt.redact import url as redact_url
from fpt.user import LedgerEntry, RunContext, User

DENIED = frozenset({401, 403, 404})
PROBE_STEP = "fpt.probe"
_ANY_STATUS = range(100, 600)


class CrossUserProbe:
    """Runs the probes and counts tried / denied / leaked / errors."""

    def __init__(self, ctx: RunContext, *, share: float, seed: int) -> None:
        self.ctx = ctx
        self.share = share
        self._rng = random.Random(seed)

    def _pick(self, user: User) -> LedgerEntry | None:
        writes = self.ctx.writes
        for _ in range(8):
            if not writes:
                return None
            entry = writes[self._rng.randrange(len(writes))]
            if entry.owner != user.index:
                return entry
        return None

    async def maybe_probe(self, user: User) -> None:
        """With probability ``share``, probe one foreign write as ``user``."""
        if not self.share or self._rng.random() >= self.share:
            return
        entry = self._pick(user)
        c = self.ctx.counters
        if entry is None:
            c["probes.no_target"] += 1
            return
        c["probes.tried"] += 1
        user.probing = True
        try:
            async with user.step(PROBE_STEP, expect_status=_ANY_STATUS):
                response = await user.http.get(entry.url)
        except httpx.TransportError:
            c["probes.errors"] += 1
            return
        finally:
            user.probing = False
        self.judge(user, entry, response)

    def judge(self, user: User, entry: LedgerEntry, response: httpx.Response) -> None:
        """Classify one probe's response."""
        c = self.ctx.counters
        status = response.status_code
        owner = self.ctx.owners.by_index.get(entry.owner)
        owner_label = owner.label if owner else f"user#{entry.owner}"
        path = redact_url(response.request.url.path)
        if status in DENIED:
            c["probes.denied"] += 1
            return
        if status >= 500:
            c["probes.errors"] += 1
            user.fail("functional", f"cross-user probe got {status}: the service must refuse cleanly",
                      method="GET", path=path, other_user=owner_label, step=PROBE_STEP)
            return
        body = response.content
        leaked = []
        if owner is not None and owner.canary.encode() in body:
            leaked.append("canary")
        for name, value in entry.fields.items():
            if isinstance(value, str | int) and len(str(value)) >= 4 and str(value).encode() in body:
                leaked.append(name)
        if leaked:
            c["probes.leaked"] += 1
            user.fail("cross_user", f"read {owner_label}'s {entry.kind} with its own credentials",
                      other_user=owner_label, method="GET", path=path, step=PROBE_STEP,
                      request_id=response.request.headers.get("x-fpt-request", ""),
                      evidence={"status": status, "owner_data": leaked})
        elif 200 <= status < 300:
            c["probes.allowed_without_owner_data"] += 1
        else:
            c["probes.denied"] += 1

    def counters(self) -> dict[str, int]:
        """Probe counts for the run result (zeros included, so absence is visible)."""
        c = self.ctx.counters
        return {k: c[k] for k in ("probes.tried", "probes.denied", "probes.leaked", "probes.errors",
                                  "probes.no_target", "probes.allowed_without_owner_data")}
