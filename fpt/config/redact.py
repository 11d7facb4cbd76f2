"""Redaction of secrets and personal values before anything leaves the process.

One pass, :func:`scrub`, is applied to every text fpt emits (terminal, ``FptFailure``,
JUnit XML, ``fpt-dod.json``, Markdown, HTML, CSV, the CI step summary). It replaces URL
user-info, query parameters named like secrets (``token``, ``key``, ``password``,
``secret``, ``session``, ``auth``, ``sig`` ...), the credential after an ``Authorization``,
``Cookie``, ``Set-Cookie`` or API-key header name, ``Bearer``/``Basic`` credentials, and
every *known secret value* wherever it appears (URL paths included, percent-encoded or not).

Known secrets are learned while the run lasts (:func:`note_request`, a dict lookup per
header and a set lookup per new value; the scrubbing itself happens only when text is
emitted):

- each user's password;
- the value of every request header whose name says it is a credential (``Authorization``,
  ``PRIVATE-TOKEN``, ``X-Session-Id``, ... any name with auth, token, key, secret, pass,
  session, sid, jwt, cred, sig, cookie in it), and of every cookie so named;
- the value of any other request header or cookie **once two users sent different values**
  for it: a value that tells users apart is a credential, whatever its name (framing headers
  such as ``Content-Length`` or ``Host`` aside);
- token-like fields of a login answer (:func:`learn_fields`).

Only values are replaced, never the text around them: a header name followed by a word
that is no credential ("authorization: BOLA/IDOR") is left as it is, and a value ends at
the first character no credential holds (space, quote, ``<``, ``;``, ``)``...), never at the
end of the line. Secrets are replaced whole; personal values keep a hint of their shape
(``j***@example.test``) so evidence stays legible.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization",
                            "x-api-key", "x-auth-token", "api-key", "apikey", "x-access-token"})
_HEADER_NAMES = frozenset(n.encode() for n in SECRET_HEADERS)
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
    r"|x-access-token|private-token|x-session-id|x-csrf-token)\b)(?P<sep>['\"]?\s*[:=]\s*)", re.I)
#: what a credential is made of: no space, quote, bracket, comma or semicolon (so it never runs on
#: into the text after it)
_CRED = re.compile(r"[\w.~+/=:@%-]+")
_SCHEME_WORD = re.compile(r"(?:bearer|basic|token|digest|negotiate|ntlm|apikey|key)\s+", re.I)
_COOKIE_PAIR = re.compile(r"\s*(?P<name>[^=;,\s'\"<>]+)=(?P<value>[^;,\s'\"<>]*)")
_COOKIE_ATTRS = frozenset({"path", "domain", "expires", "max-age", "samesite", "priority", "partitioned",
                           "version", "comment"})
_DIGIT = re.compile(r"\d")
#: a header or cookie name that says its value is a credential
SECRET_NAME = re.compile(r"auth|token|secret|pass|key|sess|sid|jwt|cred|sig|cookie|csrf|xsrf", re.I)


def looks_secret(value: str) -> bool:
    """Whether a value in free text has a credential's shape: long enough, with a digit, or very long.

    Words ("BOLA/IDOR", "dark", "authentication") are not; a value fpt saw being sent is
    scrubbed as a known secret whatever its shape.
    """
    return (len(value) >= MIN_SECRET and _DIGIT.search(value) is not None) or len(value) >= 24


# A credential after its scheme; for Basic, only something that looks encoded (not "Basic authentication").
_SCHEME = re.compile(r"\b(Bearer|Basic)\s+(?:(?<=Bearer )|(?=[\w.~+/=\-]*[0-9+/=.~\-]))[\w.~+/=\-]{6,}",
                     re.I)


#: known secrets kept at most (the oldest are forgotten first): a soak that logs in every iteration
#: must stay flat in memory; a finding is scrubbed when it is made, while its secrets are fresh
MAX_SECRETS = 100_000


#: request headers that are framing or vary per request, never a credential by themselves
FRAMING_HEADERS = frozenset({
    b"host", b"content-length", b"content-type", b"content-encoding", b"transfer-encoding", b"connection",
    b"accept", b"accept-encoding", b"accept-language", b"user-agent", b"te", b"expect", b"upgrade",
    b"cache-control", b"pragma", b"if-none-match", b"if-match", b"if-modified-since",
    b"if-unmodified-since", b"range", b"referer", b"origin", b"traceparent", b"tracestate", b"baggage",
    b"x-fpt-request", b"x-request-id", b"x-correlation-id", b"idempotency-key", b"date"})
_SECRET, _FRAMING, _WATCH = 0, 1, 2
#: names whose values are watched for a difference between users (bounded)
MAX_WATCHED = 1024


class _Registry:
    """Secret values this process has seen (passwords, tokens); process-wide, bounded."""

    def __init__(self) -> None:
        self.values: dict[str, None] = {}  # insertion-ordered: the oldest go first
        self._seen: set[bytes] = set()
        self._by_prefix: dict[str, list[str]] | None = None
        #: header name -> _SECRET, _FRAMING or _WATCH
        self._kinds: dict[bytes, int] = {}
        #: watched header or cookie name -> (first value, who sent it), or None once it told users apart
        self._watched: dict[bytes, tuple[bytes, int] | None] = {}

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) >= MIN_SECRET and value not in self.values:
            if len(self.values) >= MAX_SECRETS:
                del self.values[next(iter(self.values))]
            self.values[value] = None
            self._by_prefix = None
            # as it appears in a URL path or query, too
            for form in (quote(value, safe=""), quote(value, safe="/:@")):
                if form != value and form not in self.values:
                    self.values[form] = None

    def kind(self, name: bytes) -> int:
        k = self._kinds.get(name)
        if k is None:
            text = name.decode("latin-1")
            k = (_SECRET if name in _HEADER_NAMES or SECRET_NAME.search(text)
                 else _FRAMING if name in FRAMING_HEADERS or len(self._kinds) >= MAX_WATCHED else _WATCH)
            self._kinds[name] = k
        return k

    def watch(self, name: bytes, value: bytes, who: int | None) -> None:
        """Learn ``value`` once two users sent different values under ``name``."""
        state = self._watched.get(name, False)
        if state is None:  # it tells users apart: every value is a credential
            if value not in self._seen:
                self._remember(value)
                self.add(value.decode("latin-1"))
            return
        if who is None:
            return
        if state is False:
            if len(self._watched) < MAX_WATCHED:
                self._watched[name] = (value, who)
            return
        first, first_who = state  # type: ignore[misc]
        if who != first_who and value != first:
            self._watched[name] = None
            for v in (first, value):
                self._remember(v)
                self.add(v.decode("latin-1"))

    def _remember(self, value: bytes) -> None:
        if len(self._seen) >= MAX_SECRETS:
            self._seen.clear()  # only a cache of what was already learned
        self._seen.add(value)

    def learn_header(self, name: bytes, value: bytes, who: int | None = None) -> None:
        if value in self._seen:
            return
        self._remember(value)
        if name == b"cookie":
            for part in value.split(b";"):
                cookie, _, val = part.strip().partition(b"=")
                if not val:
                    continue
                if SECRET_NAME.search(cookie.decode("latin-1")):
                    self.add(val.decode("latin-1"))
                else:
                    self.watch(b"cookie:" + cookie, val, who)
            return
        text = value.decode("latin-1").strip()
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
        self._remember(query)
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


def register(*values: str | None) -> None:
    """Remember secret values (a password, a token) so :func:`scrub` replaces them anywhere."""
    for v in values:
        if v:
            _registry.add(v)


def note_headers(raw: Iterable[tuple[bytes, bytes]], who: int | None = None) -> None:
    """Learn the credentials in a request's headers, sent by user ``who`` (see the module docstring)."""
    registry = _registry
    for name, value in raw:
        lower = name.lower()
        kind = registry.kind(lower)
        if kind == _SECRET:
            registry.learn_header(lower, value, who)
        elif kind == _WATCH:
            registry.watch(lower, value, who)


