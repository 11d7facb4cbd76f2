"""Negative concurrency: while the load runs, users try to read each other's writes.

After a share of iterations, the user requests a read-back URL from *another* user's
ledger with **the credentials its own last successful request carried** (headers and
cookies, however the flow sent them: client defaults or per request). Right before,
the same credentials read one of the prober's own writes: that *control* must
succeed, or the probe proves nothing (a refusal of a request that carried no valid
credentials says nothing about authorization; without a write of its own the probe
is unproven). A refusal counts only while the object still exists: right after it,
the owner reads the same URL with the credentials of *its* last successful request,
and must get its data back (a write the owner deleted, or the service expired, is
refused to everybody: that proves nothing about authorization, and is unproven).
Every probe is counted by outcome in the run's evidence (see
:class:`fpt.evidence.checks.ProbeEvidence`); a response that carries the owner's data is a
``cross_user`` finding.

A finding must be proven (the same rules for the probes, the replays and the cache probe):

- what the asker sent itself (its URL, query and body) and the answer echoes back is no
  proof: a 404 naming the reference asked for, a 403 naming the email in the path;
- a 2xx without the owner's data (a "soft refusal": 200 with an error body, or nothing) proves
  neither a leak nor a refusal: it is counted as ``allowed`` (unproven) and shown;
- on a route declared in ``shared_paths`` or ``public_paths``, the owner's data is counted
  (``shared`` / ``public``), never a finding.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import cast

import httpx

from fpt.config.redact import url as redact_url
from fpt.run.client import UserClient
from fpt.run.context import LedgerEntry, RunContext
from fpt.run.detectors.canary import carries, not_echoed, sent_by
from fpt.run.identity import Identity
from fpt.run.recorder import Recorder
from fpt.run.user import User

DENIED = frozenset({401, 403, 404})
PROBE_STEP = "fpt.probe"
_ANY_STATUS = range(100, 600)
#: headers that describe a request's body or route, not who sends it: never replayed
_NOT_CREDENTIALS = frozenset({"host", "content-length", "content-type", "transfer-encoding",
                              "x-fpt-request", "accept-encoding", "connection"})


def credentials(request: httpx.Request) -> dict[str, str]:
    """The headers of ``request`` that may carry who sent it (cookies, tokens, API keys)."""
    return {k: v for k, v in request.headers.items() if k.lower() not in _NOT_CREDENTIALS}


#: identity values that also show an answer to its owner is the owner's (besides canary and fields)
OWNER_VALUES = ("email", "member_id")


def entry_data(owner: Identity | None, entry: LedgerEntry, body: bytes, *,
               identity: bool = False, sent: bytes = b"") -> list[str]:
    """What of ``entry``'s owner ``body`` holds, in any case: its canary, the entry's own fields, and
    with ``identity`` its email and member id; less what the asker ``sent`` itself."""
    values = {owner.canary: "canary"} if owner is not None else {}
    if identity and owner is not None:
        values.update({str(getattr(owner, name)): name for name in OWNER_VALUES})
    for name, value in entry.fields.items():
        if isinstance(value, str | int) and len(str(value)) >= 4:
            values.setdefault(str(value), name)
    return [values[v] for v in not_echoed(carries(body, values), sent)]


def last_credentials(ctx: RunContext, user: User | None) -> dict[str, str] | None:
    """What ``user`` last authenticated with (its old request id left out: each request has its own)."""
    if user is None or user.last_ok is None:
        return None
    rid = ctx.request_id_header.lower()
    return {k: v for k, v in credentials(user.last_ok).items() if k.lower() != rid}


async def reads_own(user: User, url: httpx.URL, creds: dict[str, str],
                    holds: Callable[[bytes], list[str]]) -> bool:
    """A GET of ``url`` over ``user``'s transport with ``creds`` answers 2xx with ``user``'s data in it
    (what ``holds`` finds in the body): the proof that a refusal or a control means something."""
    try:
        r = await cast(UserClient, user.http).raw("GET", url, headers=creds)
    except httpx.HTTPError:
        return False
    return 200 <= r.status_code < 300 and bool(holds(r.content))


async def owner_still_reads(ctx: RunContext, entry: LedgerEntry) -> bool:
    """Whether ``entry``'s owner, with the credentials of its last successful request, still reads
    ``entry`` with its data in the answer: a refusal of anybody else is then a refusal."""
    owner = ctx.users.get(entry.owner)
    creds = last_credentials(ctx, owner)
    if owner is None or creds is None:
        return False
    url = owner.http.build_request("GET", entry.url).url
    return await reads_own(owner, url, creds,
                           lambda body: entry_data(owner.identity, entry, body, identity=True))


class CrossUserProbe:
    """Runs the probes and records each one's outcome as evidence."""

    def __init__(self, ctx: RunContext, *, share: float, seed: int,
                 public_paths: Sequence[str] = ()) -> None:
        self.ctx = ctx
        self.share = share
        self._rng = random.Random(seed)
        self._public = [re.compile(p) for p in public_paths]

    def _declared(self, path: str) -> str:
        """``shared`` / ``public`` when the route is declared so (the run's or this probe's own list)."""
        return self.ctx.declared(path) or ("public" if any(p.search(path) for p in self._public) else "")

    @property
    def _rec(self) -> Recorder:
        return self.ctx.recorder

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
        if entry is None:
            self._rec.probe("no_target")
            return
        self._rec.probe("tried")
        # The control: the prober reads its own write with the same credentials; it must succeed, or
        # a refusal of the probe proves nothing. Another URL (a public page, or one whose query
        # carried a token the probe will not) would prove nothing about the probe's credentials.
        own = user.ledger.entries
        control = own[self._rng.randrange(len(own))].url if own else None
        creds = credentials(user.last_ok) if user.last_ok is not None else None
        if control is None or creds is None:
            self._rec.probe("unproven")
            return
        user.probing = True
        try:
            async with user._harness_step(PROBE_STEP, expect_status=_ANY_STATUS):
                mine = await user.http.send(user.http.build_request("GET", control, headers=creds))
                if not 200 <= mine.status_code < 300:
                    self._rec.probe("unproven", mine.status_code)
                    return
                response = await user.http.send(user.http.build_request("GET", entry.url, headers=creds))
        except httpx.TransportError:
            self._rec.probe("errors")
            return
        finally:
            user.probing = False
        # Only after a refusal (the rest need no proof the object is there): one request more.
        exists = response.status_code not in DENIED or await owner_still_reads(self.ctx, entry)
        self.judge(user, entry, response, exists=exists)

    def _leaked(self, entry: LedgerEntry, response: httpx.Response) -> list[str]:
        if response.status_code >= 500:
            return []
        return entry_data(self.ctx.owners.by_index.get(entry.owner), entry, response.content,
                          sent=sent_by(response.request))

    def judge(self, user: User, entry: LedgerEntry, response: httpx.Response, *, exists: bool) -> None:
        """Classify one probe's response (the control succeeded; ``exists``: the owner still read it)."""
        status = response.status_code
        owner = self.ctx.owners.by_index.get(entry.owner)
        owner_label = owner.label if owner else f"user#{entry.owner}"
        path = redact_url(response.request.url.path)
        leaked = self._leaked(entry, response)
        declared = self._declared(response.request.url.path) if leaked or 200 <= status < 300 else ""
        if leaked and declared:
            self._rec.probe(declared, status)  # the squad says any user may see it there
        elif leaked:
            self._rec.probe("leaked", status)
            user.fail("cross_user", f"read {owner_label}'s {entry.kind} with its own credentials",
                      other_user=owner_label, method="GET", path=path, step=PROBE_STEP,
                      request_id=response.request.headers.get("x-fpt-request", ""),
                      evidence={"status": status, "owner_data": leaked},
                      reask=(response.request, owner))
        elif status in DENIED:
            # Refused to everybody, the owner too (deleted, expired): nothing proven about authorization.
            self._rec.probe("denied" if exists else "unproven", status)
        elif status >= 500:
            self._rec.probe("errors", status)
            user.fail("functional", f"cross-user probe got {status}: the service must refuse cleanly",
                      method="GET", path=path, other_user=owner_label, step=PROBE_STEP)
        elif 200 <= status < 300:
            # Without the owner's data a 2xx proves nothing either way (a soft refusal, an empty
            # answer, the prober's own view): counted and shown, never a leak.
            self._rec.probe("public" if declared else "allowed", status)
        else:
            self._rec.probe("inconclusive", status)
