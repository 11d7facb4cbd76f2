"""Hunting data swaps the way they happen in production, on a share of the real requests.

One uniform draw per request (in ``UserClient.send``) picks what, if anything, a
request gets; the others pay nothing more:

- **cancel** (``cancel_share``, idempotent methods only): the client gives up at a
  random point after sending, then sends the request again; the flow sees the second
  answer. A service that leaves a reply behind on a shared connection (the redis-py
  asyncio class of 2023) hands it to the *next* user, where the canary scan and
  ``expect_owner`` see it.
- **replay** (``replay_share``): the same request, right after its owner's answer,
  with *another* user's credentials (the headers of that user's last successful
  request; its own control must still work) and with *none*. The other user must be
  refused or get its own data, never the owner's (OWASP API1:2023 BOLA, on reads and,
  with ``replay_writes``, on PUT/DELETE). A refusal counts only if the owner still
  reads the URL (GET, its own credentials, its data in the answer): a DELETE replayed
  after the owner's own, or an object gone since, is refused to everybody.
- **cache probe** (``cache_probe_share``, GET): the same URL at once as another user
  with its own credentials; the owner's data in that answer is a cache or shared state
  keyed without the user (Steam 2015, Klarna 2021). Authenticated answers a shared cache
  may store (ASVS 14.2.2) are counted as a warning.
- **shared connection** (``connection_share``, fpt's own transport): right after the
  owner's answer, another user's own last read (its URL, its credentials) goes on the
  keep-alive connection the owner just used, as a pooling gateway or a connection-bound
  auth scheme would send it. An answer with the owner's data is a swap of kind *shared
  connection*: the service keeps who is calling per connection.

Each detector acts on at most ``hunt_max_rate`` requests a second per step (a token
bucket one second deep; those passed over are counted as ``capped``): below that rate
the shares apply as they are, above it the detectors' cost stays bounded however fast
the run goes, and a bug on a step is still met many times a second.

Replays and probes run as background tasks over the transports directly (no cookie
jar, no metrics, no observers), so the flow's own session, timings and iteration
outcome are untouched; they are counted in typed evidence, never as the service's
errors. ``drain()`` waits for the stragglers before the clients close.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx

from fpt.config.redact import SECRET_KEY
from fpt.config.redact import url as redact_url
from fpt.evidence.findings import Finding
from fpt.run.bounds import finish_within
from fpt.run.client import UserClient
from fpt.run.context import IDEMPOTENT, RunContext
from fpt.run.detectors.attribution import note
from fpt.run.detectors.canary import carries, find_canaries, not_echoed, sent_by
from fpt.run.detectors.probes import DENIED, OWNER_VALUES, last_credentials, reads_own
from fpt.run.identity import Identity
from fpt.run.perimeter import GuardedTransport
from fpt.run.transport.fast import FastTransport
from fpt.run.transport.wire import _Connection
from fpt.run.user import User

WRITES = frozenset({"PUT", "DELETE"})
#: request headers that describe the body, kept when a request is replayed under other credentials
_BODY_HEADERS = ("content-type",)
#: background detector tasks in flight at once; more are skipped (counted) rather than queued
MAX_TASKS = 64


def owner_data(owner: Identity, body: bytes, sent: bytes = b"") -> list[str]:
    """Which of ``owner``'s identifying values ``body`` carries, in any case (canary first), less what
    the asker ``sent`` itself (:func:`fpt.run.detectors.probes.sent_by`: an echo proves nothing)."""
    names = ("canary", *OWNER_VALUES)
    values = {str(getattr(owner, name)): name for name in names}
    return [values[v] for v in not_echoed(carries(body, values), sent)]


def storable(request: httpx.Request, response: httpx.Response) -> bool:
    """An authenticated answer that a shared cache may store and hand to someone else."""
    if "authorization" not in request.headers and "cookie" not in request.headers:
        return False
    cc = response.headers.get("cache-control", "").lower()
    if "private" in cc or "no-store" in cc:
        return False
    vary = response.headers.get("vary", "").lower()
    return not ("cookie" in vary or "authorization" in vary or "*" in vary)


class Hunter:
    """The share-of-requests detectors of one run (see the module docstring)."""

    def __init__(self, ctx: RunContext, *, seed: int, replay_share: float = 0.0,
                 replay_writes: bool = False, cache_share: float = 0.0, cancel_share: float = 0.0,
                 public_paths: Sequence[str] = (), max_rate: float = 0.0,
                 connection_share: float = 0.0) -> None:
        self.ctx = ctx
        self._rng = random.Random(seed * 7919 + 17)
        self.random = self._rng.random
        self.cancel_below = cancel_share
        self.replay_below = cancel_share + replay_share
        self.cache_below = self.replay_below + cache_share
        self.after_below = self.cache_below + connection_share
        self.methods = IDEMPOTENT | WRITES if replay_writes else IDEMPOTENT
        self.replaying = replay_share > 0
        self.caching = cache_share > 0
        self.sharing = connection_share > 0
        self.cancelling = cancel_share > 0
        self._public = [re.compile(p) for p in public_paths]
        self._tasks: set[asyncio.Task[None]] = set()
        self._pool: list[User] = []
        self.max_rate = max_rate
        #: (detector, step) -> [tokens, when last filled]
        self._buckets: dict[tuple[str, str], list[float]] = {}

    def allow(self, detector: str, step: str) -> bool:
        """Whether ``detector`` may act on one more of ``step``'s requests now (within ``max_rate``).

        A request passed over is counted as ``capped`` in that detector's evidence.
        """
        rate = self.max_rate
        if not rate:
            return True
        now = time.perf_counter()
        bucket = self._buckets.get((detector, step))
        if bucket is None:
            bucket = self._buckets[(detector, step)] = [max(rate, 1.0), now]
        tokens = min(max(rate, 1.0), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            rec = self.ctx.recorder
            rec.bump(getattr(rec, detector), "capped")  # the recorder's replay, cache or cancel counts
            return False
        bucket[0] = tokens - 1.0
        return True

    # -- cancellation -------------------------------------------------------------------------------

    def cut_delay(self, user: User) -> float:
        """Somewhere within the user's last request's time (1 ms when there is none yet)."""
        return (user.last_latency or 0.001) * (0.1 + 0.8 * self._rng.random())

    def cut(self, outcome: str) -> None:
        """Count one cancellation outcome (``tried`` follows ``cancelled``/``answered_first``)."""
        counts = self.ctx.recorder.cancel
        if outcome in ("cancelled", "answered_first"):
            counts["tried"] = counts.get("tried", 0) + 1
        counts[outcome] = counts.get(outcome, 0) + 1

    # -- replay and cache probe ---------------------------------------------------------------------

    def after(self, user: User, request: httpx.Request, response: httpx.Response, roll: float) -> None:
        """A successful answer drawn ``roll``: replay the request, or probe its URL as someone else."""
        if roll < self.cancel_below:
            return
        method = request.method
        # Declared sharing (shared step or path, public path) is read now, inside the step that made
        # the request.
        shared = user.sees_shared(request.url.path) or self._public_path(request.url.path)
        step = str(response.extensions.get("fpt.step", user.current_step))
        if roll < self.replay_below:
            if method in self.methods and self.allow("replay", step):
                self._spawn(self.replay(user, method, request.url, _body_headers(request),
                                        request.content, step, shared))
        elif roll < self.cache_below:
            if method == "GET" and self.allow("cache", step):
                self._spawn(self.cache_probe(user, request, response, step, shared))
        elif self.allow("connection", step):
            self.share_connection(user, request, step)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if len(self._tasks) >= MAX_TASKS:
            coro.close()
            self.ctx.recorder.bump(self.ctx.recorder.replay, "skipped")
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, within: float) -> None:
        """Wait (at most ``within`` s) for the detectors still running; cancel the rest."""
        await finish_within(list(self._tasks), within)

    def _other(self, user: User) -> User | None:
        """A random other user with a successful request to copy credentials from."""
        if len(self._pool) != len(self.ctx.users):
            self._pool = list(self.ctx.users.values())
        pool = self._pool
        for _ in range(8):
            other = pool[self._rng.randrange(len(pool))]
            if other is not user and other.last_ok is not None and not other.probing:
                return other
        return None

    async def _control(self, other: User, creds: dict[str, str]) -> bool:
        """The other user's credentials still identify it: its own last successful GET, sent with
        them and without any secret-looking query parameter, answers with that user's own data.

        A public page, or a URL whose query carried the token, would answer without proving the
        credentials the replay carries: then a refusal of the replay proves nothing.
        """
        own = other.last_ok_get
        if own is None:
            return False
        url = own.url.copy_with(params=[(k, v) for k, v in own.url.params.multi_items()
                                        if not SECRET_KEY.search(k)])
        return await reads_own(other, url, creds, lambda body: owner_data(other.identity, body))

    async def _owner_reads(self, owner: User, url: httpx.URL) -> bool:
        """After a refusal: the owner, with its own last credentials, still reads ``url`` with its data."""
        creds = last_credentials(self.ctx, owner)
        return creds is not None and await reads_own(owner, url, creds,
                                                     lambda body: owner_data(owner.identity, body))

    def _public_path(self, path: str) -> bool:
        return self.ctx.declared(path) == "public" or any(p.search(path) for p in self._public)

    async def replay(self, owner: User, method: str, url: httpx.URL, headers: dict[str, str],
                     content: bytes, step: str, shared: bool = False) -> None:
        """Repeat the owner's request as another user and with no credentials; judge both answers."""
        rec = self.ctx.recorder
        rec.bump(rec.replay, "tried")
        rec.bump(rec.replay_methods, method)
        shown = redact_url(url.path)
        # The owner's reference in the URL or body, echoed back ("no order ORD-12", "jane@... is not
        # yours"), is no proof: what the replay sent is discounted from every answer.
        sent = sent_by(httpx.Request(method, url, content=content or None))
        other = self._other(owner)
        creds = last_credentials(self.ctx, other)
        who = other.identity.label if other is not None else None
        seen_as_other, with_own = await self._as_other(owner, other, creds, method, url, headers, content,
                                                       shared, sent)
        seen_as_nobody = await self._as_nobody(owner, method, url, headers, content, shared, sent)
        if shared or not (seen_as_other or seen_as_nobody):
            return
        label = (seen_as_other or seen_as_nobody).whose
        if not with_own and not (seen_as_other and seen_as_nobody):
            # A read of the owner's object is refused or allowed every time; asked once more, an answer
            # that no longer holds the owner's data came from a request it overlapped (concurrency).
            again = creds if seen_as_other else None
            viewer = other if seen_as_other else owner
            try:
                r2 = await _client(viewer).raw(method, url, headers={**headers, **(again or {})},  # type: ignore[arg-type]
                                               content=content or None)
                confirmed = bool(owner_data(owner.identity, r2.content, sent))
            except httpx.HTTPError:
                confirmed = True
            if not confirmed:
                as_whom = who if seen_as_other else None  # the leak seen without credentials: as nobody
                self._find("data_swap", f"{label}'s {method} {shown} replayed as {as_whom or 'nobody'} "
                           f"answered once with {label}'s data, not when asked again (concurrency)",
                           as_whom or "anonymous", label, method, shown, step,
                           (seen_as_other or seen_as_nobody).found, concurrent=True)
                return
        # Asked again alone after the load (fpt.run.detectors.attribution): as the other user if it saw the
        # owner's data, else as nobody.
        asked = (other, httpx.Request(method, url, headers={**headers, **(creds or {})})) \
            if seen_as_other and other is not None else (owner, httpx.Request(method, url, headers=headers))
        if seen_as_other and seen_as_nobody:
            # The answer does not depend on who asks: a cache or state kept without the user.
            self._find("data_swap", f"{method} {shown} answered {who} and a request without credentials "
                       f"with {label}'s data (replayed; cache or shared state)", who or "", label,
                       method, shown, step, seen_as_other.found, concurrent=False, reask=(*asked, label))
        elif with_own:
            # The URL answers per user (it held the other user's own data too) and mixed the owner's
            # in: a listing or state that leaks, not a read of the owner's object.
            self._find("data_swap", f"{method} {shown} replayed as {who} answered with {who}'s data and "
                       f"{label}'s", who or "", label, method, shown, step, seen_as_other.found,
                       concurrent=False, reask=(*asked, label))
        elif seen_as_other:
            self._find("cross_user", f"{label}'s {method} {shown} replayed with {who}'s credentials "
                       f"answered with {label}'s data", who or "", label, method, shown, step,
                       seen_as_other.found, reask=(*asked, label))
        else:
            self._find("cross_user", f"{label}'s {method} {shown} replayed without credentials answered "
                       f"with {label}'s data", "anonymous", label, method, shown, step, seen_as_nobody.found,
                       reask=(*asked, label))

    async def _as_other(self, owner: User, other: User | None, creds: dict[str, str] | None, method: str,
                        url: httpx.URL, headers: dict[str, str], content: bytes, shared: bool,
                        sent: bytes = b"") -> tuple[Leak, bool]:
        """The owner's request replayed with another user's working credentials, counted: what leaked,
        and whether the answer held that user's own data too."""
        rec = self.ctx.recorder
        counts = rec.replay
        if other is None or creds is None or not await self._control(other, creds):
            rec.bump(counts, "unproven")
            return NO_LEAK, False
        try:
            r = await _client(other).raw(method, url, headers={**headers, **creds}, content=content or None)
        except httpx.HTTPError:
            rec.bump(counts, "errors")
            return NO_LEAK, False
        seen = self._leak(owner, other.identity, r.content, sent)
        if seen:
            rec.bump(counts, ("public" if self._public_path(url.path) else "shared") if shared else "leaked")
            return seen, bool(owner_data(other.identity, r.content, sent))
        if r.status_code in DENIED:
            # Refused to the owner too (deleted, expired: a DELETE replayed after the owner's own)
            # proves nothing about authorization.
            rec.bump(counts, "denied" if await self._owner_reads(owner, url) else "unproven")
        elif r.status_code >= 500:
            rec.bump(counts, "errors")
        elif 200 <= r.status_code < 300:
            rec.bump(counts, "public" if self._public_path(url.path) else "own")
        else:
            rec.bump(counts, "inconclusive")
        return NO_LEAK, False

    async def _as_nobody(self, owner: User, method: str, url: httpx.URL, headers: dict[str, str],
                         content: bytes, shared: bool, sent: bytes = b"") -> Leak:
        """The owner's request replayed without credentials, counted: what leaked."""
        rec = self.ctx.recorder
        counts = rec.replay
        rec.bump(counts, "anon_tried")
        try:
            r = await _client(owner).raw(method, url, headers=headers, content=content or None)
        except httpx.HTTPError:
            rec.bump(counts, "anon_errors")
            return NO_LEAK
        seen = self._leak(owner, None, r.content, sent)
        if seen:
            rec.bump(counts, "anon_shared" if shared else "anon_leaked")
        elif r.status_code >= 500:
            rec.bump(counts, "anon_errors")
        elif r.status_code in DENIED:
            rec.bump(counts, "anon_denied")
        else:
            rec.bump(counts, "anon_open")
        return seen

    def _leak(self, owner: User, viewer: Identity | None, body: bytes, sent: bytes = b"") -> Leak:
        """The owner's data in ``body`` (or any canary but the viewer's), less what the asker ``sent``
        itself: what a viewer must never get."""
        found = owner_data(owner.identity, body, sent)
        if found:
            return Leak(found=tuple(found), whose=owner.identity.label)
        mine = viewer.canary if viewer is not None else None
        others = [self.ctx.owners.owner_of(c) or "unknown"
                  for c in not_echoed(list(dict.fromkeys(find_canaries(body))), sent) if c != mine]
        return Leak(found=tuple(f"canary of {o}" for o in others), whose=others[0]) if others else NO_LEAK

    async def cache_probe(self, owner: User, request: httpx.Request, response: httpx.Response, step: str,
                          shared: bool = False) -> None:
        """Right after the owner's GET: the same URL as another user, with that user's own credentials."""
        rec = self.ctx.recorder
        counts = rec.cache
        rec.bump(counts, "tried")
        if storable(request, response):
            rec.bump(counts, "storable")
        other = self._other(owner)
        creds = last_credentials(self.ctx, other)
        if other is None or creds is None:
            rec.bump(counts, "unproven")
            return
        try:
            r = await _client(other).raw("GET", request.url, headers=creds)
        except httpx.HTTPError:
            rec.bump(counts, "errors")
            return
        sent = sent_by(request)
        found = self._leak(owner, other.identity, r.content, sent) if r.status_code < 500 else NO_LEAK
        path = request.url.path
        if not found:
            rec.bump(counts, "errors" if r.status_code >= 500 else "clean")
            return
        if shared:
            rec.bump(counts, "shared")
            return
        rec.bump(counts, "leaked")
        who, label = other.identity.label, found.whose
        # Asked again at once: a cache answers the same; state swapped by an overlapping request does not.
        try:
            r2 = await _client(other).raw("GET", request.url, headers=creds)
            stays = bool(self._leak(owner, other.identity, r2.content, sent))
        except httpx.HTTPError:
            stays = True
        concurrent = not stays and bool(r.extensions.get("fpt.concurrent"))
        why = "cache or shared state keyed without the user" if not concurrent else \
            "once, under concurrency; not when asked again"
        self._find("data_swap", f"GET {redact_url(path)} asked by {who} right after {label} answered "
                   f"with {label}'s data ({why})", who, label, "GET",
                   redact_url(path), step, found.found, concurrent=concurrent,
                   reask=(other, httpx.Request("GET", request.url, headers=creds), label),
                   extra={"cache_control": r.headers.get("cache-control", ""),
                          "age": r.headers.get("age", ""), "detector": "cache_probe"})

    # -- shared connection --------------------------------------------------------------------------

    def share_connection(self, owner: User, request: httpx.Request, step: str) -> None:
        """Take the connection ``owner``'s request just went over (now, before its next request can),
        and send another user's own last read on it in the background."""
        rec = self.ctx.recorder
        counts = rec.connection
        rec.bump(counts, "tried")
        transport = _fast(owner, request.url)
        if transport is None:
            rec.bump(counts, "unsupported")  # in-process ASGI or httpx's pool: no connection to share
            return
        if len(self._tasks) >= MAX_TASKS:
            rec.bump(counts, "skipped")
            return
        other = self._other(owner)
        creds = last_credentials(self.ctx, other)
        own = other.last_ok_get if other is not None else None
        if other is None or creds is None or own is None or (own.url.scheme, own.url.host, own.url.port) != (
                request.url.scheme, request.url.host, request.url.port):
            rec.bump(counts, "unproven")  # nobody else with a read of its own to the same origin
            return
        lent = transport.lend(request.url)
        if lent is None:
            rec.bump(counts, "no_connection")  # the answer closed it: nothing kept alive to share
            return
        url = own.url.copy_with(params=[(k, v) for k, v in own.url.params.multi_items()
                                        if not SECRET_KEY.search(k)])
        self._spawn(self._on_shared(owner, other, transport, lent[1], url, creds, step))

    async def _on_shared(self, owner: User, other: User, transport: FastTransport, conn: _Connection,
                         url: httpx.URL, creds: dict[str, str], step: str) -> None:
        """Send ``other``'s read on ``owner``'s connection; judge whose data came back."""
        ctx = self.ctx
        counts = ctx.recorder.connection
        request = httpx.Request("GET", url, headers=creds)
        ctx.inflight_requests += 1
        ctx.request_starts += 1
        try:
            async with asyncio.timeout(ctx.request_deadline):
                r = await transport.send_on(conn, request, keep=True)
        except (httpx.HTTPError, TimeoutError):
            ctx.recorder.bump(counts, "errors")
            return
        finally:
            ctx.inflight_requests -= 1
        try:
            await self._confirm_on(owner, other, transport, conn, request, r, step)
        finally:
            transport.retire(conn)  # not asked again (clean, or no leak): closed all the same

    async def _confirm_on(self, owner: User, other: User, transport: FastTransport, conn: _Connection,
                          request: httpx.Request, r: httpx.Response, step: str) -> None:
        """Judge the answer on the shared connection; on a leak, ask once more on the same connection."""
        ctx = self.ctx
        counts = ctx.recorder.connection
        url = request.url
        if r.status_code >= 500:
            ctx.recorder.bump(counts, "errors")
            return
        found = self._leak(owner, other.identity, r.content, sent_by(request))
        if not found:
            ctx.recorder.bump(counts, "clean" if owner_data(other.identity, r.content) else "unproven")
            return
        if ctx.declared(url.path) or other.sees_shared(url.path):
            ctx.recorder.bump(counts, "shared")
            return
        ctx.recorder.bump(counts, "leaked")
        who, label, shown = other.identity.label, found.whose, redact_url(url.path)
        # Asked twice more on the same connection: the owner's data every time, the connection carries
        # the caller (a gateway, connection-bound auth); anything else, the first answer came from state
        # kept across requests (a "previous caller" the sender has just become), not the connection.
        sticky = label == owner.identity.label
        for last in (False, True):
            if not sticky or conn.closed:
                sticky = False
                break
            try:
                async with asyncio.timeout(ctx.request_deadline):
                    ask = httpx.Request("GET", url, headers=dict(request.headers))
                    again = await transport.send_on(conn, ask, keep=not last)
                sticky = bool(owner_data(owner.identity, again.content, sent_by(request)))
            except (httpx.HTTPError, TimeoutError):
                sticky = False
        if sticky:
            self._find("data_swap", f"{who}'s GET {shown}, sent three times on the keep-alive connection "
                       f"{owner.identity.label} had just used, answered every time with {label}'s data (the "
                       "service keeps the caller per connection: a pooling gateway would mix users)", who,
                       label, "GET", shown, step, found.found, extra={"detector": "shared_connection"})
        else:
            self._find("data_swap", f"{who}'s GET {shown} answered once with {label}'s data on a shared "
                       "connection, not when asked again on it (state kept across requests, not the "
                       "connection)", who, label, "GET", shown, step, found.found, concurrent=True,
                       extra={"detector": "shared_connection_unconfirmed"})

    def _find(self, kind: str, message: str, user: str, other: str, method: str, path: str, step: str,
              found: tuple[str, ...], *, concurrent: bool | None = None,
              extra: dict[str, Any] | None = None,
              reask: tuple[User, httpx.Request, str] | None = None) -> None:
        """A finding of the harness (not of the users' own iterations, which stay as they ended)."""
        ctx = self.ctx
        finding = Finding(kind=kind, message=message, flow=ctx.flow, step=step, user=user,
                          other_user=other, method=method, path=path, at=round(ctx.now(), 3),
                          phase=ctx.phase, concurrent=concurrent,
                          evidence={"owner_data": list(found), **(extra or {"detector": "replay"})})
        ctx.findings.add(finding)
        if reask is not None:
            note(ctx, finding, reask[0], reask[1], reask[2])


@dataclass(frozen=True)
class Leak:
    """What a body held that its viewer must never get, and whose it is: the owner's own values
    (``found`` names the fields), or other users' canaries (``canary of user#3``: ``whose`` is
    the first of them)."""

    found: tuple[str, ...] = ()
    whose: str = ""

    def __bool__(self) -> bool:
        return bool(self.found)


NO_LEAK = Leak()


def _client(user: User) -> UserClient:
    return cast(UserClient, user.http)


def _fast(user: User, url: httpx.URL) -> FastTransport | None:
    """The user's own fpt transport for ``url`` (under its perimeter guard), or None (ASGI, httpx's)."""
    transport = _client(user)._transport_for_url(url)
    while isinstance(transport, GuardedTransport):
        transport = transport.inner
    return transport if isinstance(transport, FastTransport) else None


def _body_headers(request: httpx.Request) -> dict[str, str]:
    return {k: v for k in _BODY_HEADERS if (v := request.headers.get(k)) is not None}


__all__ = ["Hunter", "owner_data", "storable"]


