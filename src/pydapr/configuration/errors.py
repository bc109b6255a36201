"""The configuration building block's entries in the error catalog.

From dapr/dapr pkg/messages/predefined.go, pkg/api/errors/configuration.go and the HTTP and gRPC
handlers (the HTTP API answers 400 for an unknown store, gRPC InvalidArgument).
"""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import ErrorKind

S = rpc.StatusCode

NOT_CONFIGURED = ErrorKind(
    "ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
    500,
    S.FAILED_PRECONDITION,
    "configuration stores not configured",
)
NOT_FOUND = ErrorKind(
    "ERR_CONFIGURATION_STORE_NOT_FOUND", 400, S.INVALID_ARGUMENT, "configuration store {0} not found"
)
GET = ErrorKind(
    "ERR_CONFIGURATION_GET", 500, S.INTERNAL, "failed to get {0} from Configuration store {1}: {2}"
)
SUBSCRIBE = ErrorKind(
    "ERR_CONFIGURATION_SUBSCRIBE",
    500,
    S.INVALID_ARGUMENT,
    "failed to subscribe {0} from Configuration store {1}: {2}",
)
UNSUBSCRIBE = ErrorKind(
    "ERR_CONFIGURATION_UNSUBSCRIBE",
    500,
    S.INTERNAL,
    "failed to unsubscribe to configuration request {0}: {1}",
)
APP_CHANNEL_NIL = ErrorKind(
    "ERR_APP_CHANNEL_NIL",
    500,
    S.INTERNAL,
    "app channel is not initialized. cannot subscribe to configuration updates",
)


def go_list(keys: list[str]) -> str:
    """Keys as Go's %s prints a []string, which is how Dapr's messages show them."""
    return "[" + " ".join(keys) + "]"
