"""Circuit breaker transitions (gobreaker's machine) with CEL trip expressions."""

from __future__ import annotations

import pytest

from pydapr.resiliency import BreakerState, CircuitBreaker, CircuitBreakerOpen, Counts, TripRule

from .fakes import FakeTime


def make(
    fake: FakeTime,
    trip: str = "consecutiveFailures > 2",
    *,
    max_requests: int = 1,
    interval: float = 0.0,
    timeout: float = 30.0,
) -> tuple[CircuitBreaker, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        "cb",
        trip=TripRule(trip),
        max_requests=max_requests,
        interval=interval,
        timeout=timeout,
        clock=fake.clock,
        on_change=lambda _, old, new: changes.append((old.value, new.value)),
    )
    return breaker, changes


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read through a call: mypy would keep an asserted state narrowed


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.after(breaker.before(), False)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.after(breaker.before(), True)


def test_trips_when_the_expression_becomes_true_and_refuses_while_open() -> None:
    fake = FakeTime()
    breaker, changes = make(fake)
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN
    assert changes == [("closed", "open")]
    with pytest.raises(CircuitBreakerOpen, match="circuit breaker is open") as caught:
        breaker.before()
    assert not caught.value.too_many_requests


def test_a_success_resets_consecutive_failures() -> None:
    breaker, _ = make(FakeTime())
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.counts == Counts(requests=5, total_successes=1, total_failures=4, consecutive_failures=2)


def test_open_becomes_half_open_after_timeout_then_closes_on_success() -> None:
    fake = FakeTime()
    breaker, changes = make(fake, timeout=30.0)
    fail(breaker, 3)
    fake.advance(30.0)
    assert state(breaker) is BreakerState.OPEN  # gobreaker: strictly after the expiry
    fake.advance(0.001)
    assert state(breaker) is BreakerState.HALF_OPEN
    succeed(breaker)
    assert state(breaker) is BreakerState.CLOSED
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]
    assert breaker.counts == Counts()


def test_half_open_failure_opens_again_for_a_new_timeout() -> None:
    fake = FakeTime()
    breaker, changes = make(fake, timeout=10.0)
    fail(breaker, 3)
    fake.advance(10.5)
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN
    fake.advance(10.0)
    assert state(breaker) is BreakerState.OPEN
    fake.advance(0.5)
    assert state(breaker) is BreakerState.HALF_OPEN
    assert changes[-2:] == [("half-open", "open"), ("open", "half-open")]


def test_half_open_admits_max_requests_and_needs_that_many_successes() -> None:
    fake = FakeTime()
    breaker, _ = make(fake, max_requests=2, timeout=1.0)
    fail(breaker, 3)
    fake.advance(2.0)
    first = breaker.before()
    second = breaker.before()
    with pytest.raises(CircuitBreakerOpen, match="too many requests") as caught:
        breaker.before()
    assert caught.value.too_many_requests
    breaker.after(first, True)
    assert state(breaker) is BreakerState.HALF_OPEN
    breaker.after(second, True)
    assert state(breaker) is BreakerState.CLOSED


def test_counts_reset_every_interval_while_closed() -> None:
    fake = FakeTime()
    breaker, _ = make(fake, interval=5.0)
    fail(breaker, 2)
    fake.advance(5.1)
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.counts.total_failures == 2


def test_interval_zero_never_clears_counts() -> None:
    fake = FakeTime()
    breaker, _ = make(fake, trip="totalFailures >= 3")
    fail(breaker)
    succeed(breaker)
    fake.advance(10_000.0)
    fail(breaker)
    succeed(breaker)
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN


def test_results_from_an_older_generation_are_ignored() -> None:
    fake = FakeTime()
    breaker, _ = make(fake, interval=5.0)
    late = breaker.before()
    fake.advance(6.0)
    breaker.after(late, False)
    assert breaker.counts.total_failures == 0


@pytest.mark.parametrize(
    ("trip", "failures", "successes", "opens"),
    [
        ("requests > 3", 1, 2, False),
        ("requests > 3", 2, 2, True),
        ("totalFailures >= 2 && requests > 5", 2, 2, False),
        ("totalFailures >= 2 && requests > 3", 2, 2, True),
        ("totalSuccesses > 1 || consecutiveFailures > 9", 1, 2, True),
        ("totalSuccesses > 2 || consecutiveFailures > 9", 1, 2, False),
        ("consecutiveSuccesses == 0 && totalFailures == 1", 1, 0, True),
        ("consecutiveFailures > 0", 1, 0, True),
    ],
)
def test_trip_expressions_over_every_count(trip: str, failures: int, successes: int, opens: bool) -> None:
    breaker, _ = make(FakeTime(), trip)
    succeed(breaker, successes)
    fail(breaker, failures)
    assert (state(breaker) is BreakerState.OPEN) is opens


def test_trip_is_only_evaluated_on_a_failure() -> None:
    breaker, _ = make(FakeTime(), "requests > 1")
    succeed(breaker, 5)
    assert state(breaker) is BreakerState.CLOSED
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN


def test_a_trip_that_errors_or_is_not_bool_does_not_trip() -> None:
    for trip in ("unknownName > 1", "consecutiveFailures", "consecutiveFailures / 0 > 0"):
        breaker, _ = make(FakeTime(), trip)
        fail(breaker, 3)
        assert state(breaker) is BreakerState.CLOSED, trip


def test_a_trip_that_does_not_compile_is_refused() -> None:
    with pytest.raises(ValueError, match="does not compile"):
        TripRule("consecutiveFailures >")


def test_gobreaker_zero_values() -> None:
    breaker = CircuitBreaker("cb", trip=TripRule("true"), max_requests=0, timeout=0.0, clock=FakeTime().clock)
    assert (breaker.max_requests, breaker.timeout, breaker.interval) == (1, 60.0, 0.0)


def test_release_frees_a_half_open_slot() -> None:
    fake = FakeTime()
    breaker, _ = make(fake, timeout=1.0)
    fail(breaker, 3)
    fake.advance(2.0)
    breaker.release(breaker.before())
    succeed(breaker)
    assert state(breaker) is BreakerState.CLOSED
