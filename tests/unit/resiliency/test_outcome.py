"""How failures are read: status codes, matching ranges, Retry-After and gRPC retry pushback."""

from __future__ import annotations

import email.utils

import grpc
import pytest

from pydapr.resiliency import (
    CodeRanges,
    Failure,
    StatusError,
    failure_of,
    grpc_failure,
    http_failure,
    parse_retry_after,
)


def test_code_ranges_single_codes_and_inclusive_ranges() -> None:
    ranges = CodeRanges("429,500-503", 100, 599)
    assert [code for code in (428, 429, 430, 499, 500, 502, 503, 504) if code in ranges] == [
        429,
        500,
        502,
        503,
    ]


def test_empty_code_ranges_match_every_code_as_dapr() -> None:
    ranges = CodeRanges("", 100, 599)
    assert not ranges
    assert 404 in ranges and 500 in ranges


def test_empty_entries_are_skipped_as_dapr() -> None:
    ranges = CodeRanges("500,,502,", 100, 599)
    assert 500 in ranges and 502 in ranges and 501 not in ranges


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("404-405-500", "not a code"),
        ("abc", "not a code"),
        ("-1", "not a code"),
        ("15", "outside"),
        ("500-600", "outside"),
        ("599-500", "ends before"),
    ],
)
def test_invalid_code_ranges_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        CodeRanges(text, 100, 599)


def test_grpc_code_bounds_are_0_to_16() -> None:
    assert 0 in CodeRanges("0-16", 0, 16)
    with pytest.raises(ValueError, match="outside"):
        CodeRanges("17", 0, 16)


def test_http_failure_reads_status_as_dapr_service_invocation() -> None:
    assert http_failure(200) is None
    assert http_failure(302) is None
    assert http_failure(399) is None
    assert http_failure(199) == Failure(http_status=199)
    assert http_failure(404) == Failure(http_status=404)
    assert http_failure(500, {"Retry-After": "7"}) == Failure(http_status=500)  # only 429 and 503


def test_http_failure_reads_retry_after_on_429_and_503() -> None:
    assert http_failure(429, {"retry-after": "3"}) == Failure(http_status=429, retry_after=3.0)
    assert http_failure(503, {"Retry-After": "120"}) == Failure(http_status=503, retry_after=120.0)
    assert http_failure(503, {"Retry-After": "soon"}) == Failure(http_status=503)


def test_parse_retry_after_delta_seconds_and_http_date() -> None:
    assert parse_retry_after(" 5 ") == 5.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("-3") is None
    assert parse_retry_after("1.5") is None
    assert parse_retry_after("") is None


def test_grpc_failure_reads_code_and_retry_pushback() -> None:
    assert grpc_failure(0) is None
    assert grpc_failure(14) == Failure(grpc_code=14)
    assert grpc_failure(8, [("grpc-retry-pushback-ms", "250")]) == Failure(grpc_code=8, retry_after=0.25)
    assert grpc_failure(8, [("grpc-retry-pushback-ms", b"1500")]) == Failure(grpc_code=8, retry_after=1.5)
    assert grpc_failure(8, [("grpc-retry-pushback-ms", "-1")]) == Failure(grpc_code=8)


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, trailers: tuple[tuple[str, str], ...] = ()) -> None:
        self._code = code
        self._trailers = trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailers


def test_failure_of_reads_status_errors_grpc_errors_and_plain_exceptions() -> None:
    assert failure_of(StatusError(Failure(http_status=502))) == Failure(http_status=502)
    assert failure_of(_RpcError(grpc.StatusCode.UNAVAILABLE)) == Failure(grpc_code=14)
    pushed = _RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, (("grpc-retry-pushback-ms", "100"),))
    assert failure_of(pushed) == Failure(grpc_code=8, retry_after=0.1)
    assert failure_of(ConnectionResetError()) == Failure()
    assert str(StatusError(Failure(http_status=502))) == "received HTTP status 502"


def test_failure_of_reads_a_real_grpc_aio_error() -> None:
    error = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(("grpc-retry-pushback-ms", "40"))
    )
    assert failure_of(error) == Failure(grpc_code=14, retry_after=0.04)
