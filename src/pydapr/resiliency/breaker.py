"""Circuit breakers with sony/gobreaker's state machine, tripped by a CEL expression over its counts.

Closed: every request passes; a failure evaluates ``trip`` over the counts and opens the breaker when
it is true; with ``interval`` > 0 the counts start afresh every interval. Open: requests are refused
until ``timeout`` has passed, then the breaker is half-open. Half-open: ``max_requests`` requests
pass; that many consecutive successes close it, one failure opens it again. Every change of state
starts a new generation with zero counts, and results of requests begun in an older generation are
ignored, as in gobreaker.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BreakerState", "CircuitBreaker", "CircuitBreakerOpen", "Counts", "TripRule", "compile_trip"]

log = logging.getLogger("pydapr.resiliency")


@functools.cache
def _cel() -> Any:
    """The CEL environment, made on the first trip expression: importing cel-python and building its
    parser costs ~0.2 s, which a sidecar without circuit breakers must not pay at startup."""
    import celpy

    return celpy.Environment()


class BreakerState(enum.Enum):
    CLOSED = "closed"
    HALF_OPEN = "half-open"
    OPEN = "open"


# How long an inbound event (pub/sub message, input-binding event) an open breaker refused waits
# before it goes back to its component, so a broker that redelivers at once does not spin on it.
OPEN_BREAKER_PAUSE = 1.0


class CircuitBreakerOpen(Exception):
    """A circuit breaker refused the call: open, or half-open with its trial requests under way."""

    def __init__(self, name: str, *, too_many_requests: bool = False) -> None:
        reason = "too many requests" if too_many_requests else "circuit breaker is open"
        super().__init__(f"{reason} ({name})")
        self.breaker = name
        self.too_many_requests = too_many_requests


@dataclass(slots=True)
class Counts:
    requests: int = 0
    total_successes: int = 0
    total_failures: int = 0
    consecutive_successes: int = 0
    consecutive_failures: int = 0


class TripRule:
    """A compiled ``trip`` expression; an expression that errors or is not a bool does not trip."""

    __slots__ = ("_bool", "_int", "_program", "text")

    def __init__(self, text: str) -> None:
        from celpy.celtypes import BoolType, IntType

        self.text = text
        self._int = IntType
        self._bool = BoolType
        env = _cel()
        try:
            self._program: Any = env.program(env.compile(text))
        except Exception as exc:
            raise ValueError(f"trip expression {text!r} does not compile: {exc}") from None

    def __call__(self, counts: Counts) -> bool:
        cel_int = self._int
        try:
            result = self._program.evaluate(
                {
                    "requests": cel_int(counts.requests),
                    "totalSuccesses": cel_int(counts.total_successes),
                    "totalFailures": cel_int(counts.total_failures),
                    "consecutiveSuccesses": cel_int(counts.consecutive_successes),
                    "consecutiveFailures": cel_int(counts.consecutive_failures),
                }
            )
        except Exception:
            # Dapr: "We cannot assume it is safe to trip if the eval returns an error."
            return False
        return isinstance(result, self._bool) and bool(result)


_TRIPS: dict[str, TripRule] = {}


def compile_trip(text: str) -> TripRule:
    """A trip rule, compiled once per expression text (many breakers share a template)."""
    rule = _TRIPS.get(text)
    if rule is None:
        rule = _TRIPS[text] = TripRule(text)
    return rule


StateListener = Callable[["CircuitBreaker", BreakerState, BreakerState], None]


class CircuitBreaker:
    """One breaker instance: per app endpoint, component or actor, as the target's policy says."""

    __slots__ = (
        "_expiry",
        "_on_change",
        "clock",
        "counts",
        "generation",
        "interval",
        "max_requests",
        "name",
        "state_",
        "timeout",
        "trip",
    )

    def __init__(
        self,
        name: str,
        *,
        trip: TripRule,
        max_requests: int = 1,
        interval: float = 0.0,
        timeout: float = 60.0,
        clock: Callable[[], float],
        on_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self.trip = trip
        # gobreaker's zero values: one trial request, never clear while closed, 60s open.
        self.max_requests = max_requests if max_requests > 0 else 1
        self.interval = max(interval, 0.0)
        self.timeout = timeout if timeout > 0 else 60.0
        self.clock = clock
        self._on_change = on_change
        self.state_ = BreakerState.CLOSED
        self.generation = 0
        self.counts = Counts()
        self._expiry: float | None = None
        self._new_generation(clock())

    @property
    def state(self) -> BreakerState:
        state, _ = self._current(self.clock())
        return state

    def before(self) -> int:
        """Admit a request or raise ``CircuitBreakerOpen``; returns the generation to report to."""
        state, generation = self._current(self.clock())
        if state is BreakerState.OPEN:
            raise CircuitBreakerOpen(self.name)
        if state is BreakerState.HALF_OPEN and self.counts.requests >= self.max_requests:
            raise CircuitBreakerOpen(self.name, too_many_requests=True)
        self.counts.requests += 1
        return generation

    def after(self, generation: int, success: bool) -> None:
        now = self.clock()
        state, current = self._current(now)
        if current != generation:
            return
        c = self.counts
        if success:
            c.total_successes += 1
            c.consecutive_successes += 1
            c.consecutive_failures = 0
            if state is BreakerState.HALF_OPEN and c.consecutive_successes >= self.max_requests:
                self._set(BreakerState.CLOSED, now)
            return
        if state is BreakerState.CLOSED:
            c.total_failures += 1
            c.consecutive_failures += 1
            c.consecutive_successes = 0
            if self.trip(c):
                self._set(BreakerState.OPEN, now)
        elif state is BreakerState.HALF_OPEN:
            self._set(BreakerState.OPEN, now)

    def release(self, generation: int) -> None:
        """Forget an admitted request that ended without a result (the caller was cancelled).

        gobreaker has no such step; without it a cancelled trial request would hold a half-open
        breaker's only slot forever.
        """
        if generation == self.generation and self.counts.requests > 0:
            self.counts.requests -= 1

    def _current(self, now: float) -> tuple[BreakerState, int]:
        if self.state_ is BreakerState.CLOSED:
            if self._expiry is not None and self._expiry < now:
                self._new_generation(now)
        elif self.state_ is BreakerState.OPEN:
            assert self._expiry is not None
            if self._expiry < now:
                self._set(BreakerState.HALF_OPEN, now)
        return self.state_, self.generation

    def _set(self, state: BreakerState, now: float) -> None:
        if state is self.state_:
            return
        previous, self.state_ = self.state_, state
        self._new_generation(now)
        log.info('circuit breaker "%s" changed state from %s to %s', self.name, previous.value, state.value)
        if self._on_change is not None:
            self._on_change(self, previous, state)

    def _new_generation(self, now: float) -> None:
        self.generation += 1
        self.counts = Counts()
        if self.state_ is BreakerState.CLOSED:
            self._expiry = now + self.interval if self.interval > 0 else None
        elif self.state_ is BreakerState.OPEN:
            self._expiry = now + self.timeout
        else:
            self._expiry = None
