"""Virtual users: identity, own HTTP client, steps, state, ledger, checks.

Every user has its own ``httpx.AsyncClient`` (own cookie jar, own headers, own
connections), so fpt itself can never mix two users up. Each request is timed and
recorded with the step it ran in; response observers (the data-swap scanners)
see every response.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import logging
import random
import re
import time
import warnings
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from fpt.config.errors import ConfigError
from fpt.config.redact import (
    SECRET_NAME,
    fingerprint,
    learn_fields,
    looks_secret,
    mask,
    note_request,
    register,
    scrub,
)
from fpt.config.redact import url as redact_url
from fpt.evidence.checks import HARNESS_STEP_PREFIX
from fpt.evidence.findings import Finding, FindingLog
from fpt.evidence.metrics import Metrics
from fpt.run import building
from fpt.run.detectors.ownership import compare
from fpt.run.identity import Identity, OwnerIndex
from fpt.run.perimeter import OffPerimeter
from fpt.run.recorder import Recorder, StepTally
from fpt.run.transport.errors import ProtocolDesync

if TYPE_CHECKING:
    from fpt.run.websocket import WebSocket

Observer = Callable[["User", httpx.Request, httpx.Response], None]
"""Called for every response a user receives (after the body is read)."""

NO_STEP = "(no step)"
#: names fpt's metrics and reports use for their own rows and series (iterations, requests): a flow's
#: step by one of them would be mixed into what is judged per second, so they are refused
RESERVED_STEPS = frozenset({"@flow", "*", "(flow)", "(requests)", NO_STEP})
#: phases whose overlapping requests are not load: they prove nothing about concurrency
NOT_LOAD = frozenset({"alone", "readback", "explore", "setup"})
#: a whole request (head and body) must be over within this many seconds unless configured
REQUEST_DEADLINE = 30.0

#: methods the client may give up on and send again without changing what the flow did
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})

LEDGER_KEEP = 100
"""Acknowledged writes a user's ledger keeps (its most recent; the older ones counted in ``dropped``)."""
WRITES_KEPT = 10_000
"""Acknowledged writes a run keeps for read-back and cross-user probes: a uniform sample of all
of them once there are more (the rest counted in ``RunContext.writes_dropped``; the read-back
counts them as not made). The read-back could not read many more within its budget anyway."""


class Hunt(Protocol):
    """The detectors acting on a share of requests (``fpt.run.detectors.replay.Hunter``): one draw each."""

    cancel_below: float
    after_below: float

    def random(self) -> float:
        """One uniform draw in [0, 1) deciding what, if anything, this request gets."""

    def allow(self, detector: str, step: str) -> bool:
        """Whether ``detector`` (cancel, replay, cache) may act on one more of ``step``'s requests now."""

    def cut_delay(self, user: User) -> float:
        """Seconds after sending at which the client gives up on a request chosen for cancelling."""

    def cut(self, outcome: str) -> None:
        """Count one cancellation outcome."""

    def after(self, user: User, request: httpx.Request, response: httpx.Response, roll: float) -> None:
        """A successful answer drawn ``roll``: replay it or probe its URL (in the background)."""


_current: contextvars.ContextVar[User | None] = contextvars.ContextVar("fpt_user", default=None)


