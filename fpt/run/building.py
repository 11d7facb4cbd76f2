"""Building a user's request: httpx's ``AsyncClient.build_request``, made once instead of three times.

httpx builds a request by copying the client's headers into a merged ``Headers``, copying
that into the request's, then rebuilding it a third time to put ``Host`` (and
``Content-Length``) in front; with the encoding guesses and ``isinstance`` checks
on the way that is a large share of the load generator's CPU per request. For the
common request (no per-request headers, params, cookies or extensions, no default query
params on the client, the client's default timeout, no form or files, and no cookie in
the jar, whose stdlib machinery stays httpx's) :func:`build` makes the same
``httpx.Request`` directly: the same method, URL, headers in the same order, body,
stream type and extensions (``tests/run/test_building.py`` compares the two field by
field). Anything else goes to httpx.
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx._content import encode_request

#: methods httpx gives an empty ``Content-Length: 0`` when they have no body
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HOST = (b"Host", b"host")
_LENGTH_ZERO = (b"Content-Length", b"content-length", b"0")


def plain(client: httpx.AsyncClient, method: Any, content: Any, data: Any, files: Any, params: Any,
          headers: Any, cookies: Any, timeout: Any, extensions: Any) -> bool:
    """Whether a ``build_request`` call is the common one :func:`build` makes as httpx would."""
    return (isinstance(method, str) and data is None and files is None and params is None
            and headers is None and cookies is None and extensions is None
            and isinstance(timeout, httpx._client.UseClientDefault)
            and (content is None or isinstance(content, bytes | str))
            and not client.params and not len(client._cookies.jar))


def build(client: httpx.AsyncClient, method: str, url: httpx.URL | str, content: bytes | str | None,
          json: Any) -> httpx.Request:
    """``client.build_request(method, url, content=content, json=json)`` for a :func:`plain` call."""
    request = httpx.Request.__new__(httpx.Request)
    method = method.upper()
    request.method = method
    request.url = target = client._merge_url(url)
    triples = list(client._headers._list)
    if content is None and json is None:
        stream = httpx.ByteStream(b"")
    else:
        added, stream = encode_request(content=content, json=json)  # type: ignore[assignment]
        have = {t[1] for t in triples}
        for key, value in added.items():  # httpx's setdefault: what the client's headers lack
            lower = key.lower().encode()
            if lower not in have:
                triples.append((key.encode(), lower, value.encode()))
    has_host = has_length = False
    for t in triples:
        lower = t[1]
        if lower == b"host":
            has_host = True
        elif lower == b"content-length" or lower == b"transfer-encoding":
            has_length = True
    front = []
    if not has_host and target.host:
        front.append((*_HOST, target.netloc))
    if not has_length and method in _BODY_METHODS:
        front.append(_LENGTH_ZERO)
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = front + triples if front else triples
    headers._encoding = None
    request.headers = headers
    request.extensions = {"timeout": client.timeout.as_dict()}
    request.stream = stream
    request._content = stream._stream  # what Request.read() keeps of a ByteStream
    return request
