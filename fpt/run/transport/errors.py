"""What fpt's transports raise beyond httpx's own errors: limits, and a desync typed by
:class:`Desync` and worded by :func:`desync_message`."""

from __future__ import annotations

import re
from enum import StrEnum

import httpx


class BodyTooLarge(httpx.RemoteProtocolError):
    """A response body was larger than the transport's ``max_body`` limit."""


class HeadTooLarge(httpx.RemoteProtocolError):
    """A response head was larger than :data:`~fpt.run.transport.wire.MAX_HEAD`."""


class Desync(StrEnum):
    """How the bytes on a connection stopped matching the requests sent on it."""

    #: bytes after the end of a complete answer (a Content-Length shorter than the body, a second
    #: answer glued to the first, pipelined junk)
    EXTRA_BYTES = "extra_bytes"
    #: bytes after an answer that may not have a body: to a HEAD, a 1xx, 204 or 304 (RFC 9112 §6.3)
    BODY_NOT_ALLOWED = "body_not_allowed"
    #: bytes on a connection before any request was sent on it: an answer to a request never sent
    UNSOLICITED = "unsolicited"


class ProtocolDesync(httpx.RemoteProtocolError):
    """The server sent bytes that answer no request (see :class:`Desync`); error kind ``protocol``."""

    def __init__(self, kind: Desync, message: str, *, request: httpx.Request | None = None) -> None:
        self.kind = kind
        super().__init__(message, request=request)


#: a server's notice that it closes an idle connection (RFC 9110 §15.5.9): not a desync
_IDLE_TIMEOUT = re.compile(rb"HTTP/1\.[01] 408 ")


def desync_message(kind: Desync, after: str, idle: bool = False) -> str:
    """The error's text: what came, after which request, and why it matters."""
    what = {Desync.EXTRA_BYTES: "after the end of the answer to",
            Desync.BODY_NOT_ALLOWED: "as a body where none is allowed, after the answer to",
            Desync.UNSOLICITED: "before any request was sent, on the connection for"}[kind]
    when = " while the connection waited for its next request" if idle else ""
    return (f"{kind}: the server sent bytes {what} {after}{when}; "
            "answers on this connection no longer match their requests (a response desync)")


def _what(request: httpx.Request | None) -> str:
    return f"{request.method} {request.url.path}" if request is not None else "a request"
