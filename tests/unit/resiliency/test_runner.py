"""The one runner: timeout per attempt, retries with matching and Retry-After, breaker, events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

import pytest

from pydapr.resiliency import (
    BreakerState,
    CircuitBreaker,
    CircuitBreakerOpen,
    CodeRanges,
    Failure,
    Permanent,
    Policy,
    PolicyEvent,
    PolicyTimeout,
    RetrySchedule,
    StatusError,
    TripRule,
    http_failure,
)

from .fakes import FakeTime


class Script:
    """An operation that plays a list of outcomes: a value is returned, an exception raised."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def policy(fake: FakeTime, **kwargs: object) -> Policy:
    return Policy(name="test", target="app_b", timing=fake.timing(), on_event=fake.events.append, **kwargs)  # type: ignore[arg-type]


def status(code: int, retry_after: float | None = None) -> StatusError:
    return StatusError(Failure(http_status=code, retry_after=retry_after))


def grpc_status(code: int) -> StatusError:
    return StatusError(Failure(grpc_code=code))


async def test_empty_policy_runs_the_operation_once_and_returns_its_result() -> None:
    op = Script("ok")
    assert Policy().noop
    assert await Policy().run(op) == "ok"
    assert op.calls == 1


async def test_empty_policy_lets_exceptions_through_untouched() -> None:
    error = ConnectionError("down")
    with pytest.raises(ConnectionError) as caught:
        await Policy().run(Script(error))
    assert caught.value is error


async def test_retries_until_success_with_constant_waits() -> None:
    fake = FakeTime()
    op = Script(ConnectionError(), ConnectionError(), "ok")
    result = await policy(fake, retry=RetrySchedule(duration=2.0, max_retries=3)).run(op)
    assert (result, op.calls, fake.waits) == ("ok", 3, [2.0, 2.0])
    assert [(e.kind, e.attempt) for e in fake.events] == [("retry", 1), ("retry", 2)]


async def test_exhausted_retries_raise_the_last_exception() -> None:
    fake = FakeTime()
    last = ConnectionError("third")
    op = Script(ConnectionError("first"), ConnectionError("second"), last)
    with pytest.raises(ConnectionError) as caught:
        await policy(fake, retry=RetrySchedule(duration=1.0, max_retries=2)).run(op)
    assert caught.value is last
    assert op.calls == 3


async def test_max_retries_zero_is_one_attempt() -> None:
    fake = FakeTime()
    op = Script(ConnectionError())
    p = policy(fake, retry=RetrySchedule(max_retries=0))
    assert not p.has_retries
    with pytest.raises(ConnectionError):
        await p.run(op)
    assert op.calls == 1


async def test_classified_results_are_retried_and_the_last_one_returned() -> None:
    fake = FakeTime()
    op = Script((503, {}), (500, {}), (502, {}))

    def classify(response: object) -> Failure | None:
        return http_failure(*cast(tuple[int, dict[str, str]], response))

    result = await policy(fake, retry=RetrySchedule(duration=1.0, max_retries=2)).run(op, classify=classify)
    assert result == (502, {})
    assert op.calls == 3


async def test_a_classified_success_stops_retrying() -> None:
    fake = FakeTime()
    op = Script((500, {}), (404, {}), (200, {}))

    def classify(response: object) -> Failure | None:
        return http_failure(*cast(tuple[int, dict[str, str]], response))

    p = policy(
        fake, retry=RetrySchedule(duration=1.0, max_retries=5, http_codes=CodeRanges("500-599", 100, 599))
    )
    assert await p.run(op, classify=classify) == (404, {})  # 404 is not in matching: returned at once
    assert op.calls == 2


async def test_permanent_wrapped_exceptions_stop_at_once_and_are_unwrapped() -> None:
    fake = FakeTime()
    inner = KeyError("etag mismatch")
    op = Script(Permanent(inner), "never")
    with pytest.raises(KeyError) as caught:
        await policy(fake, retry=RetrySchedule(duration=1.0)).run(op)
    assert caught.value is inner
    assert op.calls == 1


async def test_permanent_failures_stop_at_once() -> None:
    fake = FakeTime()
    op = Script(StatusError(Failure(grpc_code=14, permanent=True)), "never")
    with pytest.raises(StatusError):
        await policy(fake, retry=RetrySchedule(duration=1.0)).run(op)
    assert op.calls == 1


