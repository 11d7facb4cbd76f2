"""fpt's request builder makes the very request httpx's ``build_request`` makes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fpt.run import building
from fpt.run.context import RunContext
from fpt.run.identity import IdentityFactory
from fpt.run.user import User

CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("get", "/visits/12?x=1", {}),
    ("HEAD", "/", {}),
    ("DELETE", "/visits/12", {}),
    ("OPTIONS", "/", {}),
    ("POST", "/visits", {}),
    ("PUT", "/visits/1", {}),
    ("PATCH", "/visits/1", {}),
    ("POST", "/visits", {"json": {"name": "Zoë", "n": [1, 2]}}),
    ("PUT", "/visits/1", {"json": []}),
    ("POST", "/raw", {"content": b"\x00\x01bytes"}),
    ("POST", "/raw", {"content": "text é"}),
    ("PATCH", "/raw", {"content": b""}),
    ("GET", "http://other.test:8080/abs", {}),
    ("GET", "https://other.test/abs", {}),
]
CLIENTS: list[dict[str, Any]] = [
    {"base_url": "http://127.0.0.1:9"},
    {"base_url": "http://127.0.0.1:9/api/"},
    {"base_url": "http://127.0.0.1:9", "headers": {"Authorization": "Bearer t", "X-Trace": b"\xc3\xa9"}},
    {"base_url": "http://127.0.0.1:9", "headers": {"Host": "virtual.test", "Content-Type": "text/plain"}},
    {"base_url": "http://127.0.0.1:9", "headers": {"Content-Length": "0"}},
    {"base_url": "http://127.0.0.1:9", "timeout": 3.5},
]
#: clients whose every request httpx builds itself
HTTPX_CLIENTS: list[dict[str, Any]] = [
    {"base_url": "http://127.0.0.1:9", "params": {"api_key": "k"}},
]


def _fields(r: httpx.Request) -> tuple[Any, ...]:
    return (r.method, str(r.url), r.headers._list, r.headers.raw, r.content, r.extensions,
            type(r.stream), r.headers.encoding)


@pytest.mark.parametrize("kwargs", CLIENTS)
@pytest.mark.parametrize(("method", "url", "body"), CALLS)
def test_the_fast_request_is_httpx_own(kwargs: dict[str, Any], method: str, url: str,
                                       body: dict[str, Any]) -> None:
    user = User(IdentityFactory(1).make(0), RunContext(flow="f"), **kwargs)
    client = user.http
    theirs = httpx.AsyncClient.build_request(client, method, url, **body)
    assert building.plain(client, method, body.get("content"), None, None, None, None, None,
                          httpx.USE_CLIENT_DEFAULT, None)
    ours = client.build_request(method, url, **body)
    assert _fields(ours) == _fields(theirs)
    assert ours.url.netloc == theirs.url.netloc
    assert ours.read() == theirs.read()


@pytest.mark.parametrize("extra", [
    {"params": {"q": "1"}}, {"headers": {"X-One": "1"}}, {"cookies": {"c": "1"}},
    {"extensions": {"x": 1}}, {"timeout": 1.0}, {"data": {"a": "b"}},
    {"files": {"f": b"x"}}, {"content": iter([b"streamed"])},
])
def test_anything_else_is_built_by_httpx(extra: dict[str, Any]) -> None:
    user = User(IdentityFactory(1).make(0), RunContext(flow="f"), base_url="http://127.0.0.1:9")
    client = user.http
    assert not building.plain(client, "POST", extra.get("content"), extra.get("data"), extra.get("files"),
                              extra.get("params"), extra.get("headers"), extra.get("cookies"),
                              extra.get("timeout", httpx.USE_CLIENT_DEFAULT), extra.get("extensions"))


@pytest.mark.parametrize("kwargs", HTTPX_CLIENTS)
@pytest.mark.parametrize(("method", "url", "body"), CALLS)
def test_a_client_with_default_params_builds_through_httpx(kwargs: dict[str, Any], method: str, url: str,
                                                           body: dict[str, Any]) -> None:
    user = User(IdentityFactory(1).make(0), RunContext(flow="f"), **kwargs)
    client = user.http
    assert not building.plain(client, method, body.get("content"), None, None, None, None, None,
                              httpx.USE_CLIENT_DEFAULT, None)
    ours = client.build_request(method, url, **body)
    assert _fields(ours) == _fields(httpx.AsyncClient.build_request(client, method, url, **body))
    assert "api_key=k" in str(ours.url)


def test_a_cookie_in_the_jar_goes_through_httpx_and_is_sent() -> None:
    user = User(IdentityFactory(1).make(0), RunContext(flow="f"), base_url="http://127.0.0.1:9")
    client = user.http
    client.cookies.set("session", "abc", domain="127.0.0.1")
    assert not building.plain(client, "GET", None, None, None, None, None, None,
                              httpx.USE_CLIENT_DEFAULT, None)
    assert client.build_request("GET", "/").headers["cookie"] == "session=abc"