def note_request(request: Any, who: int | None = None) -> None:
    """Learn the credentials an ``httpx.Request`` of user ``who`` carries (headers, secret-named query).

    Hot path: a dict lookup per header, a set lookup per credential value.
    """
    registry = _registry
    triples = getattr(request.headers, "_list", None)  # httpx's (raw, lowercased, value): no copy
    if triples is not None:
        kinds = registry._kinds
        for _, lower, value in triples:
            kind = kinds.get(lower)
            if kind is None:
                kind = registry.kind(lower)
            if kind == _FRAMING:
                continue
            if kind == _SECRET:
                registry.learn_header(lower, value, who)
            else:
                registry.watch(lower, value, who)
    else:
        note_headers(request.headers.raw, who)
    query: bytes = request.url.query
    if query and query not in registry._seen:
        registry.learn_query(query)


#: keys of a login answer whose string values are credentials
_FIELD = re.compile(r"token|secret|pass|key|session|sid|jwt|cred|sig|auth|cookie", re.I)


def learn_fields(doc: Any, depth: int = 0) -> None:
    """Learn the token-like fields of a login answer (``token``, ``access_token``, ``session_id``, ...)."""
    if depth > 4:
        return
    if isinstance(doc, Mapping):
        for k, v in list(doc.items())[:200]:
            if isinstance(v, str) and _FIELD.search(str(k)):
                _registry.add(v)
            elif isinstance(v, Mapping | list):
                learn_fields(v, depth + 1)
    elif isinstance(doc, list):
        for v in doc[:50]:
            learn_fields(v, depth + 1)


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


