"""Virtual users: identity, own HTTP client, steps, state, ledger, checks.

Every user has its own ``httpx.AsyncClient`` (own cookie jar, own headers, own
connections), so fpt itself can never mix two users up. Each request is timed and
recorded with the step it ran in; response observers (the data-swap scanners)
see every response. The client is :mod:`fpt.run.client`; the run's shared state
(context, ledger, error kinds) is :mod:`fpt.run.context`.
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from collections.abc import Collection, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from fpt.config.errors import ConfigError
from fpt.config.redact import (
    fingerprint,
    mask,
    register,
    scrub,
)
from fpt.config.redact import url as redact_url
from fpt.evidence.checks import HARNESS_STEP_PREFIX
from fpt.evidence.findings import Finding
from fpt.run.client import UserClient
from fpt.run.context import NO_STEP, RESERVED_STEPS, Ledger, RunContext, error_kind
from fpt.run.current import current_user
from fpt.run.detectors.ownership import compare
from fpt.run.identity import Identity
from fpt.run.recorder import StepTally

if TYPE_CHECKING:
    from fpt.run.websocket import WebSocket


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
            user = current_user() if found is not None else None
            if user is None or found is None:
                previous(message, category, filename, lineno, file, line)
                return
            user.fail("functional", f"coroutine {found.group(1)} was never awaited (a missing await: what it "
                      "would have done was not done)")

        warnings.showwarning = show
        yield


def check(condition: object, message: str) -> bool:
    """Functional check inside a flow: counted, not raised; outside a flow it asserts."""
    user = current_user()
    if user is None:
        if not condition:
            raise AssertionError(message)
        return True
    return user.check(condition, message)
