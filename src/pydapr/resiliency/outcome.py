"""How an attempt reports failure to the runner: a ``Failure`` value, raised or returned.

An operation fails in one of three ways, and the runner reads each the same way:

- it raises ``StatusError(failure)``: the call was answered with an HTTP status or gRPC code;
- it returns a result that the caller's ``classify(result)`` turns into a ``Failure`` (an HTTP
  response with status 503: the response is kept, and returned if no retry succeeds);
- it raises any other exception: a failure without a status code, retried as Dapr retries errors,
  unless wrapped in ``Permanent`` (then re-raised at once, unwrapped) or in ``NotAFailure`` (the
  caller's mistake: re-raised at once and not counted by the circuit breaker either).

Status codes are filtered by a retry policy's ``matching`` (``CodeRanges``); a failure without a
code is never filtered, as in Dapr (pkg/resiliency/retry.go).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "CodeRanges",
    "Failure",
    "NotAFailure",
    "Permanent",
    "StatusError",
    "failure_of",
    "grpc_failure",
    "http_failure",
    "parse_retry_after",
]

_GRPC_PUSHBACK = "grpc-retry-pushback-ms"  # gRFC A6: the server's wish for the client's next wait


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an attempt failed, as far as retry and circuit breaker care.

    ``retry_after`` is the wait in seconds the server asked for (HTTP ``Retry-After``, gRPC
    retry pushback); the runner waits at least that long before the next attempt. A ``permanent``
    failure is never retried; like every failure it counts against the circuit breaker.
    """

    http_status: int | None = None
    grpc_code: int | None = None
    retry_after: float | None = None
    permanent: bool = False


UNCODED = Failure()


class StatusError(Exception):
    """Raised by an operation whose call was answered with a failing status."""

    def __init__(self, failure: Failure, message: str = "") -> None:
        super().__init__(message or _describe(failure))
        self.failure = failure


class Permanent(Exception):
    """Wraps an exception that must not be retried; the runner re-raises ``error`` itself."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class NotAFailure(Exception):
    """Wraps an exception that is the caller's, not the target's (an ETag mismatch, a secret that
    does not exist): the runner re-raises ``error`` at once, without a retry, and the circuit
    breaker counts the attempt neither as a success nor as a failure."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _describe(failure: Failure) -> str:
    if failure.http_status is not None:
        return f"received HTTP status {failure.http_status}"
    if failure.grpc_code is not None:
        return f"received gRPC status code {failure.grpc_code}"
    return "operation failed"


def failure_of(exc: Exception) -> Failure:
    """The failure an exception stands for: its status if it carries one, else an uncoded one."""
    if isinstance(exc, StatusError):
        return exc.failure
    code = getattr(exc, "code", None)
    if callable(code) and hasattr(exc, "trailing_metadata"):  # grpc.aio.AioRpcError, grpc.Call
        try:
            status = code()
            metadata = exc.trailing_metadata()
        except Exception:
            return UNCODED
        value = getattr(status, "value", None)
        if isinstance(value, tuple) and value and isinstance(value[0], int):
            return grpc_failure(value[0], metadata or ()) or UNCODED
    return UNCODED


def http_failure(status: int, headers: Mapping[str, str] | None = None) -> Failure | None:
    """Read an HTTP answer as Dapr's service invocation does: a status outside 200-399 failed.

    ``Retry-After`` is honoured on 429 and 503, the statuses RFC 9110 and RFC 6585 give it to.
    """
    if 200 <= status <= 399:
        return None
    retry_after = None
    if status in (429, 503) and headers:
        for name, value in headers.items():
            if name.lower() == "retry-after":
                retry_after = parse_retry_after(value)
                break
    return Failure(http_status=status, retry_after=retry_after)


def grpc_failure(code: int, trailing_metadata: Iterable[tuple[str, str | bytes]] = ()) -> Failure | None:
    """Read a gRPC status code: OK (0) succeeded, any other failed; retry pushback is honoured."""
    if code == 0:
        return None
    retry_after = None
    for key, value in trailing_metadata:
        if key == _GRPC_PUSHBACK:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            if text.isdigit():
                retry_after = int(text) / 1000
            break
    return Failure(grpc_code=code, retry_after=retry_after)


def parse_retry_after(value: str, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date (RFC 9110 10.2.3).

    ``None`` for a value that is neither; a date in the past is 0. ``now`` is wall-clock time.
    """
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form without a zone is read as such
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class CodeRanges:
    """A ``matching`` code list such as ``"429,500-599"``; empty means every code matches."""

    __slots__ = ("_ranges", "text")

    def __init__(self, text: str, low: int, high: int) -> None:
        self.text = text
        ranges: list[tuple[int, int]] = []
        for pattern in text.split(","):
            if not pattern:
                continue  # Dapr skips empty entries ("500,,502" and a trailing comma)
            ends = pattern.split("-")
            if len(ends) > 2 or not all(end.isdigit() for end in ends):
                raise ValueError(f'"{pattern}" is not a code or a range of codes like 500-599')
            start, end = int(ends[0]), int(ends[-1])
            if not (low <= start <= high and low <= end <= high):
                raise ValueError(f'"{pattern}" is outside the codes {low}-{high}')
            if end < start:
                raise ValueError(f'"{pattern}" ends before it starts')
            ranges.append((start, end))
        self._ranges = tuple(ranges)

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __contains__(self, code: int) -> bool:
        if not self._ranges:
            return True
        return any(start <= code <= end for start, end in self._ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CodeRanges) and other._ranges == self._ranges

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __repr__(self) -> str:
        return f"CodeRanges({self.text!r})"