@pytest.mark.parametrize(
    ("http", "grpc", "error", "retried"),
    [
        ("500-599", "", status(503), True),
        ("500-599", "", status(404), False),
        ("429,500-599", "", status(429), True),
        ("429,500-599", "", status(428), False),
        ("", "", status(404), True),  # no matching: every code is retried, as Dapr
        ("500-599", "", grpc_status(5), True),  # an HTTP list does not filter gRPC codes
        ("", "14", grpc_status(14), True),
        ("", "14", grpc_status(13), False),
        ("", "4,8-11,13,14", grpc_status(9), True),
        ("", "14", status(500), True),
        ("500", "14", ConnectionError(), True),  # no code: never filtered
    ],
)
async def test_matching_retries_only_the_codes_it_names(
    http: str, grpc: str, error: Exception, retried: bool
) -> None:
    fake = FakeTime()
    schedule = RetrySchedule(
        duration=1.0, max_retries=1, http_codes=CodeRanges(http, 100, 599), grpc_codes=CodeRanges(grpc, 0, 16)
    )
    op = Script(error, "ok")
    if retried:
        assert await policy(fake, retry=schedule).run(op) == "ok"
    else:
        with pytest.raises(type(error)):
            await policy(fake, retry=schedule).run(op)
    assert op.calls == (2 if retried else 1)


async def test_retry_after_is_the_minimum_wait() -> None:
    fake = FakeTime()
    op = Script(status(429, retry_after=7.0), status(503, retry_after=0.5), "ok")
    assert await policy(fake, retry=RetrySchedule(duration=2.0)).run(op) == "ok"
    assert fake.waits == [7.0, 2.0]


async def test_retry_after_past_the_deadline_gives_up_at_once() -> None:
    fake = FakeTime()
    op = Script(status(503, retry_after=60.0), "ok")
    with pytest.raises(StatusError):
        await policy(fake, retry=RetrySchedule(duration=1.0)).run(op, deadline=fake.now + 30.0)
    assert (op.calls, fake.waits) == (1, [])


async def test_retries_stop_when_the_next_attempt_would_start_after_the_deadline() -> None:
    fake = FakeTime()
    op = Script(ConnectionError(), ConnectionError(), ConnectionError(), "ok")
    with pytest.raises(ConnectionError):
        await policy(fake, retry=RetrySchedule(duration=2.0)).run(op, deadline=fake.now + 5.0)
    assert fake.waits == [2.0, 2.0]


async def test_a_passed_deadline_runs_nothing() -> None:
    fake = FakeTime()
    op = Script("ok")
    with pytest.raises(PolicyTimeout):
        await Policy(timing=fake.timing()).run(op, deadline=fake.now)
    assert op.calls == 0


async def test_exponential_waits_grow() -> None:
    fake = FakeTime()
    op = Script(*[ConnectionError()] * 4, "ok")
    await policy(fake, retry=RetrySchedule(exponential=True, max_interval=1.0)).run(op)
    assert fake.waits == pytest.approx([0.5, 0.75, 1.0, 1.0])


def _hang() -> Callable[[], Awaitable[object]]:
    state = {"cancelled": 0}

    async def hang() -> object:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            state["cancelled"] += 1
            raise
        return None

    hang.state = state  # type: ignore[attr-defined]
    return hang


async def test_timeout_cancels_the_attempt() -> None:
    hang = _hang()
    fake = FakeTime()
    with pytest.raises(PolicyTimeout, match=r"timeout after 0\.005s"):
        await policy(fake, timeout=0.005).run(hang)
    assert hang.state == {"cancelled": 1}  # type: ignore[attr-defined]
    assert [(e.kind, e.attempt) for e in fake.events] == [("timeout", 1)]


async def test_timeout_applies_to_each_attempt_and_timed_out_attempts_are_retried() -> None:
    fake = FakeTime()
    calls = 0

    async def slow_then_fast() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            await asyncio.Event().wait()
        return "ok"

    p = policy(fake, timeout=0.005, retry=RetrySchedule(duration=0.0, max_retries=3))
    assert await p.run(slow_then_fast) == "ok"
    assert calls == 3
    assert [e.kind for e in fake.events] == ["timeout", "retry", "timeout", "retry"]


async def test_an_operation_raising_timeout_error_itself_is_not_a_policy_timeout() -> None:
    fake = FakeTime()
    own = TimeoutError("backend said so")
    with pytest.raises(TimeoutError) as caught:
        await policy(fake, timeout=5.0).run(Script(own))
    assert caught.value is own


