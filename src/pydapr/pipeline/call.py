"""The one description every call carries through the sidecar, whatever its direction.

Interceptors (tracing, metrics, access rules, Resiliency, API logging) read only this;
the bytes of the call stay with the transport that carries them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydapr.resiliency import Failure


class Direction(enum.StrEnum):
    """Where a call comes from and goes to, seen from this sidecar."""

    INBOUND_HTTP = "inbound.http"  # the public HTTP API
    INBOUND_GRPC = "inbound.grpc"  # the public gRPC API (unary and streaming)
    INBOUND_INTERNAL = "inbound.internal"  # another sidecar, for this sidecar's app
    INBOUND_COMPONENT = (
        "inbound.component"  # a pub/sub or input-binding event, to the app
    )
    OUTBOUND_APP = "outbound.app"  # this sidecar to its own app (HTTP or gRPC)
    OUTBOUND_COMPONENT = "outbound.component"  # one building-block operation on a component
    OUTBOUND_INVOKE = "outbound.invoke"  # service invocation of an app id (own, remote or external)
    OUTBOUND_ACTOR = "outbound.actor"  # an actor method call, routed to the actor's host (target: its type)
    INBOUND_ACTOR = "inbound.actor"  # another sidecar's actor method call, for an actor hosted here


# A job trigger's OUTBOUND_APP calls (their operation starts with one of JOB_OPERATIONS) have the
# target JOB_TRIGGER, the app's other calls the app id: a trigger starts its own trace, and only its
# chain carries that tracing step, so every other call to the app passes one step less.
JOB_OPERATIONS = ("/job/", "OnJobEvent")
JOB_TRIGGER = "<job trigger>"


@dataclass(slots=True)
class Call:
    """One call. ``target`` names what the chain was built for (the API group, app id or component);
    ``operation`` is the method, RPC or component operation; ``deadline`` is on ``time.monotonic``.

    ``classify`` tells a Resiliency policy which results are failures (an HTTP 500 answer is a
    result, not an exception); ``None`` means only exceptions fail.
    """

    direction: Direction
    target: str
    operation: str = ""
    caller: str = ""
    deadline: float | None = None
    trace: str = ""  # W3C traceparent, when the call has one
    classify: Callable[[Any], Failure | None] | None = None
    status: str = ""  # set by the transport as the call ends: an HTTP status or a gRPC code name
    instance: str = ""  # which one of the target the call is for: the actor id (OUTBOUND_ACTOR)
    # The API route that matched (INBOUND_HTTP: ``/v1.0/state/{storeName}/{key}``), set by the
    # transport as the call ends; "" when none did. Logs and metrics use it to bound cardinality.
    route: str = ""
    user_agent: str = ""  # the caller's User-Agent header / user-agent metadata, for the API log
    # The request's bytes (INBOUND_HTTP, INBOUND_GRPC, OUTBOUND_APP), for metrics; -1 when not
    # measured (a gRPC request stream).
    request_size: int = 0
    verb: str = ""  # the HTTP method of a call to the app over HTTP (OUTBOUND_APP), for metrics
    traces: tuple[str, ...] = ()  # a bulk delivery (INBOUND_COMPONENT): its entries' traceparents
    # The request, for what only some interceptors read: a unary INBOUND_GRPC call's undecoded bytes
    # or an INBOUND_HTTP call's Request (tracing's attributes), a gRPC OUTBOUND_APP call's message
    # (the sent-bytes metric); and a gRPC call's invocation metadata.
    request: Any = None
    metadata: Any = ()