def _headers_in(text: str) -> str:
    """Scrub the credential after each secret header name in ``text``; the rest of the text stays."""
    out: list[str] = []
    pos = 0
    for m in _HEADER.finditer(text):
        start = m.end()
        if start < pos:
            continue
        out.append(text[pos:start])
        pos = start
        if text.startswith(REDACTED, start):
            continue
        quote_char = text[start] if start < len(text) and text[start] in "'\"" else ""
        if quote_char:  # a quoted value: all of it, up to its closing quote on the line
            end = text.find(quote_char, start + 1)
            newline = text.find("\n", start + 1)
            if end < 0 or (0 <= newline < end):
                continue
            value = text[start + 1:end]
            if value.strip() and value != REDACTED:
                out.append(quote_char + _value(m.group("name"), value, quoted=True) + quote_char)
                pos = end + 1
            continue
        cleaned, length = _bare(m.group("name"), text, start)
        out.append(cleaned)
        pos = start + length
    out.append(text[pos:])
    return "".join(out)


def _value(name: str, value: str, *, quoted: bool) -> str:
    if _ENV_PLACEHOLDER.fullmatch(value.strip()):
        return value  # the repro lines' $FPT_COOKIE: a placeholder, not a secret
    if name.lower() in ("cookie", "set-cookie"):
        return _cookies(value, name.lower() == "set-cookie")
    return REDACTED


def _bare(name: str, text: str, start: int) -> tuple[str, int]:
    """(scrubbed, length taken) of an unquoted header value starting at ``start``."""
    if _ENV_PLACEHOLDER.match(text, start):
        return "", 0  # the repro lines' $FPT_COOKIE: a placeholder, not a secret
    lower = name.lower()
    if lower in ("cookie", "set-cookie"):
        end = start
        while True:  # name=value pairs separated by "; "
            m = _COOKIE_PAIR.match(text, end)
            if m is None:
                break
            end = m.end()
            if text.startswith(";", end):
                end += 1
                continue
            break
        return _cookies(text[start:end], lower == "set-cookie"), end - start
    scheme = _SCHEME_WORD.match(text, start)
    at = scheme.end() if scheme else start
    cred = _CRED.match(text, at)
    if cred is None or cred.group(0) == REDACTED:
        return "", 0
    token = cred.group(0).rstrip(".:?!")  # a sentence's own punctuation is not the credential's
    if scheme is None and not looks_secret(token):
        return "", 0  # a word, not a credential ("authorization: BOLA/IDOR")
    return text[start:at] + REDACTED, at - start + len(token)


def _cookies(value: str, set_cookie: bool) -> str:
    """``name=value; ...`` with the values scrubbed (a Set-Cookie's attributes kept)."""
    def one(m: re.Match[str]) -> str:
        name, val = m.group("name"), m.group("value")
        if (set_cookie and name.lower() in _COOKIE_ATTRS) or val in ("", REDACTED):
            return m.group(0)
        if not (SECRET_NAME.search(name) or looks_secret(val)):
            return m.group(0)
        return m.group(0)[: m.start("value") - m.start()] + REDACTED

    return _COOKIE_PAIR.sub(one, value)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without secrets: URL user-info, secret-named parameters, secret headers, known values."""
    if not text:
        return text
    text = _known_secrets(text, secrets)
    text = _USERINFO.sub(REDACTED + "@", text)
    text = _headers_in(text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _QUERY.sub(lambda m: m.group(1) + REDACTED, text)


def deep(obj: Any) -> Any:
    """``obj`` with :func:`scrub` applied to every string inside (dicts, lists, tuples, dataclasses).

    An enum member (a typed reason or status) is a name, not text: it is kept as it is."""
    if isinstance(obj, enum.Enum):
        return obj
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
