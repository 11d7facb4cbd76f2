"""A run's shared state while it lasts: the context every user and detector reads, the ledger of writes,
and the one classifier of error kinds."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from fpt.config.errors import ConfigError
from fpt.evidence.findings import Finding, FindingLog
from fpt.evidence.metrics import Metrics
from fpt.run.identity import OwnerIndex
from fpt.run.perimeter import OffPerimeter
from fpt.run.recorder import Recorder
from fpt.run.transport.errors import ProtocolDesync

if TYPE_CHECKING:
    from fpt.run.user import User

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


