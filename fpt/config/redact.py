"""Redaction of secrets and personal values before anything leaves the process.

One pass, :func:`scrub`, is applied to every text fpt emits (terminal, ``FptFailure``,
JUnit XML, ``fpt-dod.json``, Markdown, HTML, the CI step summary). It replaces URL
user-info, query parameters named like secrets (``token``, ``key``, ``password``,
``secret``, ``session``, ``auth``, ``sig`` ...), the values of ``Authorization``,
``Cookie``, ``Set-Cookie`` and API-key headers, ``Bearer``/``Basic`` credentials, and
every *known secret value* wherever it appears. Known secrets are registered while the
run lasts: each user's password, and the credentials its client sends in its own
requests' secret headers (:func:`note_headers`, one pass over the header list and a
set lookup per request; the scrubbing itself happens only when text is emitted).

Secrets are replaced whole; personal values keep a hint of their shape
(``j***@example.test``) so evidence stays legible.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization",
                            "x-api-key", "x-auth-token", "api-key", "apikey", "x-access-token"})
SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|session", re.I)
REDACTED = "[redacted]"
_EMAIL = re.compile(r"^([^@\s])[^@\s]*(@[^@\s]+)$")
#: shorter values are not registered as secrets: scrubbing them would mangle ordinary text
MIN_SECRET = 6
#: above this many known secrets, scrubbing finds them by prefix instead of one search each
_MANY = 64
_PREFIX = MIN_SECRET

_USERINFO = re.compile(r"(?<=://)[^/\s@'\"<>]+@")
_SECRET_WORDS = (r"token|api[_-]?key|key|pass(?:word|wd)?|pwd|secret|session(?:[_-]?id)?|auth"
                 r"|sig(?:nature)?|credentials?|jwt")
_QUERY = re.compile(r"(?<![\w.\-])([\w.\-]*?(?:" + _SECRET_WORDS + r")=)(?!\[redacted\])[^&#\s'\"<>,;)\]}]+",
                    re.I)
_HEADER = re.compile(
    r"(?P<name>\b(?:proxy-authorization|authorization|set-cookie|cookie|x-api-key|x-auth-token|api-key"
    r"|x-access-token)\b)(?P<sep>['\"]?\s*[:=]\s*)(?P<q>['\"]?)(?P<value>[^'\"\r\n]*)", re.I)
# A credential after its scheme; for Basic, only something that looks encoded (not "Basic authentication").
_SCHEME = re.compile(r"\b(Bearer|Basic)\s+(?:(?<=Bearer )|(?=[\w.~+/=\-]*[0-9+/=.~\-]))[\w.~+/=\-]{6,}",
                     re.I)


#: known secrets kept at most (the oldest are forgotten first): a soak that logs in every iteration
#: must stay flat in memory; a finding is scrubbed when it is made, while its secrets are fresh
MAX_SECRETS = 100_000


class _Registry:
    """Secret values this process has seen (passwords, tokens); process-wide, bounded."""

    def __init__(self) -> None:
        self.values: dict[str, None] = {}  # insertion-ordered: the oldest go first
        self._seen: set[bytes] = set()
        self._by_prefix: dict[str, list[str]] | None = None

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) >= MIN_SECRET and value not in self.values:
            if len(self.values) >= MAX_SECRETS:
                del self.values[next(iter(self.values))]
            self.values[value] = None
            self._by_prefix = None

    def learn_header(self, name: bytes, value: bytes) -> None:
        if value in self._seen:
            return
        if len(self._seen) >= MAX_SECRETS:
            self._seen.clear()  # only a cache of what was already learned
        self._seen.add(value)
        text = value.decode("latin-1").strip()
        if name == b"cookie":
            for part in text.split(";"):
                self.add(part.partition("=")[2])
            return
        self.add(text)
        scheme, _, cred = text.partition(" ")
        if cred:
            self.add(cred)
            if scheme.lower() == "basic":
                try:
                    user_pass = base64.b64decode(cred, validate=True).decode("utf-8", "replace")
                except (binascii.Error, ValueError):
                    return
                self.add(user_pass.partition(":")[2])

    def learn_query(self, query: bytes) -> None:
        if len(self._seen) >= MAX_SECRETS:
            self._seen.clear()
        self._seen.add(query)
        for m in _QUERY.finditer(query.decode("latin-1")):
            self.add(unquote(m.group(0)[len(m.group(1)):]))

    def by_prefix(self) -> dict[str, list[str]]:
        if self._by_prefix is None:
            index: dict[str, list[str]] = {}
            for v in sorted(self.values, key=len, reverse=True):
                index.setdefault(v[:_PREFIX], []).append(v)
            self._by_prefix = index
        return self._by_prefix


_registry = _Registry()
_HEADER_NAMES = frozenset(n.encode() for n in SECRET_HEADERS)


def register(*values: str | None) -> None:
    """Remember secret values (a password, a token) so :func:`scrub` replaces them anywhere."""
    for v in values:
        if v:
            _registry.add(v)


def note_headers(raw: Iterable[tuple[bytes, bytes]]) -> None:
    """Learn the credentials in a request's secret headers (hot path: a set lookup per new value)."""
    for name, value in raw:
        lower = name.lower()
        if lower in _HEADER_NAMES:
            _registry.learn_header(lower, value)


