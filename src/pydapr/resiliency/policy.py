"""A resolved policy (timeout, retry, circuit breaker) and the one runner that applies it.

Layering is Dapr's (pkg/resiliency/policy.go): the retry loop is outermost; each attempt passes the
circuit breaker, and runs under the timeout, so a timed-out attempt counts as a breaker failure and
is retried. A refusing breaker ends the run at once, as Dapr marks it permanent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

import msgspec

from .backoff import Backoff, RetrySchedule
from .breaker import CircuitBreaker
from .outcome import Failure, NotAFailure, Permanent, failure_of

__all__ = ["Classify", "Policy", "PolicyEvent", "PolicyMetrics", "PolicyTimeout", "Timing"]

log = logging.getLogger("pydapr.resiliency")

T = TypeVar("T")
Classify = Callable[[T], Failure | None]


class PolicyTimeout(TimeoutError):
    """An attempt ran past the policy's timeout (or the caller's deadline) and was cancelled."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timeout after {seconds:g}s (resiliency)")
        self.seconds = seconds


class PolicyEvent(msgspec.Struct, frozen=True):
    """A policy did something: an attempt timed out, a retry was scheduled, a breaker moved.

    ``target`` is Dapr's metric label (``app_<id>``, ``actor_<type>``, ``<Type>_<component>``);
    ``attempt`` counts from 1 (the attempt that timed out or failed); ``state`` is a breaker's new state.
    """

    kind: Literal["timeout", "retry", "circuit_breaker"]
    target: str
    direction: Literal["inbound", "outbound"]
    attempt: int = 0
    state: str = ""
    previous_state: str = ""


EventSink = Callable[[PolicyEvent], None]


class PolicyMetrics(Protocol):
    """What a run tells Dapr's resiliency metrics (pydapr.observability.metrics.blocks.resiliency):
    that it applied its policies, that its timeout fired (once per run, as daprd), that it retried."""

    def executed(self, policy: Policy) -> None: ...

    def timed_out(self, policy: Policy) -> None: ...

    def retried(self, policy: Policy) -> None: ...


@dataclass(frozen=True, slots=True)
class Timing:
    """The clock, sleep and randomness policies use; tests pass fakes."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rand: Callable[[], float] = random.random


DEFAULT_TIMING = Timing()


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """What applies to one target. ``Policy()`` does nothing and costs about one await."""

    name: str = ""
    target: str = ""
    direction: Literal["inbound", "outbound"] = "outbound"
    timeout: float = 0.0  # seconds per attempt; 0 = none
    retry: RetrySchedule | None = None
    breaker: CircuitBreaker | None = None
    timing: Timing = DEFAULT_TIMING
    on_event: EventSink | None = field(default=None, repr=False)
    metrics: PolicyMetrics | None = field(default=None, repr=False)
    noop: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "noop", self.timeout <= 0 and self.retry is None and self.breaker is None)

    @property
    def has_retries(self) -> bool:
        """True when a failed attempt may be tried again (a request body must then be kept)."""
        return self.retry is not None and self.retry.max_retries != 0

    def run(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        classify: Classify[T] | None = None,
        deadline: float | None = None,
    ) -> Awaitable[T]:
        """Run ``operation`` under this policy (await the result); ``deadline`` is on ``timing.clock``.

        Returns the first successful result. When no attempt succeeds, the last attempt's outcome
        stands: its exception is raised, or its result (one ``classify`` called a failure) returned.
        Not a coroutine itself: the operation's (or the runner's) awaitable is returned, so a call
        run under a policy has one frame less for every await inside it to pass through.
        """
        if self.noop and deadline is None:
            return operation()
        return self._run(operation, classify, deadline)

    async def _run(
        self,
        operation: Callable[[], Awaitable[T]],
        classify: Classify[T] | None,
        deadline: float | None,
    ) -> T:
        clock = self.timing.clock
        start = clock()
        backoff = self.retry.start(self.timing.rand) if self.retry is not None else None
        breaker = self.breaker
        metrics = self.metrics
        if metrics is not None:
            metrics.executed(self)
        timed_out = False
        attempt = 0
        while True:
            attempt += 1
            limit = self.timeout if self.timeout > 0 else None
            if deadline is not None:
                remaining = deadline - clock()
                if remaining <= 0:
                    raise PolicyTimeout(0.0)
                limit = remaining if limit is None else min(limit, remaining)
            generation = breaker.before() if breaker is not None else 0
            error: Exception | None = None
            result: T | None = None
            try:
                # Without a time limit the attempt is the operation itself (no frame around it).
                result = await (operation() if limit is None else self._attempt(operation, limit, attempt))
            except Permanent as exc:
                if breaker is not None:
                    breaker.after(generation, False)
                raise exc.error from None
            except NotAFailure as exc:
                if breaker is not None:
                    breaker.release(generation)
                raise exc.error from None
            except Exception as exc:
                if breaker is not None:
                    breaker.after(generation, False)
                error = exc
                failure = failure_of(exc)
                if metrics is not None and isinstance(exc, PolicyTimeout) and not timed_out:
                    timed_out = self.timeout > 0  # a caller's deadline alone is no policy's timeout
                    if timed_out:
                        metrics.timed_out(self)
            except BaseException:
                if breaker is not None:
                    breaker.release(generation)
                raise
            else:
                try:
                    outcome = classify(result) if classify is not None else None
                except BaseException:
                    if breaker is not None:
                        breaker.after(generation, False)
                    raise
                if breaker is not None:
                    breaker.after(generation, outcome is None)
                if outcome is None:
                    if attempt > 1:
                        log.info("recovered processing operation %s after %d attempts", self.name, attempt)
                    return result
                failure = outcome
            wait = self._next_wait(backoff, failure, start, deadline)
            if wait is None:
                if error is not None:
                    raise error
                return result  # type: ignore[return-value]  # a classified result
            self._emit("retry", attempt)
            if metrics is not None:
                metrics.retried(self)
            if attempt == 1:
                log.warning("error processing operation %s; retrying in %.3gs", self.name, wait)
            log.debug("operation %s attempt %d failed: %s", self.name, attempt, error or failure)
            await self.timing.sleep(wait)

    def _next_wait(
        self,
        backoff: Backoff | None,
        failure: Failure,
        start: float,
        deadline: float | None,
    ) -> float | None:
        if backoff is None or failure.permanent:
            return None
        retry = self.retry
        assert retry is not None
        if not retry.matches(failure.http_status, failure.grpc_code):
            return None
        now = self.timing.clock()
        wait = backoff.next_wait(now - start)
        if wait is None:
            return None
        if failure.retry_after is not None and failure.retry_after > wait:
            wait = failure.retry_after
        if deadline is not None and now + wait >= deadline:
            return None  # the next attempt could not start in time: stop now rather than sleep
        return wait

    async def _attempt(self, operation: Callable[[], Awaitable[T]], limit: float, attempt: int) -> T:
        timeout = asyncio.timeout(limit)
        try:
            async with timeout:
                return await operation()
        except TimeoutError:
            if not timeout.expired():
                raise
            self._emit("timeout", attempt)
            raise PolicyTimeout(limit) from None

    def _emit(self, kind: Literal["timeout", "retry"], attempt: int) -> None:
        if self.on_event is not None:
            self.on_event(PolicyEvent(kind, self.target, self.direction, attempt=attempt))
