"""Virtual services: latency models, concurrency, faults, recording round trip."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import httpx
import pytest
from vtime import run_virtual

from fpt.run.context import error_kind as _error_kind
from fpt.virtual import (
    Faults,
    Fixed,
    LogNormal,
    Normal,
    Recorder,
    Uniform,
    VirtualService,
    VirtualServices,
    latency_from,
)

BASE = "http://eligibility.virtual"


def eligibility(services: VirtualServices, **kw: object) -> VirtualService:
    svc = services.service("eligibility", BASE, **kw)  # type: ignore[arg-type]
    svc.route("GET", r"/eligibility/(?P<id>\w+)",
              handler=lambda req, state: {"member_id": req.url.path.rsplit("/", 1)[-1], "eligible": True})
    return svc


async def call_many(transport: httpx.AsyncBaseTransport, n: int, *, concurrency: int = 200,
                    ) -> tuple[list[int], dict[str, int], float]:
    loop = asyncio.get_running_loop()
    statuses: list[int] = []
    errors: dict[str, int] = {}
    sem = asyncio.Semaphore(concurrency)
    start = loop.time()
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        async def one(i: int) -> None:
            async with sem:
                try:
                    r = await client.get(f"/eligibility/M{i}")
                    statuses.append(r.status_code)
                except httpx.HTTPError as e:
                    k = _error_kind(e)
                    errors[k] = errors.get(k, 0) + 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return statuses, errors, loop.time() - start


def test_lognormal_latency_matches_the_model() -> None:
    services = VirtualServices(seed=1)
    svc = eligibility(services, latency=LogNormal(80, 400))
    statuses, errors, _ = run_virtual(call_many(services.transport, 4000))
    assert statuses == [200] * 4000
    assert not errors
    p50, p99 = svc.log.latency.percentile(50) / 1000, svc.log.latency.percentile(99) / 1000
    assert p50 == pytest.approx(80, rel=0.08)
    assert p99 == pytest.approx(400, rel=0.15)


def test_latency_does_not_serialise_concurrent_calls() -> None:
    services = VirtualServices()
    eligibility(services, latency=Fixed(100))
    _, _, elapsed = run_virtual(call_many(services.transport, 100, concurrency=100))
    assert elapsed == pytest.approx(0.1, abs=0.01)  # 100 calls overlap: one latency, not a hundred


def test_injected_errors_show_at_their_rate() -> None:
    services = VirtualServices(seed=4)
    svc = eligibility(services, faults=Faults(error_rate=0.02))
    statuses, _, _ = run_virtual(call_many(services.transport, 10_000))
    share = statuses.count(503) / len(statuses)
    assert 0.015 < share < 0.025
    assert svc.log.faults["error"] == statuses.count(503)


def test_timeouts_and_resets_are_transport_errors_of_their_kind() -> None:
    services = VirtualServices(seed=2)
    eligibility(services, faults=Faults(timeout_rate=0.1, reset_rate=0.1))
    statuses, errors, _ = run_virtual(call_many(services.transport, 2000))
    assert 150 < errors["timeout"] < 250
    assert 150 < errors["read"] < 250
    assert len(statuses) + sum(errors.values()) == 2000


def test_per_user_state_in_handlers() -> None:
    services = VirtualServices()
    svc = services.service("counter", BASE)

    def handler(request: httpx.Request, state: dict[str, int]) -> dict[str, int]:
        state["n"] = state.get("n", 0) + 1
        return {"n": state["n"]}

    svc.route("POST", r"/count/(?P<key>\w+)", handler=handler)

    async def main() -> list[int]:
        async with httpx.AsyncClient(transport=services.transport, base_url=BASE) as c:
            out = []
            for key in ("a", "a", "b", "a"):
                out.append((await c.post(f"/count/{key}")).json()["n"])
            return out

    assert asyncio.run(main()) == [1, 2, 1, 3]
    assert svc.log.calls["POST /count/(?P<key>\\w+)"] == 4


def test_unknown_host_is_refused_not_guessed() -> None:
    services = VirtualServices()
    eligibility(services)

    async def main() -> int:
        async with httpx.AsyncClient(transport=services.transport) as c:
            return (await c.get("http://other.virtual/x")).status_code

    assert asyncio.run(main()) == 502


def test_patch_routes_in_process_clients_and_passes_other_hosts(tmp_path: Path) -> None:
    services = VirtualServices()
    eligibility(services)

    async def main() -> tuple[int, str]:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"{BASE}/eligibility/M1")
            try:
                await c.get("http://127.0.0.1:9/", timeout=0.5)  # nothing listens: passes through, refused
                other = "answered"
            except httpx.ConnectError:
                other = "connect"
            return r.status_code, other

    with services.patch():
        assert asyncio.run(main()) == (200, "connect")


def test_recording_round_trips_into_a_virtual_service(tmp_path: Path) -> None:
    rng = random.Random(9)

    async def live(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(rng.lognormvariate(3.5, 0.5) / 1000)
        code = 200 if rng.random() < 0.9 else 404
        return httpx.Response(code, json={"eligible": code == 200})

    recorder = Recorder(httpx.MockTransport(live), name="eligibility", base_url=BASE,
                        route_of=lambda p: r"/eligibility/(?P<id>\w+)")
    run_virtual(call_many(recorder, 3000))
    path = recorder.save(tmp_path / "eligibility.json")
    data = json.loads(path.read_text())
    assert data["routes"][0]["statuses"]["200"] + data["routes"][0]["statuses"]["404"] == 3000

    services = VirtualServices()
    replayed = services.add(VirtualService.from_recording(path, seed=3))
    statuses, _, _ = run_virtual(call_many(services.transport, 3000))
    assert statuses.count(404) / 3000 == pytest.approx(data["routes"][0]["statuses"]["404"] / 3000, abs=0.03)
    recorded = sorted(data["routes"][0]["latency_ms"])
    for p in (50, 90, 99):
        want = recorded[int(len(recorded) * p / 100) - 1]
        assert replayed.log.latency.percentile(p) / 1000 == pytest.approx(want, rel=0.1)


def test_latency_models_and_bad_values() -> None:
    rng = random.Random(1)
    assert Fixed(5).sample(rng) == 0.005
    assert 0.001 <= Uniform(1, 2).sample(rng) <= 0.002
    assert Normal(1, 100).sample(rng) >= 0
    assert latency_from({"lognormal": [80, 400]}) == LogNormal(80, 400)
    assert latency_from([1, 2]).sample(rng) in (0.001, 0.002)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="lognormal must have 0 < p50 <= p99"):
        LogNormal(500, 100)
    with pytest.raises(ValueError, match="error_rate must be between 0 and 1"):
        Faults(error_rate=2)
    with pytest.raises(ValueError, match="latency model must be one of"):
        latency_from({"gamma": 1})
