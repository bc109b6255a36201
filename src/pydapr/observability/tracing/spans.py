"""What a span is called and what it says, per interception point, as daprd names its spans
(pkg/diagnostics/http_tracing.go, grpc_tracing.go, consts)."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from pydapr.pipeline import Call, Direction

# Attribute keys (daprd's diagnostics/consts, OpenTelemetry semantic conventions 1.25).
DB_SYSTEM = "db.system"
DB_NAME = "db.name"
DB_STATEMENT = "db.statement"
DB_CONNECTION_STRING = "db.connection_string"
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_DESTINATION = "messaging.destination.name"
RPC_SERVICE = "rpc.service"
NET_PEER_NAME = "net.peer.name"
RPC_SYSTEM = "rpc.system"
DAPR_API = "dapr.api"
DAPR_STATUS_CODE = "dapr.status_code"
DAPR_PROTOCOL = "dapr.protocol"
DAPR_INVOKE_METHOD = "dapr.invoke_method"
DAPR_ACTOR = "dapr.actor"

SERVICE_INVOCATION = "ServiceInvocation"
DAPR_SERVICE = "Dapr"
_DB_GROUPS = {"state": "state", "secrets": "secrets", "bindings": "bindings"}
_GRPC_DB = {
    "GetState": "state",
    "GetBulkState": "state",
    "SaveState": "state",
    "DeleteState": "state",
    "DeleteBulkState": "state",
    "ExecuteStateTransaction": "state",
    "QueryStateAlpha1": "state",
    "GetSecret": "secrets",
    "GetBulkSecret": "secrets",
    "InvokeBinding": "bindings",
}

Attributes = dict[str, str]


def http_span(call: Call) -> tuple[str, Attributes]:
    """An INBOUND_HTTP call (``operation`` = ``"<verb> <path>"``): the span is named by the path, a
    service invocation ``CallLocal/<app id>/<method>``; attributes by the API the path names."""
    _, _, path = call.operation.partition(" ")
    parts = path.split("/")  # "", "v1.0", group, component/app, ...
    group = call.target
    attrs: Attributes = {DAPR_PROTOCOL: "http", DAPR_API: call.operation}
    name = path
    if group in _DB_GROUPS and len(parts) > 3:
        system = _DB_GROUPS[group]
        attrs.update(
            {DB_SYSTEM: system, DB_NAME: parts[3], DB_STATEMENT: call.operation, DB_CONNECTION_STRING: system}
        )
    elif group == "invoke" and len(parts) > 5 and parts[4] == "method":
        target, method = parts[3], "/".join(parts[5:])
        attrs.update({RPC_SERVICE: SERVICE_INVOCATION, NET_PEER_NAME: target, DAPR_INVOKE_METHOD: method})
        name = f"CallLocal/{target}/{method}"
    elif group == "publish" and len(parts) > 4:
        attrs.update({MESSAGING_SYSTEM: "pubsub", MESSAGING_DESTINATION: "/".join(parts[4:])})
    return name, attrs


def grpc_span(call: Call) -> tuple[str, Attributes]:
    """An INBOUND_GRPC call: named by the full method, as daprd before it reads the request."""
    method = call.target
    short = method.rsplit("/", 1)[-1]
    attrs: Attributes = {DAPR_PROTOCOL: "grpc", DAPR_API: method, RPC_SERVICE: DAPR_SERVICE}
    if short == "InvokeService":
        attrs[RPC_SERVICE] = SERVICE_INVOCATION
    elif short in ("PublishEvent", "BulkPublishEvent", "BulkPublishEventAlpha1"):
        attrs[MESSAGING_SYSTEM] = "pubsub"
    elif short in _GRPC_DB:
        system = _GRPC_DB[short]
        attrs.update({DB_SYSTEM: system, DB_STATEMENT: method, DB_CONNECTION_STRING: system})
    return method, attrs


# What a gRPC API request adds to its span, as daprd's AppendSpanAttributes (pkg/proto/runtime/v1/
# dapr_tracing.go): RPC -> (request message, attribute, the request's field).
_FROM_REQUEST = {
    "GetState": ("GetStateRequest", DB_NAME, "store_name"),
    "SaveState": ("SaveStateRequest", DB_NAME, "store_name"),
    "DeleteState": ("DeleteStateRequest", DB_NAME, "store_name"),
    "GetSecret": ("GetSecretRequest", DB_NAME, "store_name"),
    "InvokeBinding": ("InvokeBindingRequest", DB_NAME, "name"),
    "PublishEvent": ("PublishEventRequest", MESSAGING_DESTINATION, "topic"),
    "BulkPublishEvent": ("BulkPublishRequest", MESSAGING_DESTINATION, "topic"),
    "BulkPublishEventAlpha1": ("BulkPublishRequest", MESSAGING_DESTINATION, "topic"),
    "ConverseAlpha1": ("ConversationRequest", RPC_SYSTEM, "name"),
    "ConverseAlpha2": ("ConversationRequestAlpha2", RPC_SYSTEM, "name"),
}


def grpc_request_attributes(call: Call) -> Attributes:
    """The attributes a recorded gRPC API span gets from its request (its store, topic, binding or
    conversation component), read only once the span is known to be recorded."""
    attrs = user_metadata(call)
    found = _FROM_REQUEST.get(call.target.rsplit("/", 1)[-1])
    if found is None or not isinstance(call.request, bytes):
        return attrs
    from pydapr.api.grpc.wire import runtime

    message, attribute, field = found
    try:
        request = getattr(runtime, message).FromString(call.request)
    except Exception:  # a request the server refused as malformed: its span says so already
        return attrs
    attrs[attribute] = getattr(request, field)
    return attrs


_DAPR_PREFIX = "dapr-"
# Never copied: the API token would be in every trace backend that stores the span.
_SECRET = "dapr-api-token"


def user_metadata(call: Call) -> Attributes:
    """``dapr-`` request metadata (not ``-bin``), which daprd copies to a gRPC API span: users add
    such metadata to see it in their traces."""
    return {
        k: v
        for k, v in call.metadata
        if isinstance(v, str) and k.startswith(_DAPR_PREFIX) and not k.endswith("-bin") and k != _SECRET
    }


def user_headers(call: Call) -> Attributes:
    """``dapr-`` request headers (the last value of each), which daprd copies to an HTTP API span."""
    request = call.request
    if request is None:
        return {}
    return {k: v for k, v in request.headers.items() if k.startswith(_DAPR_PREFIX) and k != _SECRET}


def internal_span(call: Call, app_id: str) -> tuple[str, Attributes]:
    """A call from another sidecar for this app: daprd's internal server span."""
    method = call.operation
    if method.startswith("/"):  # a gRPC call through the proxy: named by its full method, as daprd
        return method, {DAPR_PROTOCOL: "grpc", DAPR_API: method, RPC_SERVICE: method.split("/")[1]}
    return f"CallLocal/{app_id}/{method}", {
        RPC_SERVICE: SERVICE_INVOCATION,
        DAPR_INVOKE_METHOD: method,
        DAPR_PROTOCOL: "http",
        DAPR_API: f"CallLocal/{app_id}/{method}",
    }


