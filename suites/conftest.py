"""Fixtures for the demo FPT suites: the demo service as a real server, or in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from fpt.demo.app import parse_bugs
from fpt.demo.fleet import DemoFleet, require_binaries
from fpt.demo.server import Server, serve


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


@pytest.fixture
def demo_fleet() -> Iterator[Callable[..., DemoFleet]]:
    """Start a real fleet: ``demo_fleet(sessions="redis")`` — uvicorn replicas behind HAProxy, Redis.

    Every fleet started is stopped after the test, even when it fails. Skips when
    haproxy or redis-server is missing (fails instead under ``CI=true``).
    """
    require_binaries()
    started: list[DemoFleet] = []

    def make(**kwargs: object) -> DemoFleet:
        fleet = DemoFleet(bugs=tuple(parse_bugs(None)), **kwargs)  # type: ignore[arg-type]
        started.append(fleet.__enter__())
        return fleet

    yield make
    for fleet in started:
        fleet.stop()
