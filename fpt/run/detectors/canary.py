"""Foreign-canary scan: every body a user receives, searched for other users' canaries.

All canaries share one shape, so a single regex pass finds every candidate and a
dict lookup names its owner: the cost per body does not depend on how many users
the run has.

Matching ignores case: a service that renders what it returns in upper (or title)
case must not hide another user's canary. Canaries are made in lower case, so the
body is lowered once (a C loop, cheaper than the regex pass) and searched as before;
what is found is a canary as made, named by the same dict lookup.

Every byte a user receives is scanned, or counted as not scanned:

- a body in another encoding is decoded first: by its BOM (UTF-8/16/32), its declared
  ``charset``, or, for UTF-16/32 without either, by the NULs in its first four bytes (as
  RFC 4627 detects JSON's encoding); JSON ``\\uXXXX`` escapes are resolved. A body in UTF-8
  (or ASCII) is scanned as it came, with no copy: the check is two byte comparisons and a
  substring search;
- what lies past ``scan_limit`` (a large body, or a stream read past it) is counted as
  truncated, with its bytes: the answer was not seen whole, so it inspected nothing, and the
  data-swap items cannot pass on the run (``fpt.judge.dod``).

The same pass looks for other users' personal data (:mod:`fpt.run.detectors.personal`).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

import httpx

from fpt.config.redact import url as redact_url
from fpt.evidence.checks import ScanEvidence
from fpt.run.detectors.personal import STRONG, PersonalIndex, split
from fpt.run.identity import CANARY_RE, OwnerIndex

if TYPE_CHECKING:
    from fpt.run.user import User

_CANARY_BYTES = re.compile(CANARY_RE.pattern.encode())
DEFAULT_LIMIT = 1 << 20
#: charsets in which every ASCII character is its own byte: the canary and identity values read as sent
_ASCII_SAFE = frozenset({"utf-8", "ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"})
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_BOM_FIRST = (b"\xff", b"\xfe", b"\x00")
_JSON_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.I)


def encoding_of(body: bytes, content_type: str) -> str | None:
    """The codec ``body`` must be decoded with before a byte scan sees its text; None when as it is."""
    head = body[:4]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:3] == b"\x00\x00\xfe":
        for bom, codec in _BOMS:
            if head.startswith(bom):
                return codec
    if "charset" in content_type.lower():
        m = _CHARSET.search(content_type)
        if m is not None:
            try:
                name = codecs.lookup(m.group(1)).name
            except LookupError:
                name = "utf-8"  # a charset nobody knows: read as bytes, as before
            if name not in _ASCII_SAFE:
                return name
    if b"\x00" in head and len(head) == 4:
        # JSON's own detection (RFC 4627 section 3): where the NULs of the first two characters are.
        if head[:3] == b"\x00\x00\x00":
            return "utf-32-be"
        if head[1:4] == b"\x00\x00\x00":
            return "utf-32-le"
        if head[0] == 0 and head[2] == 0:
            return "utf-16-be"
        if head[1] == 0 and head[3] == 0:
            return "utf-16-le"
    return None


def readable(body: bytes, content_type: str = "") -> bytes:
    """``body`` as the bytes of its text in UTF-8, JSON escapes resolved (``body`` itself when it is so)."""
    # A BOM starts with \xff, \xfe or \x00 (UTF-8's changes nothing); UTF-16/32 without one has a
    # NUL in its first four bytes: any other body needs no decoding unless a charset is declared.
    codec = (encoding_of(body, content_type)
             if content_type or body[:1] in _BOM_FIRST or b"\x00" in body[:4] else None)
    if codec is not None:
        body = body.decode(codec, "replace").encode("utf-8", "replace")
    if b"\\u" in body:
        body = _JSON_ESCAPE.sub(_unescape, body)
    return body


def _unescape(m: re.Match[bytes]) -> bytes:
    return chr(int(m.group(1), 16)).encode("utf-8", "replace")


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


def sent_by(request: httpx.Request | None) -> bytes:
    """What the asker itself sent, lowered: its path and query (percent-decoded too) and its body.

    A value found here and in the answer is an echo of the question, not the owner's data.
    """
    if request is None:
        return b""
    target = request.url.raw_path
    try:
        content = request.content
    except httpx.RequestNotRead:  # a streamed body: its bytes are gone, nothing of it is discounted
        content = b""
    return b"\n".join((target, unquote_to_bytes(target), content)).lower()


def not_echoed(values: list[str], sent: bytes) -> list[str]:
    """``values`` less those the asker sent itself (see :func:`sent_by`)."""
    if not sent:
        return values
    return [v for v in values if v.lower().encode() not in sent]


class CanaryScanner:
    """An observer: a finding for each answer that carries another user's canary or personal data."""

    def __init__(self, owners: OwnerIndex, *, limit: int = DEFAULT_LIMIT, personal: bool = True) -> None:
        self.owners = owners
        self.limit = limit
        self.personal = PersonalIndex(owners) if personal else None
        self.bodies = 0
        self.bytes = 0
        self.skipped_bytes = 0
        self.truncated = 0
        self.streamed = 0
        self.shared = 0
        self.decoded = 0
        self.unproven = 0

    def __call__(self, user: User, request: httpx.Request, response: httpx.Response) -> None:
        """Scan one response: the body up to the limit (decoded), and every header."""
        if user.probing:  # a probe's leak is judged (once) as a cross_user finding
            return
        body = response.content
        ext = response.extensions
        # A stream keeps only its first ``limit`` bytes for the scan and says how many it read past them.
        skipped = max(0, len(body) - self.limit) + ext.get("fpt.unscanned", 0)
        truncated = skipped > 0
        if truncated:
            self.truncated += 1
            self.skipped_bytes += skipped
            body = body[: self.limit]
        self.bodies += 1
        self.bytes += len(body)
        if ext.get("fpt.streamed"):
            self.streamed += 1
        # Any header can carry another user's data. httpx keeps (raw, lower, value) triples: read
        # them without the list ``headers.raw`` builds on every call (this runs per response), and
        # lower them all at once (a newline between two values: no canary spans it).
        values = b"\n".join([t[-1] for t in getattr(response.headers, "_list", None) or response.headers.raw])
        headers = values.lower()
        low = self._text(body, headers, response).lower()
        found = _find_lowered(low)
        found.extend(_find_lowered(headers))
        me = user.identity
        mine = me.canary.lower()  # made in lower case; an Identity built by hand may not be
        own: list[str] = []
        foreign_data: dict[int, list[str]] = {}
        matches = self.personal.find(low + b"\n" + headers) if self.personal is not None else None
        if matches:
            own, by_owner = split(matches, me.index)
            foreign_data = {u: [m.field for m in ms] for u, ms in by_owner.items()}
            if foreign_data:
                sent = sent_by(request)  # what the user sent itself and got back is its own doing
                by_owner = {u: kept for u, ms in by_owner.items()
                            if (kept := [m for m in ms if m.value.encode().lower() not in sent])}
                foreign_data = {u: [m.field for m in ms] for u, ms in by_owner.items()}
        if mine in found:
            own.insert(0, "canary")
        # Inspected only where a swap could have shown: a whole answer that carried this user's
        # own data (its canary, or a value of its own no other user has), so another user's would
        # have been seen in its place.
        if (user._tally is not None and user._tally_ok and not truncated
                and (own and (own[0] == "canary" or any(f in STRONG for f in own)))):
            user._tally.scanned += 1
        # The common answer carries nothing foreign: leave with set operations only (this runs per response).
        others = set(found)
        others.discard(mine)
        if not others and not foreign_data:
            return
        foreign: list[str] = []
        if others:
            sent = sent_by(request)
            foreign = [t for t in dict.fromkeys(found) if t in others and t.encode() not in sent]
        strong = {u: fields for u, fields in foreign_data.items() if STRONG.intersection(fields)}
        if not foreign and not strong:
            if foreign_data:
                self.unproven += 1  # a name alone: real names collide with the world, no proof
            return
        if user.sees_shared(request.url.path):
            self.shared += 1  # declared legitimate (a message another member sent, a public post)
            return
        where = {"request_id": request.headers.get("x-fpt-request", ""), "method": request.method,
                 "path": redact_url(request.url.path), "concurrent": bool(ext.get("fpt.concurrent"))}
        labels = {u: self.owners.by_index[u].label if u in self.owners.by_index else f"user#{u}"
                  for u in foreign_data}
        data = {labels[u]: fields for u, fields in foreign_data.items()}
        if foreign:
            # One finding per response, naming every owner whose canary it carried.
            owners = [self.owners.owner_of(t) or f"unknown ({t[:12]}…)" for t in foreign]
            user.fail(
                "foreign_canary",
                f"response carries the canary of {', '.join(dict.fromkeys(owners))}",
                other_user=owners[0], **where, reask=(request, owners[0]),
                evidence={"canaries": foreign, "status": response.status_code,
                          "where": ["header" if t.encode() not in low else "body" for t in foreign],
                          **({"personal_data": data} if data else {})},
            )
            return
        # Another user's personal data, no canary: one finding naming whose and which fields, and the
        # caller's own fields beside them (a mixed record: one answer built from two users' data).
        first = next(iter(strong))
        other, fields = labels[first], strong[first]
        mixed = f" beside {user.identity.label}'s own {', '.join(own)} (a mixed record)" if own else ""
        more = [labels[u] for u in strong if u != first]
        user.fail(
            "data_swap",
            f"response carries {other}'s {', '.join(fields)}{mixed}"
            + (f"; and data of {', '.join(more)}" if more else ""),
            other_user=other, **where, reask=(request, other),
            evidence={"detector": "personal_data", "fields": fields, "own_fields": own, "owners": data,
                      "status": response.status_code},
        )

    def _text(self, body: bytes, headers: bytes, response: httpx.Response) -> bytes:
        """What the scan searches: the body's text in UTF-8 and, when that differs, the bytes as they came."""
        # Decoded only when something asks for it: a declared charset, a BOM or NUL up front, a JSON
        # escape (the common answer is none of these: no call, no copy; this runs per response).
        if b"charset" in headers:
            text = readable(body, response.headers.get("content-type", ""))
        elif body[:1] in _BOM_FIRST or b"\x00" in body[:4] or b"\\u" in body:
            text = readable(body)
        else:
            return body
        if text is body:
            return body
        self.decoded += 1
        # The bytes as they came are searched too: a charset declared wrongly (UTF-16 over UTF-8
        # bytes) must not turn another user's data into noise.
        return text + b"\n" + body

    def evidence(self) -> ScanEvidence:
        """What was scanned, for the run's evidence."""
        return ScanEvidence(enabled=True, bodies=self.bodies, bytes=self.bytes, truncated=self.truncated,
                            skipped_bytes=self.skipped_bytes, streamed=self.streamed,
                            shared=self.shared, decoded=self.decoded, unproven=self.unproven,
                            personal=self.personal is not None)
