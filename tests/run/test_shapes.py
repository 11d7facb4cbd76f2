"""Load shapes and schedules: properties over many shapes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpt.run.shapes import Shape, constant, ramp, schedule, spike, stages, step_up

rates = st.floats(min_value=0, max_value=200, allow_nan=False)
durations = st.floats(min_value=0.1, max_value=60, allow_nan=False)


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    kind = draw(st.sampled_from(["constant", "ramp", "stages", "spike", "step_up"]))
    if kind == "constant":
        return constant(draw(rates))
    if kind == "ramp":
        return ramp(draw(rates), draw(rates), draw(durations))
    if kind == "stages":
        return stages(draw(st.lists(st.tuples(durations, rates), min_size=1, max_size=5)))
    if kind == "spike":
        return spike(draw(rates), draw(rates), at=draw(durations), hold=draw(durations),
                     after=draw(durations), rise=draw(durations))
    return step_up(draw(rates), draw(rates), draw(durations), steps=draw(st.integers(1, 6)))


@settings(max_examples=200, deadline=None)
@given(shape=shapes(), duration=durations)
def test_rate_is_never_negative(shape: Shape, duration: float) -> None:
    for seg in shape.over(duration):
        assert seg.start >= 0
        assert seg.end >= 0
    for k in range(50):
        assert shape.rate_at(duration * k / 50) >= 0


@settings(max_examples=200, deadline=None)
@given(shape=shapes(), duration=durations)
def test_uniform_count_is_the_integral_within_one(shape: Shape, duration: float) -> None:
    n = sum(1 for _ in itertools.islice(schedule(shape, duration), 200_000))
    assert abs(n - shape.total(duration)) <= 1


@settings(max_examples=100, deadline=None)
@given(shape=shapes(), duration=durations, burst=st.integers(1, 10))
def test_rendezvous_count_is_the_integral_within_one(shape: Shape, duration: float, burst: int) -> None:
    times = list(itertools.islice(schedule(shape, duration, arrivals="rendezvous", burst=burst), 200_000))
    assert abs(len(times) - shape.total(duration)) <= 1
    assert times == sorted(times)


@settings(max_examples=100, deadline=None)
@given(shape=shapes(), duration=durations)
def test_due_times_are_ordered_and_inside_the_run(shape: Shape, duration: float) -> None:
    times = list(itertools.islice(schedule(shape, duration), 200_000))
    assert times == sorted(times)
    assert all(0 <= t <= duration for t in times)


def test_poisson_is_reproducible_and_close_to_the_rate() -> None:
    a = list(schedule(constant(50), 20, arrivals="poisson", seed=7))
    b = list(schedule(constant(50), 20, arrivals="poisson", seed=7))
    assert a == b
    assert 900 < len(a) < 1100


def test_uniform_spacing_at_constant_rate() -> None:
    times = list(schedule(constant(5), 2))
    assert times == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9])


def test_unknown_arrivals_and_bad_rates() -> None:
    with pytest.raises(ValueError, match="arrivals must be one of uniform, poisson, rendezvous"):
        schedule(constant(1), 1, arrivals="bunched")
    with pytest.raises(ValueError, match="rate must be a number >= 0"):
        constant(-1)
    with pytest.raises(ValueError, match="stages must have at least one"):
        stages([])
    with pytest.raises(ValueError, match="steps must be >= 1"):
        step_up(1, 1, 1, steps=0)


def test_fixed_length_shapes() -> None:
    s = stages([("5s", 10), ("10s", 0)])
    assert s.fixed_length
    assert s.length == 15
    assert s.rate_at(2.5) == pytest.approx(5)
    assert s.peak == 10
    assert "stages" in s.describe()
