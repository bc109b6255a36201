"""W3C trace context and gRPC's binary form: what is accepted, what is refused, what is sent."""

from __future__ import annotations

import pytest

from pydapr.http.messages import Headers
from pydapr.observability import trace_context as tc

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{SPAN}-01"


def test_a_valid_traceparent_parses_and_formats_back() -> None:
    parsed = tc.parse_traceparent(VALID)
    assert parsed == (int(TRACE, 16), int(SPAN, 16), 1)
    assert tc.format_traceparent(*parsed) == VALID


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"ff-{TRACE}-{SPAN}-01",  # version ff is forbidden
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE}-{SPAN}-01-",  # ... not even an empty fifth
        f"00-{TRACE}-{SPAN}-011",
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero span id
        f"00-{TRACE.upper()}-{SPAN}-01",  # uppercase hex
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-1",
        f"0x-{TRACE}-{SPAN}-01",
    ],
)
def test_invalid_traceparents_are_refused(value: str) -> None:
    assert tc.parse_traceparent(value) is None


def test_a_later_version_may_carry_more_fields() -> None:
    for value in (f"01-{TRACE}-{SPAN}-01-more", f"cc-{TRACE}-{SPAN}-01-", f"01-{TRACE}-{SPAN}-01-a-b\nc"):
        assert tc.parse_traceparent(value) == (int(TRACE, 16), int(SPAN, 16), 1), value


def test_surrounding_whitespace_is_ignored() -> None:
    assert tc.parse_traceparent(f" \t{VALID}\n") == (int(TRACE, 16), int(SPAN, 16), 1)


def test_grpc_trace_bin_round_trips() -> None:
    binary = tc.binary_from_traceparent(VALID)
    assert len(binary) == 29 and binary[0] == 0
    assert tc.traceparent_from_binary(binary) == VALID
    assert tc.binary_from_traceparent("nonsense") == b""


@pytest.mark.parametrize("data", [b"", b"\x00" * 10, b"\x01" + b"\x00" * 28, b"\x00" * 29])
def test_malformed_grpc_trace_bin_is_ignored(data: bytes) -> None:
    assert tc.traceparent_from_binary(data) == ""


def test_grpc_metadata_prefers_the_binary_header_as_daprd() -> None:
    other = f"00-{'1' * 32}-{'2' * 16}-00"
    metadata = [
        ("traceparent", other),
        ("grpc-trace-bin", tc.binary_from_traceparent(VALID)),
        ("tracestate", "a=b"),
    ]
    assert tc.from_grpc_metadata(metadata) == (VALID, "a=b")
    assert tc.from_grpc_metadata([("traceparent", other)]) == (other, "")
    assert tc.from_grpc_metadata(None) == ("", "")


@pytest.mark.parametrize(
    ("value", "kept"),
    [("a=1,b=2", "a=1,b=2"), (" a=1 , b=2 ", "a=1 , b=2"), ("novalue", ""), ("a=" + "x" * 600, "")],
)
def test_tracestate_is_kept_only_when_well_formed(value: str, kept: str) -> None:
    assert tc.valid_tracestate(value) == kept


def test_outside_a_traced_call_requests_keep_what_they_carry() -> None:
    headers = Headers([("traceparent", VALID)])
    tc.inject_headers(headers)
    assert headers.get("traceparent") == VALID
    assert tc.grpc_metadata() == ()
    assert tc.with_grpc_trace([("traceparent", VALID)]) == (("traceparent", VALID),)


def test_inside_a_traced_call_the_current_context_replaces_the_carried_one() -> None:
    mine = f"00-{TRACE}-{'a' * 16}-01"
    parent = tc.current_traceparent.set(mine)
    state = tc.current_tracestate.set("v=1")
    try:
        headers = Headers([("traceparent", VALID)])
        tc.inject_headers(headers)
        assert headers.get("traceparent") == mine and headers.get("tracestate") == "v=1"
        metadata = dict(tc.with_grpc_trace([("traceparent", VALID), ("x", "y")]))
        assert metadata["traceparent"] == mine and metadata["x"] == "y" and metadata["tracestate"] == "v=1"
        assert tc.traceparent_from_binary(metadata["grpc-trace-bin"]) == mine  # type: ignore[arg-type]
        assert tc.trace_id() == TRACE
    finally:
        tc.current_traceparent.reset(parent)
        tc.current_tracestate.reset(state)
    assert tc.trace_id() == ""
