"""Retry schedules: dapr/kit constant and exponential back-off (cenkalti/backoff arithmetic)."""

from __future__ import annotations

import pytest

from pydapr.resiliency import CodeRanges, RetrySchedule


def waits(schedule: RetrySchedule, count: int, rand: float = 0.5, elapsed: float = 0.0) -> list[float | None]:
    backoff = schedule.start(lambda: rand)
    return [backoff.next_wait(elapsed) for _ in range(count)]


def test_constant_waits_duration_until_max_retries() -> None:
    assert waits(RetrySchedule(duration=2.0, max_retries=3), 5) == [2.0, 2.0, 2.0, None, None]


def test_max_retries_zero_never_retries_and_minus_one_has_no_count_limit() -> None:
    assert waits(RetrySchedule(max_retries=0), 1) == [None]
    assert waits(RetrySchedule(duration=1.0, max_retries=-1), 1000)[-1] == 1.0


def test_exponential_grows_by_1_5_from_500ms_up_to_max_interval() -> None:
    # rand 0.5 is the middle of the randomization window: the bare interval.
    schedule = RetrySchedule(exponential=True, max_interval=2.0)
    assert waits(schedule, 6) == pytest.approx([0.5, 0.75, 1.125, 1.6875, 2.0, 2.0])


def test_exponential_randomization_is_plus_or_minus_half_the_interval() -> None:
    schedule = RetrySchedule(exponential=True)
    assert waits(schedule, 2, rand=0.0) == pytest.approx([0.25, 0.375])
    assert waits(schedule, 2, rand=1.0) == pytest.approx([0.75, 1.125])


def test_randomization_applies_after_the_cap_as_cenkalti() -> None:
    schedule = RetrySchedule(exponential=True, initial_interval=2.0, max_interval=2.0)
    assert waits(schedule, 2, rand=1.0) == pytest.approx([3.0, 3.0])


def test_exponential_stops_when_max_elapsed_would_be_passed() -> None:
    schedule = RetrySchedule(exponential=True, max_elapsed=10.0)
    backoff = schedule.start(lambda: 0.5)
    assert backoff.next_wait(9.0) == 0.5
    assert backoff.next_wait(9.3) is None  # 9.3 + 0.75 > 10


def test_constant_schedule_has_no_elapsed_limit() -> None:
    assert waits(RetrySchedule(duration=1.0), 1, elapsed=10_000.0) == [1.0]


def test_matching_filters_each_protocol_on_its_own() -> None:
    only_http = RetrySchedule(http_codes=CodeRanges("500-599", 100, 599))
    assert only_http.matches(503, None)
    assert not only_http.matches(404, None)
    assert only_http.matches(None, 3)  # gRPC codes are not filtered by an HTTP list (dapr#4568)
    assert only_http.matches(None, None)
    only_grpc = RetrySchedule(grpc_codes=CodeRanges("14", 0, 16))
    assert only_grpc.matches(None, 14)
    assert not only_grpc.matches(None, 13)
    assert only_grpc.matches(404, None)
