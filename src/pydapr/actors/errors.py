"""The actors API's error kinds (dapr/dapr pkg/messages/predefined.go, pkg/messages/errorcodes)."""

from __future__ import annotations

import grpc

from pydapr.errors import ErrorKind

S = grpc.StatusCode

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
