"""Retry schedules as values: constant or exponential back-off, with dapr/kit's retry semantics.

dapr/kit ``retry.Config`` wraps cenkalti/backoff: a constant schedule waits ``duration`` every time;
an exponential one waits a random value within ``interval * (1 ± randomization)``, the interval
growing by ``multiplier`` up to ``max_interval`` and the whole run stopping once ``max_elapsed``
would be passed. ``max_retries`` -1 retries without a count limit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .outcome import CodeRanges

__all__ = ["Backoff", "RetrySchedule"]

_EVERY = CodeRanges("", 0, 0)


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """One retry policy. Defaults are dapr/kit ``retry.DefaultConfig``."""

    exponential: bool = False
    duration: float = 5.0
    initial_interval: float = 0.5
    randomization: float = 0.5
    multiplier: float = 1.5
    max_interval: float = 60.0
    max_elapsed: float | None = 900.0  # exponential only; cenkalti's DefaultMaxElapsedTime, 15 minutes
    max_retries: int = -1
    http_codes: CodeRanges = _EVERY
    grpc_codes: CodeRanges = _EVERY

    def start(self, rand: Callable[[], float] = random.random) -> Backoff:
        return Backoff(self, rand)

    def matches(self, http_status: int | None, grpc_code: int | None) -> bool:
        """Whether a failure with these codes may be retried under ``matching``."""
        if http_status is not None and http_status not in self.http_codes:
            return False
        return grpc_code is None or grpc_code in self.grpc_codes


class Backoff:
    """The waits of one run of a schedule; ``next_wait`` is ``None`` when no retry is left."""

    __slots__ = ("_interval", "_rand", "retries", "schedule")

    def __init__(self, schedule: RetrySchedule, rand: Callable[[], float]) -> None:
        self.schedule = schedule
        self.retries = 0
        self._interval = schedule.initial_interval
        self._rand = rand

    def next_wait(self, elapsed: float) -> float | None:
        """The wait before the next attempt, ``elapsed`` seconds after the first attempt began."""
        s = self.schedule
        if 0 <= s.max_retries <= self.retries:
            return None
        if not s.exponential:
            wait = s.duration
        else:
            delta = s.randomization * self._interval
            low = self._interval - delta
            wait = low + self._rand() * (2 * delta)
            if self._interval >= s.max_interval / s.multiplier:
                self._interval = s.max_interval
            else:
                self._interval *= s.multiplier
            if s.max_elapsed and elapsed + wait > s.max_elapsed:
                return None
        self.retries += 1
        return wait
