"""A user's own HTTP client: every request stamped, timed, recorded, bounded by the request deadline, and
every answer shown to the observers (the scans) and the hunting detectors."""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from fpt.config.redact import (
    SECRET_NAME,
    learn_fields,
    looks_secret,
    note_request,
    register,
)
from fpt.config.redact import url as redact_url
from fpt.run import building
from fpt.run.context import IDEMPOTENT, NOT_LOAD, Hunt, RunContext, error_kind
from fpt.run.perimeter import OffPerimeter
from fpt.run.recorder import StepTally

if TYPE_CHECKING:
    from fpt.run.user import User


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


