"""HTTP status <-> gRPC code mapping for invocations that cross protocols (Dapr's own mapping)."""

from __future__ import annotations

import grpc

S = grpc.StatusCode

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

_BY_VALUE = {code.value[0]: code for code in S}


def grpc_code_from_http(status: int) -> grpc.StatusCode:
    if 200 <= status < 300:
        return S.OK
    return _HTTP_TO_GRPC.get(status, S.UNKNOWN)


def http_status_from_grpc(code: grpc.StatusCode) -> int:
    return _GRPC_TO_HTTP.get(code, 500)


def grpc_code_from_int(value: int) -> grpc.StatusCode:
    return _BY_VALUE.get(value, S.UNKNOWN)
