"""Maps catalog errors to gRPC: status code, message and a google.rpc.ErrorInfo detail, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from pydapr import rpc
from pydapr.errors import DaprError
from pydapr.observability.metrics import error_codes

if TYPE_CHECKING:
    import grpc

ERROR_DOMAIN = "dapr.io"


def to_rpc_status(err: DaprError) -> rpc.Status:
    info = error_details_pb2.ErrorInfo(reason=err.code, domain=ERROR_DOMAIN, metadata=err.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    proto = status_pb2.Status(code=err.grpc_status.value[0], message=err.message, details=[detail])
    return rpc.status_from_proto(proto)


async def abort(context: grpc.aio.ServicerContext, err: DaprError) -> None:  # type: ignore[type-arg]
    """Ends the call with ``err``; raises (grpc's abort never returns). Every ``DaprError`` a gRPC
    API answers with comes through here, so this is where ``dapr_error_code_total`` counts it."""
    error_codes.observe(err)
    await context.abort_with_status(to_rpc_status(err))


def http_code_status(code: int, detail: str) -> rpc.Status:
    """daprd's ErrorFromHTTPResponseCode: the HTTP status text as message and ErrorInfo reason,
    the code and the detail (at most 63 characters) in its metadata."""
    from http import HTTPStatus

    from pydapr.invoke.codes import grpc_code_from_http

    try:
        text = HTTPStatus(code).phrase
    except ValueError:
        text = f"HTTP {code}"
    info = error_details_pb2.ErrorInfo(
        reason=text,
        domain=ERROR_DOMAIN,
        metadata={"http.code": str(code), "http.error_message": detail[:63]},
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    proto = status_pb2.Status(code=grpc_code_from_http(code).value[0], message=text, details=[packed])
    return rpc.status_from_proto(proto)
