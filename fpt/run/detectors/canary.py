"""Foreign-canary scan: every body a user receives, searched for other users' canaries.

All canaries share one shape, so a single regex pass finds every candidate and a
dict lookup names its owner: the cost per body does not depend on how many users
the run has.

Matching ignores case: a service that renders what it returns in upper (or title)
case must not hide another user's canary. Canaries are made in lower case, so the
body is lowered once (a C loop, cheaper than the regex pass) and searched as before;
what is found is a canary as made, named by the same dict lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

from fpt.config.redact import url as redact_url
from fpt.evidence.checks import ScanEvidence
from fpt.run.identity import CANARY_RE, OwnerIndex
from fpt.run.user import User

_CANARY_BYTES = re.compile(CANARY_RE.pattern.encode())
DEFAULT_LIMIT = 1 << 20


def find_canaries(body: bytes) -> list[str]:
    """Every canary-shaped token in ``body``, in any case (in order, duplicates kept, in lower case)."""
    return _find_lowered(body.lower())


def _find_lowered(low: bytes) -> list[str]:
    # No substring test first: the regex's own literal-prefix search is faster than ``in`` here.
    return [m.decode() for m in _CANARY_BYTES.findall(low)]


def carries(body: bytes, values: Iterable[str]) -> list[str]:
    """Which of ``values`` ``body`` holds, in any case (each value as given, in order)."""
    low = body.lower()
    return [v for v in values if v and v.lower().encode() in low]


class CanaryScanner:
    """An observer: a finding for each foreign canary a user receives."""

    def __init__(self, owners: OwnerIndex, *, limit: int = DEFAULT_LIMIT) -> None:
        self.owners = owners
        self.limit = limit
        self.bodies = 0
        self.bytes = 0
        self.skipped_bytes = 0
        self.truncated = 0
        self.streamed = 0
        self.shared = 0

    def __call__(self, user: User, request: httpx.Request, response: httpx.Response) -> None:
        """Scan one response: the body up to the limit, and every header."""
        if user.probing:  # a probe's leak is judged (once) as a cross_user finding
            return
        body = response.content
        truncated = len(body) > self.limit
        if truncated:
            self.truncated += 1
            self.skipped_bytes += len(body) - self.limit
            body = body[: self.limit]
        self.bodies += 1
        self.bytes += len(body)
        if response.extensions.get("fpt.streamed"):
            self.streamed += 1
        low = body.lower()
        found = _find_lowered(low)
        # Any header can carry another user's data. httpx keeps (raw, lower, value) triples: read
        # them without the list ``headers.raw`` builds on every call (this runs per response), and
        # lower them all at once (a newline between two values: no canary spans it).
        values = b"\n".join([t[-1] for t in getattr(response.headers, "_list", None) or response.headers.raw])
        found.extend(_find_lowered(values.lower()))
        mine = user.identity.canary.lower()  # made in lower case; an Identity built by hand may not be
        # Inspected only where a swap could have shown: a whole answer that carried this user's
        # own data (its canary), so another user's would have been seen in its place.
        if user._tally is not None and user._tally_ok and not truncated and mine in found:
            user._tally.scanned += 1
        if not found:
            return
        foreign = [t for t in dict.fromkeys(found) if t != mine]
        if not foreign:
            return
        if user.sees_shared(request.url.path):
            self.shared += 1  # declared legitimate (a message another member sent, a public post)
            return
        # One finding per response, naming every owner whose canary it carried.
        owners = [self.owners.owner_of(t) or f"unknown ({t[:12]}…)" for t in foreign]
        user.fail(
            "foreign_canary",
            f"response carries the canary of {', '.join(dict.fromkeys(owners))}",
            other_user=owners[0], method=request.method, path=redact_url(request.url.path),
            request_id=request.headers.get("x-fpt-request", ""),
            concurrent=bool(response.extensions.get("fpt.concurrent")),
            reask=(request, owners[0]),
            evidence={"canaries": foreign, "status": response.status_code,
                      "where": ["header" if t.encode() not in low else "body" for t in foreign]},
        )

    def evidence(self) -> ScanEvidence:
        """What was scanned, for the run's evidence."""
        return ScanEvidence(enabled=True, bodies=self.bodies, bytes=self.bytes, truncated=self.truncated,
                            skipped_bytes=self.skipped_bytes, streamed=self.streamed,
                            shared=self.shared)
