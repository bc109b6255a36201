"""The W3C trace context of the call being handled, for what runs inside it: log lines carry its
trace id, outbound hops propagate it. Set by the tracing interceptor at each inbound interception
point; a ContextVar, so concurrent calls on one event loop each see their own.

This module is what the transports import (no OpenTelemetry here): reading the incoming context
(``traceparent``/``tracestate`` headers and metadata, gRPC's binary ``grpc-trace-bin``) and putting
the current one on an outgoing request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, Protocol

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
GRPC_TRACE_BIN = "grpc-trace-bin"
MAX_TRACESTATE_LEN = 512  # W3C and daprd: a longer tracestate is dropped

# "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", or "" outside any traced call.
current_traceparent: ContextVar[str] = ContextVar("pydapr_traceparent", default="")
# The vendor entries that travel with it ("" when none). The inbound transports set it for the
# tracing interceptor to read (the Call carries only the traceparent); the interceptor keeps it.
current_tracestate: ContextVar[str] = ContextVar("pydapr_tracestate", default="")

# version-traceid-parentid-flags, then (a later version's) more fields, each after a dash.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL)


class HeaderSetter(Protocol):
    def set(self, name: str, value: str) -> None: ...


def trace_id(traceparent: str | None = None) -> str:
    """The trace id of ``traceparent`` (the current call's when None), or "" when there is none."""
    value = current_traceparent.get() if traceparent is None else traceparent
    parts = value.split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return ""
    return parts[1]


def parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """(trace id, parent span id, flags) of a valid W3C traceparent, else None.

    As daprd (and the W3C rules): version ``ff`` is invalid, version 00 has exactly four fields,
    a later version may add fields; ids of all zeros are invalid; hex is lowercase."""
    # One C-level match instead of a split and a check per field: this runs on every traced hop.
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, tid, sid, flags, more = match.groups()
    if version == "ff" or (version == "00" and more is not None):
        return None
    trace, span = int(tid, 16), int(sid, 16)
    if trace == 0 or span == 0:
        return None
    return trace, span, int(flags, 16)


def format_traceparent(trace: int, span: int, flags: int) -> str:
    return f"00-{trace:032x}-{span:016x}-{flags & 0xFF:02x}"


def valid_tracestate(value: str) -> str:
    """``value`` when it is a tracestate daprd keeps (``key=value`` list within 512 chars), else ""."""
    value = value.strip()
    if not value or len(value) > MAX_TRACESTATE_LEN:
        return ""
    for member in value.split(","):
        entry = member.strip(" \t")
        if entry and entry.count("=") != 1:
            return ""
    return value


def traceparent_from_binary(data: bytes) -> str:
    """The traceparent of a ``grpc-trace-bin`` value (OpenCensus binary format), "" when invalid.

    Layout: version 0, then fields by id: 0 = trace id (16 bytes), 1 = span id (8), 2 = options (1)."""
    if len(data) < 29 or data[0] != 0 or data[1] != 0 or data[18] != 1:
        return ""
    trace = int.from_bytes(data[2:18], "big")
    span = int.from_bytes(data[19:27], "big")
    flags = data[28] if data[27] == 2 else 0
    if trace == 0 or span == 0:
        return ""
    return format_traceparent(trace, span, flags)


def binary_from_traceparent(traceparent: str) -> bytes:
    """The ``grpc-trace-bin`` value for a traceparent, b"" when it is not valid."""
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return b""
    trace, span, flags = parsed
    return (
        b"\x00\x00"
        + trace.to_bytes(16, "big")
        + b"\x01"
        + span.to_bytes(8, "big")
        + b"\x02"
        + bytes([flags & 1])
    )


def from_grpc_metadata(metadata: Iterable[tuple[str, Any]] | None) -> tuple[str, str]:
    """(traceparent, tracestate) of incoming gRPC metadata: ``grpc-trace-bin`` first, as daprd, then
    the ``traceparent`` text header (OpenTelemetry clients send only that)."""
    binary = text = state = ""
    for key, value in metadata or ():
        if key == GRPC_TRACE_BIN and isinstance(value, bytes) and not binary:
            binary = traceparent_from_binary(value)
        elif key == TRACEPARENT and isinstance(value, str) and not text:
            text = value
        elif key == TRACESTATE and isinstance(value, str) and not state:
            state = value
    return (binary or text), state


def inject_headers(headers: HeaderSetter) -> None:
    """Put the current trace context on an outgoing HTTP request (replacing what it carried: the
    next hop is a child of this call's span). Outside a traced call the request is left as it is,
    so a caller's own context passes through untouched."""
    traceparent = current_traceparent.get()
    if not traceparent:
        return
    headers.set(TRACEPARENT, traceparent)
    state = current_tracestate.get()
    if state:
        headers.set(TRACESTATE, state)


def add_trace_fields(fields: dict[str, str]) -> dict[str, str]:
    """``fields`` (header names to set on an outgoing request) with what ``inject_headers`` would
    set added last, in its order; for building a request's headers in one pass."""
    traceparent = current_traceparent.get()
    if traceparent:
        fields[TRACEPARENT] = traceparent
        state = current_tracestate.get()
        if state:
            fields[TRACESTATE] = state
    return fields


def with_trace(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` (a call's key/values, sent on as headers or gRPC metadata) with the current
    trace context set on it, as ``inject_headers`` does; the same dict outside a traced call."""
    traceparent = current_traceparent.get()
    if not traceparent:
        return metadata
    out = {**metadata, TRACEPARENT: traceparent}
    state = current_tracestate.get()
    if state:
        out[TRACESTATE] = state
    return out


def grpc_metadata() -> tuple[tuple[str, str | bytes], ...]:
    """The current trace context as outgoing gRPC metadata (text headers and ``grpc-trace-bin``),
    empty outside a traced call."""
    traceparent = current_traceparent.get()
    if not traceparent:
        return ()
    out: list[tuple[str, str | bytes]] = [(TRACEPARENT, traceparent)]
    binary = binary_from_traceparent(traceparent)
    if binary:
        out.append((GRPC_TRACE_BIN, binary))
    state = current_tracestate.get()
    if state:
        out.append((TRACESTATE, state))
    return tuple(out)


def with_grpc_trace(
    metadata: Iterable[tuple[str, str | bytes]],
) -> tuple[tuple[str, str | bytes], ...]:
    """``metadata`` with the current trace context replacing any it carried."""
    ours = grpc_metadata()
    if not ours:
        return tuple(metadata)
    drop = (TRACEPARENT, TRACESTATE, GRPC_TRACE_BIN)
    return (*((k, v) for k, v in metadata if k.lower() not in drop), *ours)