def note_request(request: Any) -> None:
    """Learn the credentials an ``httpx.Request`` carries (secret headers, secret-named query values)."""
    triples = getattr(request.headers, "_list", None)  # httpx's (raw, lowercased, value): no copy
    if triples is not None:
        for _, lower, value in triples:
            if lower in _HEADER_NAMES:
                _registry.learn_header(lower, value)
    else:
        note_headers(request.headers.raw)
    query: bytes = request.url.query
    if query and query not in _registry._seen:
        _registry.learn_query(query)


def known() -> frozenset[str]:
    """The secret values registered so far."""
    return frozenset(_registry.values)


def forget() -> None:
    """Drop every registered secret (tests)."""
    global _registry
    _registry = _Registry()


def _known_secrets(text: str, extra: Iterable[str]) -> str:
    values = _registry.values
    extra = [e for e in extra if e and len(e) >= 1]
    if extra:
        for v in sorted(extra, key=len, reverse=True):
            if v in text:
                text = text.replace(v, REDACTED)
    if not values:
        return text
    if len(values) <= _MANY:
        for v in sorted(values, key=len, reverse=True):
            if v in text:
                text = text.replace(v, REDACTED)
        return text
    # Many users: one walk over the text, a dict lookup per position, instead of one search per secret.
    index = _registry.by_prefix()
    out: list[str] = []
    i = start = 0
    n = len(text)
    while i <= n - _PREFIX:
        candidates = index.get(text[i:i + _PREFIX])
        if candidates:
            hit = next((v for v in candidates if text.startswith(v, i)), None)
            if hit is not None:
                out.append(text[start:i])
                out.append(REDACTED)
                i = start = i + len(hit)
                continue
        i += 1
    out.append(text[start:])
    return "".join(out)


#: a header value that only names an environment variable (``$FPT_COOKIE``, as the report's repro
#: lines write it, HTML-escaped or not): a placeholder, not a secret. Only when the name ends the
#: value (a quote or a space after it): ``$Version=1; s=...`` and ``$A&s=...`` are still redacted.
_ENV_PLACEHOLDER = re.compile(r"\$\{?[A-Z_][A-Z0-9_]*\}?(?=$|\s|[\"']|&#3[49];)")


def _header_value(m: re.Match[str]) -> str:
    if m.group("value").strip() in ("", REDACTED) or _ENV_PLACEHOLDER.match(m.group("value").strip()):
        return m.group(0)
    return f"{m.group('name')}{m.group('sep')}{m.group('q')}{REDACTED}"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without secrets: URL user-info, secret-named parameters, secret headers, known values."""
    if not text:
        return text
    text = _known_secrets(text, secrets)
    text = _USERINFO.sub(REDACTED + "@", text)
    text = _HEADER.sub(_header_value, text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _QUERY.sub(lambda m: m.group(1) + REDACTED, text)


def deep(obj: Any) -> Any:
    """``obj`` with :func:`scrub` applied to every string inside (dicts, lists, tuples, dataclasses)."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, Mapping):
        return {deep(k): deep(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [deep(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(deep(v) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: deep(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
        return dataclasses.replace(obj, **changes)
    return obj


def mask(value: object) -> str:
    """Keep the first character and the shape: ``j***@example.test``, ``S*** R***``, ``1***``."""
    s = str(value)
    m = _EMAIL.match(s)
    if m:
        return f"{m.group(1)}***{m.group(2)}"
    if not s:
        return s
    return " ".join(f"{w[0]}***" for w in s.split()) or "***"


def fingerprint(value: object) -> str:
    """``#3fa2``: four hex digits of a hash, so two masked values show equal or different.

    Four digits tell a handful of values apart without identifying one among many
    (65,536 buckets); the same value gives the same fingerprint in every worker.
    """
    return "#" + hashlib.blake2b(str(value).encode(), digest_size=2, person=b"fpt-mask").hexdigest()


def headers(h: Mapping[str, str]) -> dict[str, str]:
    """Header dict with secret headers replaced."""
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in h.items()}


def data(obj: Any) -> Any:
    """A JSON-like value with secret keys replaced (recursively)."""
    if isinstance(obj, Mapping):
        return {k: (REDACTED if SECRET_KEY.search(str(k)) else data(v)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [data(v) for v in obj]
    return obj


def url(u: object) -> str:
    """A URL without user-info, secret-named query parameters or known secret values."""
    return scrub(str(u))


def report(rep: Any) -> None:
    """Scrub a pytest test report in place: its failure text and captured output (terminal, JUnit)."""
    longrepr = getattr(rep, "longrepr", None)
    if longrepr is not None:
        text = longrepr if isinstance(longrepr, str) else getattr(rep, "longreprtext", str(longrepr))
        clean = scrub(text)
        if clean != text:
            # The structured form would print the raw text again: keep only the scrubbed one.
            rep.longrepr = clean
    sections = getattr(rep, "sections", None)
    if sections:
        rep.sections = [(title, scrub(content)) for title, content in sections]


def warning(w: Any) -> None:
    """Scrub a recorded warning (``warnings.WarningMessage``) in place: pytest's warnings summary,
    and xdist's copy of it, show its message and source line."""
    import copy
    import linecache

    message = w.message
    text = str(message)
    clean = scrub(text)
    if clean != text:
        if isinstance(message, Warning):
            new = copy.copy(message)
            new.args = (clean,)  # xdist rebuilds the warning on the controller from its args
            w.message = new if str(new) == clean else Warning(clean)
        else:
            w.message = clean
    # The summary prints the warning's source line too (read from the file when not given).
    line = w.line if w.line is not None else linecache.getline(str(w.filename), int(w.lineno or 0))
    if line and scrub(line) != line:
        w.line = scrub(line.strip())
