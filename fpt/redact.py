"""Redaction of secrets and personal values before anything is reported.

Secrets (Authorization, cookies, tokens, passwords) are replaced whole; personal
values keep a hint of their shape (``j***@example.test``) so evidence stays legible.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization",
                            "x-api-key", "x-auth-token"})
SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|session", re.I)
REDACTED = "[redacted]"
_EMAIL = re.compile(r"^([^@\s])[^@\s]*(@[^@\s]+)$")


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


def url(u: str) -> str:
    """A URL without user-info or query-string secrets."""
    u = re.sub(r"//[^/@]+@", "//" + REDACTED + "@", u)
    return re.sub(r"((?:token|key|password|secret|session)[^=&]*=)[^&]*", r"\1" + REDACTED, u, flags=re.I)
