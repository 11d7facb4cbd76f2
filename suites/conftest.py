"""Fixtures for the demo FPT suites: the demo service as a real server, or in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from suites.demo.app import parse_bugs
from suites.demo.server import Server, serve


@pytest.fixture(scope="session")
def demo_server() -> Iterator[Server]:
    """The demo service, a real uvicorn server on 127.0.0.1 (free port).

    Correct unless ``FPT_DEMO_BUGS`` names bugs to switch on (to watch fpt catch them).
    """
    with serve(bugs=parse_bugs(None)) as server:
        yield server


@pytest.fixture
def demo_url(demo_server: Server) -> str:
    """Base URL of the running demo service."""
    return demo_server.base_url