def component_span(call: Call) -> tuple[str, Attributes]:
    """A pub/sub delivery (``operation`` = ``"deliver <topic>"``, or ``"bulk deliver <topic>"``)
    or an input-binding event."""
    if call.operation.startswith(("deliver ", "bulk deliver ")):
        topic = call.operation.partition("deliver ")[2]
        return f"pubsub/{topic}", {
            MESSAGING_SYSTEM: "pubsub",
            MESSAGING_DESTINATION: topic,
            DB_NAME: call.target,
        }
    return f"bindings/{call.target}", {DB_SYSTEM: "bindings", DB_NAME: call.target}


def actor_span(call: Call) -> tuple[str, Attributes]:
    return f"CallActor/{call.target}/{call.operation}", {
        RPC_SERVICE: SERVICE_INVOCATION,
        DAPR_ACTOR: f"{call.target}.{call.instance}",
        DAPR_INVOKE_METHOD: call.operation,
    }


def job_span(call: Call) -> tuple[str, Attributes]:
    name = call.operation.rsplit("/", 1)[-1]
    return f"jobs/{name}", {DAPR_API: call.operation}


def kind_of(direction: Direction, call: Call) -> SpanKind:
    """daprd's kinds: the public APIs' spans are CLIENT (the sidecar calls on the app's behalf),
    the internal server's SERVER, deliveries to the app CLIENT (its callbacks)."""
    if direction is Direction.INBOUND_INTERNAL or direction is Direction.INBOUND_ACTOR:
        return SpanKind.SERVER
    if direction is Direction.INBOUND_GRPC and call.target.startswith("/dapr.proto.internals."):
        return SpanKind.SERVER
    return SpanKind.CLIENT