@dataclass
class RunContext:
    """What every user of one run shares: where to record, and who observes."""

    flow: str
    metrics: Metrics = field(default_factory=Metrics)
    findings: FindingLog = field(default_factory=FindingLog)
    observers: list[Observer] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)
    phase: str = ""
    owners: OwnerIndex = field(default_factory=OwnerIndex)
    #: what the checks inspected, counted as it happens (frozen into evidence at the end)
    recorder: Recorder = field(default_factory=Recorder)
    #: acknowledged writes of every user, for cross-user probes and read-back: all of them up to
    #: ``writes_cap``, then a uniform sample of that many (reservoir sampling)
    writes: list[LedgerEntry] = field(default_factory=list)
    #: acknowledged writes not kept in ``writes`` (never silently fewer: the read-back counts them)
    writes_dropped: int = 0
    writes_seen: int = 0
    writes_cap: int = WRITES_KEPT
    writes_rng: random.Random = field(default_factory=lambda: random.Random(0x5EED))
    inflight_requests: int = 0
    request_starts: int = 0
    #: seconds a whole request (head and body) may take: a slow drip is a timeout, not a hang
    request_deadline: float = REQUEST_DEADLINE
    #: how much of a streamed body is kept for the observers (the canary scan limit)
    stream_scan_limit: int = 1 << 20
    #: requests in flight: number -> (deadline, task); those past it, cancelled by the sweeper
    pending: dict[int, tuple[float, asyncio.Task[Any]]] = field(default_factory=dict)
    expired: set[int] = field(default_factory=set)
    sweeper: asyncio.Task[None] | None = None
    #: the loop the run's requests run in (asked once: asking asyncio each time costs a system call)
    loop: asyncio.AbstractEventLoop | None = None
    #: the detectors acting on a share of requests (replay, cache probe, cancellation), if any
    hunt: Hunt | None = None
    #: header the service echoes with the request's id (request/response pairing); "" is off
    request_id_header: str = ""
    #: where a user may legitimately see another user's data (declared by the squad)
    shared_steps: frozenset[str] = frozenset()
    shared_paths: tuple[re.Pattern[str], ...] = ()
    #: routes any user may read (``public_paths``): another user's data there is not a finding either
    public_paths: tuple[re.Pattern[str], ...] = ()
    #: every user of the run, by index (the detectors pick "another user" here)
    users: dict[int, User] = field(default_factory=dict)
    #: the first misuse of fpt by the flow (a reserved step name): the run stops and the test fails with it
    misuse: ConfigError | None = None
    #: findings whose label is a guess, with the request that showed them: asked again alone after
    #: the load (fpt.run.detectors.attribution)
    reasks: list[tuple[Finding, Any]] = field(default_factory=list)
    #: words naming the steps that log in (``login_steps``): their answers' token-like fields are secrets
    login_steps: tuple[str, ...] = ("login",)
    _login_step: dict[str, bool] = field(default_factory=dict)

    def is_login(self, step: str) -> bool:
        """Whether ``step`` logs in (its name holds one of ``login_steps``, in any case)."""
        known = self._login_step.get(step)
        if known is None:
            lower = step.lower()
            known = self._login_step[step] = any(w.lower() in lower for w in self.login_steps)
        return known

    async def aclose(self) -> None:
        """Stop the deadline sweeper and wait for it: no run leaves a pending task behind."""
        sweeper, self.sweeper = self.sweeper, None
        if sweeper is not None and not sweeper.done():
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)

    def declared(self, path: str) -> str:
        """``"shared"`` or ``"public"`` when the squad declared ``path`` so (in that order), else ``""``.

        Every detector asks this one question (scan, probes, replays, cache probes): a route
        declared legitimately shared is so for all of them.
        """
        if any(p.search(path) for p in self.shared_paths):
            return "shared"
        if any(p.search(path) for p in self.public_paths):
            return "public"
        return ""

    def now(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.t0

    def keep_write(self, entry: LedgerEntry) -> None:
        """Add an acknowledged write to ``writes``: kept, or in place of a random one, or counted."""
        self.writes_seen += 1
        writes = self.writes
        if len(writes) < self.writes_cap:
            writes.append(entry)
            return
        # Every write seen stays in the sample with the same chance (Algorithm R).
        self.writes_dropped += 1
        j = self.writes_rng.randrange(self.writes_seen)
        if j < len(writes):
            writes[j] = entry


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """An acknowledged write: where its owner can read it back, and what it holds."""

    kind: str
    url: str
    owner: int
    fields: dict[str, Any]
    at: float


class Ledger:
    """The acknowledged writes of one user, for read-back and cross-user probes.

    Keeps the user's most recent :data:`LEDGER_KEEP` writes in ``entries`` (``len`` counts
    those); older ones are counted in ``dropped``. The run's read-back sample
    (``RunContext.writes``) is kept apart, so a write leaving here may still be read back.
    """

    def __init__(self, owner: int, ctx: RunContext) -> None:
        self._owner = owner
        self._ctx = ctx
        self.entries: list[LedgerEntry] = []
        #: writes no longer in ``entries`` (older than the last LEDGER_KEEP)
        self.dropped = 0

    def add(self, kind: str, url: str, **fields: Any) -> LedgerEntry:
        """Record that the service acknowledged a write readable at ``url``."""
        entry = LedgerEntry(kind=kind, url=url, owner=self._owner, fields=fields, at=self._ctx.now())
        entries = self.entries
        if len(entries) >= LEDGER_KEEP:
            del entries[0]
            self.dropped += 1
        entries.append(entry)
        self._ctx.keep_write(entry)
        return entry

    @property
    def total(self) -> int:
        """Every write this user recorded, kept or not."""
        return len(self.entries) + self.dropped

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Any:
        return iter(self.entries)


class ErrorKind(StrEnum):
    """Why a request or an iteration ended without an answer: the one classification."""

    PERIMETER = "perimeter"
    TIMEOUT = "timeout"
    CONNECT = "connect"
    READ = "read"
    PROTOCOL = "protocol"
    EXCEPTION = "exception"


def error_kind(exc: BaseException) -> ErrorKind:
    """The kind of ``exc``: refused by the perimeter, a timeout, a refused connection, another transport
    error (read), or anything else (exception)."""
    if isinstance(exc, OffPerimeter):
        return ErrorKind.PERIMETER
    if isinstance(exc, ProtocolDesync):
        return ErrorKind.PROTOCOL
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return ErrorKind.CONNECT
    if isinstance(exc, httpx.TransportError):
        return ErrorKind.READ
    return ErrorKind.EXCEPTION


def _where(request: httpx.Request) -> str:
    """``GET /visits/{n}``: method and redacted path, ids folded so failures group by route."""
    return f"{request.method} {_ID.sub('/{n}', redact_url(request.url.path))}"


_ID = re.compile(r"/(?:\d+|[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{16,})(?=/|$)", re.I)


class _Cookies(httpx.Cookies):
    """``httpx.Cookies`` that skips the cookie-jar machinery for answers without Set-Cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        for triple in getattr(response.headers, "_list", None) or response.headers.raw:
            if triple[0].lower() == b"set-cookie":
                super().extract_cookies(response)
                return


_HTTPX_LOG = logging.getLogger("httpx")

#: the keyword arguments of ``AsyncClient.send`` that ``UserClient._send_direct`` handles itself
_DIRECT_KWARGS = frozenset({"stream", "auth", "follow_redirects"})

#: distinct relative URLs a user's client remembers merged with its base URL
URL_CACHE = 32


class UserClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that times, records and shows every response to observers.

    Two shortcuts keep the client's own CPU per request down (it is the load
    generator's ceiling) without changing what it does: a relative URL is merged
    with the base URL once, not parsed anew each request; and responses without
    ``Set-Cookie`` skip the standard-library cookie jar.
    """

    def __init__(self, user: User, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fpt_user = user
        self._cookies = _Cookies(self._cookies)
        self._urls: dict[str, httpx.URL] = {}
        self._urls_base = self._base_url

    @property
    def cookies(self) -> httpx.Cookies:
        """The user's cookies (its session, once logged in)."""
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._cookies = _Cookies(cookies)

    def build_request(self, method: str, url: httpx.URL | str, *, content: Any = None, data: Any = None,
                      files: Any = None, json: Any = None, params: Any = None, headers: Any = None,
                      cookies: Any = None, timeout: Any = httpx.USE_CLIENT_DEFAULT,
                      extensions: Any = None) -> httpx.Request:
        """httpx's request, built once for the common call (fpt.run.building), by httpx otherwise."""
        if building.plain(self, method, content, data, files, params, headers, cookies, timeout, extensions):
            return building.build(self, method, url, content, json)
        return super().build_request(method, url, content=content, data=data, files=files, json=json,
                                     params=params, headers=headers, cookies=cookies, timeout=timeout,
                                     extensions=extensions)

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        if not isinstance(url, str):
            return super()._merge_url(url)
        if self._urls_base is not self._base_url:  # base_url was reassigned
            self._urls.clear()
            self._urls_base = self._base_url
        merged = self._urls.get(url)
        if merged is None:
            merged = super()._merge_url(url)
            if len(self._urls) >= URL_CACHE:
                self._urls.clear()
            self._urls[url] = merged
        return merged

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """Send ``request`` as this user; record its outcome whatever happens."""
        user = self._fpt_user
        if user.parked:  # its iteration was abandoned: it sends nothing more (fpt.run.bounds)
            from fpt.run.bounds import park

            await park()
        ctx = user.ctx
        self._stamp(request)
        hunt = ctx.hunt
        # One draw decides whether this request is cancelled, replayed or probed: the others
        # pay nothing more.
        roll = hunt.random() if hunt is not None and not user.probing and ctx.phase not in NOT_LOAD else 1.0
        ctx.inflight_requests += 1
        ctx.request_starts += 1
        seq = ctx.request_starts
        busy = ctx.inflight_requests > 1
        start = time.perf_counter()
        task = _watch_deadline(ctx, seq, start)
        try:
            if (roll < 1.0 and hunt is not None and roll < hunt.cancel_below and request.method in IDEMPOTENT
                    and hunt.allow("cancel", user.current_step)):
                response = await self._cut_then_send(hunt, request, kwargs)
            else:
                response = await self._send_direct(request, kwargs)
        except asyncio.CancelledError:
            if seq not in ctx.expired:
                # Abandoned (the flow's own timeout, or the grace ran out): no answer came, an
                # error even when the flow swallows the cancellation.
                user._request_done(start, "cancelled", 0, why=("cancelled", _where(request)))
                raise
            raise self._expired(request, start, seq, task) from None
        except Exception as exc:
            self._failed(request, start, exc)
            raise
        finally:
            ctx.inflight_requests -= 1
            ctx.pending.pop(seq, None)
        # Another request began or was in flight while this one ran: the answer came under
        # concurrency (what separates a concurrency bug from a cache or an authorization one).
        concurrent = busy or ctx.request_starts != seq
        stream = kwargs.get("stream")
        tally, ok = self._record_answer(request, response, start, concurrent, counted=not stream)
        self._show(request, response, tally, ok, roll, streamed=bool(stream))
        return response

    def _stamp(self, request: httpx.Request) -> None:
        """Name the request (an id the service can log) and note its credentials for redaction."""
        user = self._fpt_user
        user._requests += 1
        index = user.identity.index
        # An id the service can log, so a finding can be matched to its server-side trace.
        rid = f"{index}-{user._requests}"
        headers = request.headers
        headers["x-fpt-request"] = rid
        user.last_request = request
        note_request(request, index)  # its credentials are scrubbed from whatever fpt reports
        rid_header = user.ctx.request_id_header
        if rid_header:
            headers[rid_header] = rid

    def _expired(self, request: httpx.Request, start: float, seq: int, task: asyncio.Task[Any] | None
                 ) -> httpx.ReadTimeout:
        """The sweeper cancelled the request at its deadline: record a timeout and say so to the flow."""
        user = self._fpt_user
        ctx = user.ctx
        ctx.expired.discard(seq)
        if task is not None:
            task.uncancel()
        user._request_done(start, "timeout", 0, why=("timeout", f"{_where(request)}: no whole answer "
                                                           f"within {ctx.request_deadline:g}s"))
        return httpx.ReadTimeout(f"no whole answer within the request deadline of "
                                 f"{ctx.request_deadline:g}s", request=request)

    def _failed(self, request: httpx.Request, start: float, exc: Exception) -> None:
        """Record a request that raised (the caller re-raises it)."""
        user = self._fpt_user
        if isinstance(exc, OffPerimeter):
            # Nothing was sent: a finding naming the host, whichever path asked (flow, redirect,
            # probe, read-back).
            user._request_done(start, "perimeter", 0, why=("OffPerimeter", _where(request)))
            user.fail("perimeter", str(exc), method=request.method, path=redact_url(request.url.path),
                      evidence={"host": exc.host})
            return
        user._request_done(start, error_kind(exc), 0,
                           why=(type(exc).__name__, f"{_where(request)}: {exc}"[:200]))
        user.ctx.metrics.endpoint(request.method, request.url.path, (time.perf_counter() - start) * 1e6,
                                  error_kind(exc))

    def _record_answer(self, request: httpx.Request, response: httpx.Response, start: float,
                       concurrent: bool, *, counted: bool) -> tuple[StepTally, bool]:
        """Time, count and tally an answer (its overlap with other users' under load); whether it is ok."""
        user = self._fpt_user
        ctx = user.ctx
        end = time.perf_counter()
        user.last_concurrent = concurrent
        # Every transport hands each response its own extensions dict: add to it, no copy.
        ext = response.extensions
        ext["fpt.concurrent"] = concurrent
        ext["fpt.step"] = user.current_step
        nbytes = len(response.content) if counted else 0
        ok = user._status_ok(response.status_code)
        if not ok:
            user.last_error = f"{request.method} {request.url.path} answered {response.status_code}"
        user._request_done(start, None if ok else "status", nbytes, end,
                           why=None if ok else (f"HTTP {response.status_code}", _where(request)))
        ctx.metrics.endpoint(request.method, request.url.path, (end - start) * 1e6, None if ok else "status")
        tally = ctx.recorder.tally(user.current_step)
        tally.responses += 1
        if ok:
            tally.ok += 1
            if not user.probing:
                user.last_ok = request
                if request.method == "GET":
                    user.last_ok_get = request
                if ctx.phase not in NOT_LOAD:
                    tally.load_ok += 1
                    tally.overlap.add(start, end, user.identity.index)
        user._tally, user._tally_ok = tally, ok
        return tally, ok

    def _show(self, request: httpx.Request, response: httpx.Response, tally: StepTally, ok: bool,
              roll: float, *, streamed: bool) -> None:
        """Show the answer to the pairing check, the login-secret learner, the observers (scans) and the
        hunting detectors."""
        user = self._fpt_user
        ctx = user.ctx
        if ctx.request_id_header:
            self._pair(request, response, ctx.request_id_header)
        if streamed:
            if ctx.observers:
                response.stream = _ObservedStream(response, user, tally, ok)
            return
        if ctx.is_login(user.current_step) or user.sent_password(request):
            _learn_login_answer(response)
        for observe in ctx.observers:
            observe(user, request, response)
        hunt = ctx.hunt
        if roll < 1.0 and ok and hunt is not None and roll < hunt.after_below:
            hunt.after(user, request, response, roll)

    async def _send_direct(self, request: httpx.Request, kwargs: dict[str, Any]) -> httpx.Response:
        """``AsyncClient.send`` for the common request: no auth, no hooks, redirects not followed.

        What httpx does for it, without the auth flow, the redirect loop and four nested async
        generators to read a body that came whole with its head (this is the load generator's
        hot path): the transport's answer, the request on it, cookies kept, a redirect's
        ``next_request`` set, ``elapsed`` set, the body read (decoded by httpx when it is
        encoded or streamed). Anything else goes through httpx itself.
        """
        auth = kwargs.get("auth", httpx.USE_CLIENT_DEFAULT)
        follow = kwargs.get("follow_redirects", httpx.USE_CLIENT_DEFAULT)
        if isinstance(auth, httpx._client.UseClientDefault):
            auth = self._auth
        if isinstance(follow, httpx._client.UseClientDefault):
            follow = self.follow_redirects
        hooks = self._event_hooks
        if (auth is not None or follow or hooks["request"] or hooks["response"]
                or not _DIRECT_KWARGS.issuperset(kwargs)):
            return await super().send(request, **kwargs)
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        self._state = httpx._client.ClientState.OPENED
        self._set_timeout(request)
        transport = self._transport_for_url(request.url)
        start = time.perf_counter()
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:  # as httpx's request_context: the error names its request
            exc.request = request
            raise
        response.request = request
        self._cookies.extract_cookies(response)
        response.default_encoding = self._default_encoding
        if _HTTPX_LOG.isEnabledFor(logging.INFO):  # httpx's own request line, for squads that turn it on
            _HTTPX_LOG.info('HTTP Request: %s %s "%s %d %s"', request.method, request.url,
                            response.http_version, response.status_code, response.reason_phrase)
        if response.has_redirect_location:
            response.next_request = self._build_redirect_request(request, response)
        inner = response.stream
        if (not kwargs.get("stream") and type(inner) is httpx.ByteStream
                and "content-encoding" not in response.headers):
            # Whole and not encoded: its bytes are the content (what aread would join).
            content = inner._stream
            response._content = content
            response._num_bytes_downloaded = len(content)
            response.is_stream_consumed = response.is_closed = True
            response.elapsed = datetime.timedelta(seconds=time.perf_counter() - start)
            return response
        response.stream = httpx._client.BoundAsyncStream(inner, response=response, start=start)  # type: ignore[arg-type]
        if kwargs.get("stream"):
            return response
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

    async def _cut_then_send(self, hunt: Hunt, request: httpx.Request,
                             kwargs: dict[str, Any]) -> httpx.Response:
        """Give up on ``request`` at a random point after sending it, then send it again.

        Only idempotent requests get here, so the second attempt changes nothing the flow
        did; the flow sees the second answer. What a service leaves behind from the first
        (a reply still queued on a shared connection) shows on the next users' answers.
        """
        try:
            async with asyncio.timeout(hunt.cut_delay(self._fpt_user)):
                response = await super().send(request, **kwargs)
        except TimeoutError:
            hunt.cut("cancelled")
        else:
            hunt.cut("answered_first")
            return response
        try:
            response = await super().send(request, **kwargs)
        except BaseException:
            hunt.cut("retry_failed")
            raise
        hunt.cut("retried_ok")
        return response

    def _pair(self, request: httpx.Request, response: httpx.Response, header: str) -> None:
        """Request/response pairing: an answer carrying another request's id is a swap."""
        user = self._fpt_user
        counts = user.ctx.recorder.pairing
        echoed = response.headers.get(header)
        if echoed is None:
            counts["missing"] = counts.get("missing", 0) + 1
            return
        counts["checked"] = counts.get("checked", 0) + 1
        sent = request.headers.get(header, "")
        if echoed != sent:
            counts["mismatched"] = counts.get("mismatched", 0) + 1
            owner = echoed.split("-", 1)[0]
            other = f"user#{owner}" if owner.isdigit() and int(owner) != user.index else "another request"
            user.fail("data_swap", f"the answer carries the id of another request ({header} {echoed!r}, "
                      f"sent {sent!r})", other_user=other, method=request.method,
                      path=redact_url(request.url.path), request_id=sent,
                      concurrent=bool(response.extensions.get("fpt.concurrent")),
                      evidence={"sent": sent, "echoed": echoed, "header": header})

    async def raw(self, method: str, url: httpx.URL, *, headers: dict[str, str],
                  content: bytes | None = None) -> httpx.Response:
        """Send a harness request over this user's transport: no cookie jar, no metrics, no observers.

        The detectors use it to ask as someone else (or as nobody) without touching the
        flow's cookies, timings or iteration outcome. It counts as a request in flight, so
        the flow's answers that overlap it are marked concurrent, as they were.
        """
        ctx = self._fpt_user.ctx
        request = httpx.Request(method, url, headers=headers, content=content)
        transport = self._transport_for_url(request.url)
        ctx.inflight_requests += 1
        ctx.request_starts += 1
        seq, busy = ctx.request_starts, ctx.inflight_requests > 1
        try:
            async with asyncio.timeout(ctx.request_deadline):
                response = await transport.handle_async_request(request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise httpx.ReadTimeout("no whole answer within the request deadline", request=request) from None
        finally:
            ctx.inflight_requests -= 1
        response.request = request
        response.extensions = {**response.extensions,
                               "fpt.concurrent": busy or ctx.request_starts != seq}
        return response


def _watch_deadline(ctx: RunContext, seq: int, start: float) -> asyncio.Task[Any] | None:
    """Put request ``seq`` under the whole-request deadline; the task the sweeper will cancel.

    One sweeper per run rather than a timer per request (this is the load generator's hot path):
    a slow drip becomes a timeout, not a hang. The loop is passed: without it, asyncio asks the
    OS for the process id on every call.
    """
    task = asyncio.current_task(ctx.loop) if ctx.loop is not None else None
    if task is None:
        ctx.loop = asyncio.get_running_loop()
        task = asyncio.current_task(ctx.loop)
    if task is not None:
        ctx.pending[seq] = (start + ctx.request_deadline, task)
        if ctx.sweeper is None:
            ctx.sweeper = task.get_loop().create_task(_sweep(ctx))
    return task


SWEEP_EVERY = 0.25
"""Seconds between two looks for requests past their deadline."""


async def _sweep(ctx: RunContext) -> None:
    """Cancel requests past the whole-request deadline (``send`` turns that into a timeout).

    Ends by itself after a few idle seconds (the next request starts it again), so no run
    leaves it behind.
    """
    idle = 0
    try:
        while idle < 8:
            await asyncio.sleep(SWEEP_EVERY)
            if not ctx.pending:
                idle += 1
                continue
            idle = 0
            now = time.perf_counter()
            for seq, (due, task) in list(ctx.pending.items()):
                if now > due:
                    del ctx.pending[seq]
                    ctx.expired.add(seq)
                    task.cancel()
    finally:
        ctx.sweeper = None


class _ObservedStream(httpx.AsyncByteStream):
    """A streamed body passed through to the flow; what it read is shown to the observers at close."""

    def __init__(self, response: httpx.Response, user: User, tally: StepTally, ok: bool) -> None:
        self._response = response
        self._inner = response.stream
        self._user = user
        self._tally = tally
        self._ok = ok
        self._step = user.current_step
        self._shared = user._shared
        self._kept: list[bytes] = []
        self._room = user.ctx.stream_scan_limit
        #: bytes read past the scan limit: not scanned, and counted so (the answer was not seen whole)
        self._past = 0
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._inner, httpx.AsyncByteStream)
        async for chunk in self._inner:
            if self._room > 0:
                self._kept.append(chunk[: self._room])
                if len(chunk) > self._room:
                    self._past += len(chunk) - self._room
                self._room -= len(chunk)
            else:
                self._past += len(chunk)
            yield chunk
        self._observe()

    async def aclose(self) -> None:
        assert isinstance(self._inner, httpx.AsyncByteStream)
        await self._inner.aclose()
        self._observe()

    def _observe(self) -> None:
        if self._done or not self._kept:
            return
        self._done = True
        r = self._response
        seen = httpx.Response(r.status_code, headers=r.headers, content=b"".join(self._kept),
                              request=r.request,
                              extensions={"fpt.streamed": True, "fpt.unscanned": self._past,
                                          "fpt.concurrent": r.extensions.get("fpt.concurrent")})
        user = self._user
        prev, user.current_step = user.current_step, self._step
        prev_shared, user._shared = user._shared, self._shared
        user._tally, user._tally_ok = self._tally, self._ok
        try:
            for observe in user.ctx.observers:
                observe(user, r.request, seen)
        finally:
            user.current_step, user._shared = prev, prev_shared


class _Step:
    """``async with user.step(name)``: one named transaction, timed as a whole."""

    __slots__ = ("_expect", "_prev_expect", "_prev_name", "_prev_shared", "_shared", "_start", "_user",
                 "name")

    def __init__(self, user: User, name: str, expect: Collection[int] | None, shared: bool = False) -> None:
        self._user = user
        self.name = name
        self._expect = expect
        self._shared = shared

    async def __aenter__(self) -> _Step:
        u = self._user
        self._prev_name, self._prev_expect, self._prev_shared = u.current_step, u._expect, u._shared
        u.current_step, u._expect = self.name, self._expect
        u._shared = self._shared or self.name in u.ctx.shared_steps
        u._step_error = None
        self._start = time.perf_counter()
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        u = self._user
        end = time.perf_counter()
        error = u._step_error
        if exc is not None:
            u.raised_in = u.raised_in or self.name
            if error is None:
                error = error_kind(exc)
        u.ctx.metrics.step(self.name, end - u.ctx.t0, (end - self._start) * 1e6, error)
        if error:
            u._iteration_error = u._iteration_error or error
        u.current_step, u._expect, u._shared = self._prev_name, self._prev_expect, self._prev_shared
        u._step_error = None


class User:
    """One virtual user: a synthetic identity with its own client, state and ledger."""

    #: set when an iteration of this user refused to stop and was abandoned: its requests
    #: then wait forever instead of reaching the service (fpt.run.bounds)
    parked = False

    def __init__(self, identity: Identity, ctx: RunContext, **client_kwargs: Any) -> None:
        self.identity = identity
        self.ctx = ctx
        register(identity.password)  # scrubbed from whatever fpt reports
        self._password = identity.password.encode()
        ctx.owners.add(identity)
        ctx.users[identity.index] = self
        self.state: dict[str, Any] = {}
        self.ledger = Ledger(identity.index, ctx)
        self.current_step = NO_STEP
        self.iterations = 0
        self._expect: Collection[int] | None = None
        self._step_error: str | None = None
        self._iteration_error: str | None = None
        self._requests = 0
        #: the innermost step an exception escaped from, and the last unexpected status
        self.raised_in: str | None = None
        self.last_error: str | None = None
        self.last_request: httpx.Request | None = None
        #: the last request that succeeded (its headers carry the credentials the flow used),
        #: and the last successful GET (re-sent as the control of a cross-user probe)
        self.last_ok: httpx.Request | None = None
        self.last_ok_get: httpx.Request | None = None
        #: whether the last answer came while another request was in flight
        self.last_concurrent = False
        self._tally: StepTally | None = None
        self._tally_ok = False
        #: True while the harness probes another user's data as this user
        self.probing = False
        #: True inside a step declared shared (``user.step(name, shared=True)`` or ``shared_steps``)
        self._shared = False
        #: seconds the last request took (a cancellation cuts within it)
        self.last_latency = 0.0
        self.http: httpx.AsyncClient = UserClient(self, **client_kwargs)

    @property
    def index(self) -> int:
        """The user's index in the run's pool."""
        return self.identity.index

    def step(self, name: str, *, expect_status: Collection[int] | None = None, shared: bool = False) -> _Step:
        """A named transaction; ``expect_status`` lists the statuses that are not errors here.

        ``shared=True`` declares that other users' data may legitimately appear in its answers
        (a message another member sent, a public post): foreign canaries there are not findings.
        Names starting with ``fpt.`` are fpt's own (its checks judge those steps apart), and so
        are :data:`RESERVED_STEPS`: refused.
        """
        if name.startswith(HARNESS_STEP_PREFIX) or name in RESERVED_STEPS:
            error = ConfigError("step", name, f"not start with {HARNESS_STEP_PREFIX!r} (kept for fpt's own "
                                "steps such as fpt.probe and fpt.readback) nor be one of "
                                f"{', '.join(sorted(RESERVED_STEPS))}; any other name is allowed")
            # Kept on the run, so a flow that catches every exception still fails the test with it.
            self.ctx.misuse = self.ctx.misuse or error
            raise error
        return _Step(self, name, expect_status, shared)

    def ws(self, url: str | httpx.URL, *, headers: dict[str, str] | None = None, params: Any = None,
           subprotocols: list[str] | None = None) -> contextlib.AbstractAsyncContextManager[WebSocket]:
        """``async with user.ws("/notices") as ws``: a WebSocket channel as this user, every message scanned.

        The handshake is one of the user's requests (cookies, headers, request id, perimeter);
        each message received is timed (in the current step, or as a step ``ws /path``) and
        shown to the scans like a body (:mod:`fpt.run.websocket`).
        """
        from fpt.run.websocket import connect  # httpx-ws is imported only by flows that open a channel

        return connect(self, url, headers=headers, params=params, subprotocols=subprotocols)

    def _harness_step(self, name: str, *, expect_status: Collection[int] | None = None) -> _Step:
        """A step of fpt's own checks (``fpt.probe``, ``fpt.readback``): the only way to an ``fpt.`` name."""
        assert name.startswith(HARNESS_STEP_PREFIX), name
        return _Step(self, name, expect_status, False)

    def sees_shared(self, path: str, step: str | None = None) -> bool:
        """Whether another user's data may legitimately appear at ``path`` in ``step`` (default: now)."""
        if step is None:
            if self._shared:
                return True
        elif step in self.ctx.shared_steps:
            return True
        return bool(self.ctx.declared(path))

    def check(self, condition: object, message: str) -> bool:
        """Count a functional failure when ``condition`` is false; never raises."""
        if condition:
            return True
        self.fail("functional", message)
        return False

    def expect_owner(self, response_or_json: httpx.Response | Any, *paths: str,
                     **fields: Any) -> bool:
        """Data-swap check: the named fields must hold this user's values.

        ``paths`` are dotted paths compared with the identity field of the same last
        name (``"member.email"`` against ``identity.email``); keyword fields give the
        expected value (``member__email=...`` for nested paths). A mismatch is a
        ``data_swap`` finding naming whose data came back; a body that is not JSON or
        lacks a field is a functional failure.
        """
        expected: dict[str, Any] = {}
        for path in paths:
            attr = path.rsplit(".", 1)[-1]
            if not hasattr(self.identity, attr):
                raise TypeError(f"expect_owner: identity has no field {attr!r} (from {path!r})")
            expected[path] = getattr(self.identity, attr)
        for name, value in fields.items():
            expected[name.replace("__", ".")] = value
        if not expected:
            expected["email"] = self.identity.email
        method = path_ = rid = ""
        if isinstance(response_or_json, httpx.Response):
            request: httpx.Request | None = response_or_json.request
            concurrent = bool(response_or_json.extensions.get("fpt.concurrent", self.last_concurrent))
            ok = 200 <= response_or_json.status_code < 300
            step = response_or_json.extensions.get("fpt.step", self.current_step)
            try:
                doc = response_or_json.json()
            except ValueError:
                self.fail("functional", "expect_owner: response is not JSON",
                          method=response_or_json.request.method,
                          path=redact_url(response_or_json.request.url.path),
                          evidence={"status": response_or_json.status_code})
                return False
        else:
            doc = response_or_json
            request = self.last_request  # a part of the last response, e.g. a list item
            concurrent, ok, step = self.last_concurrent, self._tally_ok, self.current_step
        if request is not None:
            method, path_ = request.method, redact_url(request.url.path)
            rid = request.headers.get("x-fpt-request", "")
        if ok:
            self.ctx.recorder.tally(step).owner_checked += 1
        mismatches = compare(doc, expected)
        missing = [m.path for m in mismatches if m.missing]
        wrong = [m for m in mismatches if not m.missing]
        if missing:
            self.fail("functional", f"expect_owner: field{'s' if len(missing) > 1 else ''} "
                      f"{', '.join(map(repr, missing))} missing from the response", method=method, path=path_)
        if wrong:
            # One finding per response, whatever the number of fields that show it.
            owners = [self.ctx.owners.owner_of(m.found) for m in wrong]
            owner = next((o for o in owners if o), "")
            verb = "belongs" if len(wrong) == 1 else "belong"
            self.fail("data_swap", f"{', '.join(m.path for m in wrong)} {verb} to {owner or 'someone else'}",
                      other_user=owner or "unknown", method=method,
                      path=path_, request_id=rid, concurrent=concurrent,
                      reask=(request, owner),
                      evidence={"fields": [m.path for m in wrong],
                                "expected": [mask(m.expected) for m in wrong],
                                "found": [mask(m.found) for m in wrong],
                                # equal masks ("M***") of different values tell apart by these
                                "expected_fp": [fingerprint(m.expected) for m in wrong],
                                "found_fp": [fingerprint(m.found) for m in wrong]})
        return not mismatches

    def sent_password(self, request: httpx.Request) -> bool:
        """Whether ``request`` carried this user's password (it logs in: its answer holds credentials)."""
        content = getattr(request, "_content", None)
        return bool(content) and self._password in content  # type: ignore[operator]

    def fail(self, kind: str, message: str, **details: Any) -> None:
        """Record a finding for this user in the current step."""
        self._step_error = self._step_error or "check"
        self._iteration_error = self._iteration_error or "check"
        step = details.pop("step", None) or self.current_step
        reask: tuple[httpx.Request | None, Identity | str] | None = details.pop("reask", None)
        finding = Finding(kind=kind, message=scrub(message), flow=self.ctx.flow, step=step,
                          user=self.identity.label, at=round(self.ctx.now(), 3), phase=self.ctx.phase,
                          **details)
        self.ctx.findings.add(finding)
        if reask is not None:
            from fpt.run.detectors.attribution import note

            note(self.ctx, finding, self, *reask)

    def _status_ok(self, status: int) -> bool:
        if self._expect is not None:
            return status in self._expect
        return status < 400

    def _request_done(self, start: float, error: str | None, nbytes: int, end: float = 0.0,
                      why: tuple[str, str] | None = None) -> None:
        end = end or time.perf_counter()
        self.last_latency = end - start
        self.ctx.metrics.request(end - self.ctx.t0, (end - start) * 1e6, error, nbytes)
        if error:
            if why is not None:  # (status or exception, message): the report's failures table
                self.ctx.metrics.failure(self.current_step, why[0], why[1], round(end - self.ctx.t0, 3))
            self._step_error = self._step_error or error
            if self.current_step == NO_STEP:
                self._iteration_error = self._iteration_error or error

    async def aclose(self) -> None:
        """Close the user's client and its connections."""
        await self.http.aclose()


def current_user() -> User | None:
    """The user whose iteration is running in this task, if any (the process perimeter names it)."""
    return _current.get()


def set_current(user: User | None) -> contextvars.Token[User | None]:
    """Make ``user`` current for this task (the runner does this per iteration)."""
    return _current.set(user)


def reset_current(token: contextvars.Token[User | None]) -> None:
    """Undo :func:`set_current`."""
    _current.reset(token)


def _learn_login_answer(response: httpx.Response) -> None:
    """A login answer's token-like fields and new cookies are secrets (scrubbed from every output)."""
    for value in response.headers.get_list("set-cookie"):
        name, _, cookie = value.partition(";")[0].partition("=")
        if SECRET_NAME.search(name) or looks_secret(cookie):
            register(cookie)
    if "json" in response.headers.get("content-type", ""):
        try:
            learn_fields(response.json())
        except ValueError:
            pass


_UNAWAITED = re.compile(r"coroutine '([^']+)' was never awaited")


@contextlib.contextmanager
def unawaited_as_findings() -> Iterator[None]:
    """While a run lasts, a coroutine a flow made and never awaited is a functional finding.

    Python says so with a ``RuntimeWarning`` when the coroutine is dropped, which happens in
    the flow's own task (so the current user and step are known): here it is counted as a
    finding of that step instead of a line in the warnings summary of a green run (or, under
    ``-W error``, an exception nobody can catch). Outside a flow the warning goes on as usual.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("always", message=r"coroutine .* was never awaited", category=RuntimeWarning)
        previous = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
            found = _UNAWAITED.search(str(message)) if issubclass(category, RuntimeWarning) else None
            user = _current.get() if found is not None else None
            if user is None or found is None:
                previous(message, category, filename, lineno, file, line)
                return
            user.fail("functional", f"coroutine {found.group(1)} was never awaited (a missing await: what it "
                      "would have done was not done)")

        warnings.showwarning = show
        yield


def check(condition: object, message: str) -> bool:
    """Functional check inside a flow: counted, not raised; outside a flow it asserts."""
    user = _current.get()
    if user is None:
        if not condition:
            raise AssertionError(message)
        return True
    return user.check(condition, message)
