"""Fixtures for the demo FPT suites: the demo service as a real server, or in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from suites.demo.server import Server, serve


@pytest.fixture(scope="session")
def demo_server() -> Iterator[Server]:
    """The correct demo service, a real uvicorn server on 127.0.0.1 (free port)."""
    with serve() as server:
        yield server


@pytest.fixture
def demo_url(demo_server: Server) -> str:
    """Base URL of the running demo service."""
    return demo_server.base_url
