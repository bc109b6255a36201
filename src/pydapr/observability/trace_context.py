"""The W3C trace context of the call being handled, for what runs inside it: log lines carry its
trace id, outbound hops propagate it. Set by the tracing interceptor at each inbound interception
point; a ContextVar, so concurrent calls on one event loop each see their own."""

from __future__ import annotations

from contextvars import ContextVar

# "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", or "" outside any traced call.
current_traceparent: ContextVar[str] = ContextVar("pydapr_traceparent", default="")


def trace_id(traceparent: str | None = None) -> str:
    """The trace id of ``traceparent`` (the current call's when None), or "" when there is none."""
    value = current_traceparent.get() if traceparent is None else traceparent
    parts = value.split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return ""
    return parts[1]
