"""HTTP status <-> gRPC code mapping for invocations that cross protocols (Dapr's own mapping)."""

from __future__ import annotations

from typing import Any

from pydapr import rpc

S = rpc.StatusCode

_HTTP_TO_GRPC = {
    408: S.CANCELLED,
    500: S.UNKNOWN,
    400: S.INTERNAL,
    504: S.DEADLINE_EXCEEDED,
    404: S.NOT_FOUND,
    409: S.ALREADY_EXISTS,
    403: S.PERMISSION_DENIED,
    401: S.UNAUTHENTICATED,
    429: S.RESOURCE_EXHAUSTED,
    501: S.UNIMPLEMENTED,
    503: S.UNAVAILABLE,
}

_GRPC_TO_HTTP = {
    S.OK: 200,
    S.CANCELLED: 499,
    S.UNKNOWN: 500,
    S.INVALID_ARGUMENT: 400,
    S.DEADLINE_EXCEEDED: 504,
    S.NOT_FOUND: 404,
    S.ALREADY_EXISTS: 409,
    S.PERMISSION_DENIED: 403,
    S.UNAUTHENTICATED: 401,
    S.RESOURCE_EXHAUSTED: 429,
    S.FAILED_PRECONDITION: 400,
    S.ABORTED: 409,
    S.OUT_OF_RANGE: 400,
    S.UNIMPLEMENTED: 501,
    S.INTERNAL: 500,
    S.UNAVAILABLE: 503,
    S.DATA_LOSS: 500,
}


def grpc_code_from_http(status: int) -> rpc.StatusCode:
    if 200 <= status < 300:
        return S.OK
    return _HTTP_TO_GRPC.get(status, S.UNKNOWN)


def http_status_from_grpc(code: Any) -> int:
    """The HTTP status for a gRPC code: ours, grpcio's (a client's AioRpcError) or a number."""
    return _GRPC_TO_HTTP.get(rpc.code_of(code), 500)


def grpc_code_from_int(value: int) -> rpc.StatusCode:
    return rpc.code_of(value)
