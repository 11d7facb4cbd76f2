"""The open-model engine, driven by plain coroutines in virtual time."""

from __future__ import annotations

import asyncio

import pytest
from vtime import run_virtual

from fpt.config.errors import EngineError
from fpt.evidence.engine import EngineStats
from fpt.run.engine import LoadEngine
from fpt.run.shapes import constant, ramp, schedule, spike, stages, step_up


def _run(engine: LoadEngine, due: list[float], work_time: float, duration: float, **kw: object
         ) -> tuple[EngineStats, list[tuple[int, int, float]]]:
    starts: list[tuple[int, int, float]] = []

    async def work(slot: int, i: int) -> None:
        starts.append((slot, i, asyncio.get_running_loop().time()))
        await asyncio.sleep(work_time)

    async def main() -> EngineStats:
        return await engine.run(due, work, duration=duration, **kw)  # type: ignore[arg-type]

    return run_virtual(main()), starts


@pytest.mark.parametrize(
    ("shape", "duration", "expected"),
    [
        (constant(5), 10, 50),
        (constant(50), 10, 500),
        (ramp(0, 10, "10s"), 10, 50),
        (stages([("5s", 10), ("5s", 0)]), 10, 50),
        (step_up(5, 5, "2s", steps=3), 6, 60),
        (spike(1, 21, at=2, hold=2, rise=1, after=2), 8, 68),
    ],
)
def test_schedule_counts_are_exact_for_each_shape(shape, duration, expected):
    due = list(schedule(shape, duration))
    engine = LoadEngine(users=1000)
    stats, starts = _run(engine, due, 0.01, duration)
    assert stats.planned == expected
    assert stats.started == expected
    assert stats.completed == expected
    assert stats.dropped == 0
    # virtual time: every iteration starts exactly when due
    assert [round(t, 9) for _, _, t in starts] == [round(t, 9) for t in due]


def test_open_model_does_not_wait_for_slow_iterations():
    # 10/s for 2 s, each iteration takes 1 s: a closed model would start far fewer
    due = list(schedule(constant(10), 2))
    stats, _ = _run(LoadEngine(users=100), due, 1.0, 2)
    assert stats.started == 20
    assert stats.peak_inflight == 10
    assert stats.overlapped_starts == 19
    assert stats.mean_inflight > 5


def test_dropped_counted_when_no_user_is_idle():
    due = list(schedule(constant(10), 2))
    stats, _ = _run(LoadEngine(users=3), due, 0.99, 2)
    # 3 users each busy 1 s: at most 3 start per second
    assert stats.started == 6
    assert stats.dropped_no_user == 14
    assert stats.dropped_cap == 0
    assert stats.planned == 20


def test_dropped_counted_when_cap_reached():
    due = list(schedule(constant(10), 2))
    stats, _ = _run(LoadEngine(users=50, max_inflight=2), due, 1.0, 2)
    assert stats.started == 4
    assert stats.dropped_cap == 16
    assert stats.peak_inflight == 2


def test_users_are_not_shared_by_concurrent_iterations():
    due = list(schedule(constant(20), 3))
    busy: set[int] = set()
    clashes = 0

    async def work(slot: int, i: int) -> None:
        nonlocal clashes
        if slot in busy:
            clashes += 1
        busy.add(slot)
        await asyncio.sleep(0.29)
        busy.discard(slot)

    async def main() -> EngineStats:
        return await LoadEngine(users=8).run(due, work, duration=3)

    stats = run_virtual(main())
    assert clashes == 0
    assert stats.started == 60
    assert stats.peak_inflight == 6


def test_rendezvous_releases_users_together():
    due = list(schedule(constant(10), 2, arrivals="rendezvous", burst=5))
    stats, starts = _run(LoadEngine(users=20), due, 0.05, 2)
    assert stats.started == 20
    assert stats.peak_inflight == 5
    times = sorted({round(t, 9) for _, _, t in starts})
    assert len(times) == 4


def test_stragglers_are_cancelled_after_grace_and_counted():
    due = list(schedule(constant(2), 1))
    stats, _ = _run(LoadEngine(users=5, grace=2.0), due, 100.0, 1)
    assert stats.started == 2
    assert stats.cancelled == 2
    assert stats.completed == 0
    assert stats.elapsed == pytest.approx(3.0)


def test_crashing_work_is_counted_not_raised():
    async def work(slot: int, i: int) -> None:
        raise RuntimeError("boom")

    async def main() -> EngineStats:
        return await LoadEngine(users=2).run(list(schedule(constant(4), 1)), work, duration=1)

    stats = run_virtual(main())
    assert stats.crashed == 4
    assert stats.completed == 0


def test_stop_ends_the_schedule_early():
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 5

    due = list(schedule(constant(10), 10))
    stats, _ = _run(LoadEngine(users=10), due, 0.01, 10, stop=stop)
    assert stats.started == 5
    assert stats.stopped_at == pytest.approx(0.55)


def test_lateness_is_recorded():
    # work that blocks the loop makes the next start late; the engine must measure it
    import time

    async def work(slot: int, i: int) -> None:
        time.sleep(0.002)  # noqa: ASYNC251 - blocking on purpose, to make the next start late

    async def main() -> EngineStats:
        return await LoadEngine(users=5).run([0.0, 0.0, 0.0], work, duration=1)

    stats = asyncio.run(main())
    assert stats.lateness.count == 3
    assert stats.lateness.max > 0


def test_bad_engine_arguments():
    with pytest.raises(EngineError, match="users must be >= 1"):
        LoadEngine(users=0)
    with pytest.raises(EngineError, match="max_inflight"):
        LoadEngine(users=1, max_inflight=0)


def test_engine_stats_round_trip():
    stats, _ = _run(LoadEngine(users=3), list(schedule(constant(5), 1)), 0.1, 1)
    back = EngineStats.from_dict(stats.to_dict())
    assert back == stats
    assert back.lateness.count == stats.lateness.count


def test_gc_is_quieter_during_runs_and_restored_after_overlapping_runs():
    import gc

    from fpt.run.engine import GC_THRESHOLD

    before = gc.get_threshold()
    seen: list[int] = []

    async def work(slot: int, i: int) -> None:
        seen.append(gc.get_threshold()[0])
        await asyncio.sleep(0.01 * (slot + 1))

    async def main() -> None:
        a = LoadEngine(users=2, grace=1).run(schedule(constant(40), 0.1), work, duration=0.1)
        b = LoadEngine(users=2, grace=1).run(schedule(constant(20), 0.2), work, duration=0.2)
        await asyncio.gather(a, b)  # they overlap and end in a different order than they began

    asyncio.run(main())
    assert seen
    assert min(seen) >= GC_THRESHOLD
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
