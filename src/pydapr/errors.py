"""The one error catalog: every user-facing error has a Dapr code, an HTTP status and a gRPC status.

Building blocks raise ``DaprError``; each transport maps it once (HTTP: status plus JSON
``{"errorCode", "message"}``; gRPC: status code plus message plus a google.rpc.ErrorInfo detail).
Codes and statuses follow dapr/dapr pkg/messages/predefined.go and pkg/api/errors/*.go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from pydapr import rpc

S = rpc.StatusCode


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One entry of the catalog; ``template`` is formatted with ``str.format`` positional args."""

    code: str
    http_status: int
    grpc_status: rpc.StatusCode
    template: str

    def __call__(self, *args: Any, metadata: dict[str, str] | None = None) -> DaprError:
        return DaprError(self, self.template.format(*args) if args else self.template, metadata)


class DaprError(Exception):
    """An error the user sees, with everything both transports need to report it."""

    def __init__(self, kind: ErrorKind, message: str, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.metadata = metadata or {}

    @property
    def code(self) -> str:
        return self.kind.code

    @property
    def http_status(self) -> int:
        return self.kind.http_status

    @property
    def grpc_status(self) -> rpc.StatusCode:
        return self.kind.grpc_status

    def http_body(self) -> bytes:
        return msgspec.json.encode({"errorCode": self.kind.code, "message": self.message})

    def __repr__(self) -> str:
        return f"DaprError({self.kind.code}, {self.message!r})"


def message_of(body: bytes) -> str:
    """The message of an error body ``http_body`` wrote (another sidecar's answer); the body as
    text when it is not one."""
    try:
        message = msgspec.json.decode(body).get("message", "")
    except (msgspec.DecodeError, AttributeError):
        return body.decode("utf-8", "replace")
    return message if isinstance(message, str) else str(message)


# --- generic / HTTP -----------------------------------------------------------------------------
NOT_FOUND = ErrorKind("ERR_NOT_FOUND", 404, S.NOT_FOUND, "method {0} is not found")
METHOD_NOT_ALLOWED = ErrorKind(
    "ERR_METHOD_NOT_ALLOWED", 405, S.UNIMPLEMENTED, "method {0} not allowed on {1}"
)
MALFORMED_REQUEST = ErrorKind(
    "ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "failed deserializing HTTP body: {0}"
)
MALFORMED_REQUEST_DATA = ErrorKind(
    "ERR_MALFORMED_REQUEST_DATA", 400, S.INVALID_ARGUMENT, "can't serialize request data field: {0}"
)
BODY_TOO_LARGE = ErrorKind(
    "ERR_MALFORMED_REQUEST",
    413,
    S.RESOURCE_EXHAUSTED,
    "request body of {0} bytes exceeds the limit of {1} bytes",
)
# daprd answers a header block over its limit 431 (Go's net/http), a malformed request to the caller.
HEADERS_TOO_LARGE = ErrorKind("ERR_MALFORMED_REQUEST", 431, S.INVALID_ARGUMENT, "request headers too large")
API_UNIMPLEMENTED = ErrorKind(
    "ERR_API_UNIMPLEMENTED", 501, S.UNIMPLEMENTED, "the {0} API is not implemented by this pydapr version"
)
UNAUTHORIZED = ErrorKind("ERR_UNAUTHORIZED", 401, S.UNAUTHENTICATED, "invalid api token")
API_DENIED = ErrorKind(
    "ERR_API_DENIED", 403, S.PERMISSION_DENIED, "access to the {0} API has been disabled in the configuration"
)
INTERNAL = ErrorKind("ERR_INTERNAL", 500, S.INTERNAL, "internal error: {0}")

# --- health / metadata / shutdown ---------------------------------------------------------------
HEALTH_NOT_READY = ErrorKind("ERR_HEALTH_NOT_READY", 500, S.INTERNAL, "dapr is not ready")
OUTBOUND_HEALTH_NOT_READY = ErrorKind(
    "ERR_OUTBOUND_HEALTH_NOT_READY", 500, S.INTERNAL, "dapr outbound is not ready"
)
HEALTH_APPID_NOT_MATCH = ErrorKind(
    "ERR_HEALTH_APPID_NOT_MATCH", 500, S.INTERNAL, "dapr app-id does not match"
)
METADATA_GET = ErrorKind("ERR_METADATA_GET", 500, S.INTERNAL, "failed deserializing metadata: {0}")
METADATA_KEY_INVALID = ErrorKind(
    "ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "metadata key must not be empty"
)

# --- service invocation -------------------------------------------------------------------------
DIRECT_INVOKE = ErrorKind("ERR_DIRECT_INVOKE", 500, S.INTERNAL, "failed to invoke, id: {0}, err: {1}")
DIRECT_INVOKE_NO_APP_ID = ErrorKind(
    "ERR_DIRECT_INVOKE",
    404,
    S.NOT_FOUND,
    "failed getting app id either from the URL path or the header dapr-app-id",
)
# The callee's access control refused the caller (daprd: 403 over HTTP, PermissionDenied over gRPC).
DIRECT_INVOKE_FORBIDDEN = ErrorKind(
    "ERR_DIRECT_INVOKE",
    403,
    S.PERMISSION_DENIED,
    "failed to invoke, id: {0}, err: rpc error: code = PermissionDenied desc = {1}",
)
DIRECT_INVOKE_METHOD = ErrorKind("ERR_DIRECT_INVOKE", 404, S.NOT_FOUND, "invalid method name")
DIRECT_INVOKE_NOT_READY = ErrorKind("ERR_DIRECT_INVOKE", 500, S.INTERNAL, "invoke API is not ready")
APP_CHANNEL_NIL = ErrorKind("ERR_APP_CHANNEL_NIL", 500, S.INTERNAL, "app channel is not initialized")
APP_UNHEALTHY = ErrorKind("ERR_APP_UNHEALTHY", 500, S.UNAVAILABLE, "app is not in a healthy state")
PERMISSION_DENIED = ErrorKind("ERR_PERMISSION_DENIED", 403, S.PERMISSION_DENIED, "{0}")
