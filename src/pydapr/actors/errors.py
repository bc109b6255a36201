"""The actors API's error kinds (dapr/dapr pkg/messages/predefined.go, pkg/messages/errorcodes),
the errors both transports tell apart, and the name check both run before any call."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydapr import rpc
from pydapr.errors import DaprError, ErrorKind

if TYPE_CHECKING:
    from .contract import InvokeResult

S = rpc.StatusCode

REMINDER_NOT_HOSTED = ErrorKind(
    "ERR_ACTOR_REMINDER_NON_HOSTED",
    403,
    S.PERMISSION_DENIED,
    "operations on actor reminders are only possible on hosted actor types",
)
TYPE_RESERVED = ErrorKind(
    "ERR_ACTOR_TYPE_RESERVED",
    403,
    S.PERMISSION_DENIED,
    "actor type {0!r} is reserved for the Dapr workflow runtime; direct actor API access is not permitted",
)
RUNTIME_NOT_FOUND = ErrorKind(
    "ERR_ACTOR_RUNTIME_NOT_FOUND",
    500,
    S.INTERNAL,
    "the state store is not configured to use the actor runtime. Have you set the - name: "
    'actorStateStore value: "true" in your state store component file?',
)
NO_APP_CHANNEL = ErrorKind("ERR_ACTOR_NO_APP_CHANNEL", 400, S.UNAVAILABLE, "app channel is not initialized")
INSTANCE_MISSING = ErrorKind("ERR_ACTOR_INSTANCE_MISSING", 400, S.INTERNAL, "actor instance is missing")
INVOKE_METHOD = ErrorKind("ERR_ACTOR_INVOKE_METHOD", 500, S.INTERNAL, "error invoke actor method: {0}")
STATE_GET = ErrorKind("ERR_ACTOR_STATE_GET", 500, S.INTERNAL, "error getting actor state: {0}")
STATE_TRANSACTION = ErrorKind(
    "ERR_ACTOR_STATE_TRANSACTION_SAVE", 500, S.INTERNAL, "error saving actor transaction state: {0}"
)
REMINDER_CREATE = ErrorKind(
    "ERR_ACTOR_REMINDER_CREATE", 500, S.INTERNAL, "error creating actor reminder: {0}"
)
REMINDER_GET = ErrorKind("ERR_ACTOR_REMINDER_GET", 500, S.INTERNAL, "error getting actor reminder: {0}")
REMINDER_DELETE = ErrorKind(
    "ERR_ACTOR_REMINDER_DELETE", 500, S.INTERNAL, "error deleting actor reminder: {0}"
)
REMINDER_NOT_FOUND = ErrorKind(
    "ERR_ACTOR_REMINDER_NOT_FOUND", 404, S.NOT_FOUND, "actor reminder not found: {0}"
)
REMINDER_EXISTS = ErrorKind(
    "ERR_ACTOR_REMINDER_ALREADY_EXISTS", 409, S.ALREADY_EXISTS, "actor reminder already exists: {0}"
)
TIMER_CREATE = ErrorKind("ERR_ACTOR_TIMER_CREATE", 500, S.INTERNAL, "error creating actor timer: {0}")
STACK_DEPTH = ErrorKind("ERR_ACTOR_STACK_DEPTH", 500, S.RESOURCE_EXHAUSTED, "maximum stack depth exceeded")
NO_PLACEMENT = ErrorKind("ERR_ACTOR_NO_PLACEMENT", 400, S.UNAVAILABLE, "placement service is not configured")
RUNTIME_CLOSED = ErrorKind("ERR_ACTOR_RUNTIME_CLOSED", 503, S.UNAVAILABLE, "actor runtime is closed")
NO_ADDRESS = ErrorKind(
    "ERR_ACTOR_NO_ADDRESS", 404, S.FAILED_PRECONDITION, "did not find address for actor '{0}'"
)
BAD_REQUEST = ErrorKind("ERR_BAD_REQUEST", 400, S.INVALID_ARGUMENT, "invalid request: {0}")

_NAME = re.compile(r"^[^/\\?#\s]+$")


class ActorMethodError(DaprError):
    """The actor method failed; ``result`` is the app's answer, returned to the caller as it is."""

    def __init__(self, result: InvokeResult) -> None:
        body = result.data.decode("utf-8", "replace")
        super().__init__(INVOKE_METHOD, INVOKE_METHOD.template.format(body))
        self.result = result


class LookupFailed(DaprError):
    """No sidecar hosts the actor's type, after the built-in retries. The HTTP API answers daprd's
    ``ERR_ACTOR_INVOKE_METHOD`` (500; daprd's type assertion misses the wrapped error); the gRPC
    API answers the lookup's own ``ERR_ACTOR_NO_ADDRESS`` (FAILED_PRECONDITION), which grpc-go's
    ``status.FromError`` finds inside it (``grpc_error``)."""

    def __init__(self, cause: DaprError) -> None:
        self.lookup_message = f"failed to lookup actor: {cause.message}"
        super().__init__(INVOKE_METHOD, INVOKE_METHOD.template.format(self.lookup_message))
        self.cause = cause

    def grpc_error(self) -> DaprError:
        return DaprError(self.cause.kind, self.lookup_message, self.cause.metadata)


def check_name(what: str, value: str) -> None:
    """daprd's ValidateName: no empty names, no path separators or query characters."""
    if not value or not _NAME.match(value) or value in (".", ".."):
        raise BAD_REQUEST(f"invalid {what}: {value!r}")