async def test_deadline_bounds_the_attempt_when_shorter_than_the_timeout() -> None:
    fake = FakeTime()
    with pytest.raises(PolicyTimeout, match=r"after 0\.005s"):
        await policy(fake, timeout=10.0).run(_hang(), deadline=fake.now + 0.005)


def _breaker(fake: FakeTime, trip: str = "consecutiveFailures >= 2", timeout: float = 10.0) -> CircuitBreaker:
    def changed(_: CircuitBreaker, old: BreakerState, new: BreakerState) -> None:
        fake.events.append(
            PolicyEvent("circuit_breaker", "app_b", "outbound", state=new.value, previous_state=old.value)
        )

    return CircuitBreaker("cb", trip=TripRule(trip), timeout=timeout, clock=fake.clock, on_change=changed)


async def test_breaker_opens_and_then_refuses_without_calling() -> None:
    fake = FakeTime()
    p = policy(fake, breaker=_breaker(fake))
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await p.run(Script(ConnectionError()))
    op = Script("ok")
    with pytest.raises(CircuitBreakerOpen):
        await p.run(op)
    assert op.calls == 0
    assert fake.events == [
        PolicyEvent("circuit_breaker", "app_b", "outbound", state="open", previous_state="closed")
    ]


async def test_breaker_opening_during_retries_ends_the_run_with_circuit_breaker_open() -> None:
    fake = FakeTime()
    p = policy(fake, breaker=_breaker(fake), retry=RetrySchedule(duration=1.0, max_retries=10))
    op = Script(ConnectionError(), ConnectionError(), "never")
    with pytest.raises(CircuitBreakerOpen):
        await p.run(op)
    assert op.calls == 2


async def test_breaker_counts_timeouts_and_classified_failures() -> None:
    fake = FakeTime()
    breaker = _breaker(fake, trip="totalFailures >= 2")
    p = policy(fake, breaker=breaker, timeout=0.005)
    with pytest.raises(PolicyTimeout):
        await p.run(_hang())
    assert await p.run(Script(500), classify=lambda _: Failure(http_status=500)) == 500
    assert breaker.state is BreakerState.OPEN


async def test_breaker_half_open_trial_success_closes_it() -> None:
    fake = FakeTime()
    breaker = _breaker(fake, timeout=10.0)
    p = policy(fake, breaker=breaker)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await p.run(Script(ConnectionError()))
    fake.advance(11.0)
    assert await p.run(Script("ok")) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert [e.state for e in fake.events] == ["open", "half-open", "closed"]


async def test_permanent_failures_still_count_against_the_breaker() -> None:
    fake = FakeTime()
    breaker = _breaker(fake, trip="consecutiveFailures >= 1")
    with pytest.raises(KeyError):
        await policy(fake, breaker=breaker).run(Script(Permanent(KeyError("x"))))
    assert breaker.state is BreakerState.OPEN


async def test_cancelled_caller_releases_the_half_open_slot() -> None:
    fake = FakeTime()
    breaker = _breaker(fake, timeout=1.0)
    p = policy(fake, breaker=breaker)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await p.run(Script(ConnectionError()))
    fake.advance(2.0)
    task = asyncio.create_task(p.run(_hang()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await p.run(Script("ok")) == "ok"
    assert breaker.state is BreakerState.CLOSED


async def test_caller_cancellation_is_never_retried() -> None:
    fake = FakeTime()
    hang = _hang()
    task = asyncio.create_task(policy(fake, retry=RetrySchedule(duration=0.0)).run(hang))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hang.state == {"cancelled": 1}  # type: ignore[attr-defined]
    assert fake.events == []


async def test_a_deadline_alone_bounds_an_otherwise_empty_policy() -> None:
    fake = FakeTime()
    with pytest.raises(PolicyTimeout, match=r"after 0\.005s"):
        await Policy(timing=fake.timing()).run(_hang(), deadline=fake.now + 0.005)


async def test_a_classify_that_raises_counts_as_a_breaker_failure() -> None:
    fake = FakeTime()
    breaker = _breaker(fake, trip="consecutiveFailures >= 1")

    def broken(_: object) -> Failure | None:
        raise ValueError("bad body")

    with pytest.raises(ValueError, match="bad body"):
        await policy(fake, breaker=breaker, retry=RetrySchedule(duration=1.0)).run(
            Script("x"), classify=broken
        )
    assert breaker.state is BreakerState.OPEN
