"""The server side of gRPC's Python API, without grpcio: status codes, a status to end a call with,
method handlers, generic handlers, the interceptor base and the abort exception.

The sidecar's gRPC services are written against these, and the native server (pydapr.grpc_native)
serves them, so a sidecar that calls nothing over grpcio never loads it (cygrpc alone is ~9 MiB
resident and ~20 ms of a start). The same objects work on grpcio's aio server, which pydapr still
runs where the native one cannot (TLS on the internal port, ``PYDAPR_GRPC_SERVER=grpcio``):

- ``StatusCode`` has grpc.StatusCode's names and values, ``(number, text)``; grpcio's server reads a
  code's ``value[0]``, so it takes these. A code that comes from a grpcio *client* (an
  ``AioRpcError``) is grpc's own enum: ``code_of()`` turns either, or a bare number, into this one.
- handlers and statuses are named tuples with grpc's field names, which grpcio reads by attribute;
- ``grpcio_server()`` makes grpcio's server and registers these classes with grpcio's abstract ones
  (its interceptor check is an ``isinstance``), and adds grpc.aio's AbortError to ``ABORT_ERRORS``:
  ``except rpc.ABORT_ERRORS`` (read through the module, at the time of the exception) catches the
  abort of either server.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import grpc
    from google.protobuf.descriptor import ServiceDescriptor
    from google.rpc import status_pb2


class StatusCode(enum.Enum):
    """gRPC's status codes (grpc.StatusCode's names and values)."""

    OK = (0, "ok")
    CANCELLED = (1, "cancelled")
    UNKNOWN = (2, "unknown")
    INVALID_ARGUMENT = (3, "invalid argument")
    DEADLINE_EXCEEDED = (4, "deadline exceeded")
    NOT_FOUND = (5, "not found")
    ALREADY_EXISTS = (6, "already exists")
    PERMISSION_DENIED = (7, "permission denied")
    RESOURCE_EXHAUSTED = (8, "resource exhausted")
    FAILED_PRECONDITION = (9, "failed precondition")
    ABORTED = (10, "aborted")
    OUT_OF_RANGE = (11, "out of range")
    UNIMPLEMENTED = (12, "unimplemented")
    INTERNAL = (13, "internal")
    UNAVAILABLE = (14, "unavailable")
    DATA_LOSS = (15, "data loss")
    UNAUTHENTICATED = (16, "unauthenticated")


_BY_NUMBER = {code.value[0]: code for code in StatusCode}


def code_of(code: Any) -> StatusCode:
    """This module's code for ``code``: one of ours, grpc.StatusCode's, or a number (UNKNOWN for a
    number gRPC does not define, as grpc)."""
    if isinstance(code, StatusCode):
        return code
    number = code if isinstance(code, int) else code.value[0]
    return _BY_NUMBER.get(number, StatusCode.UNKNOWN)


class Status(NamedTuple):
    """What ``context.abort_with_status`` takes (grpc.Status's attributes)."""

    code: StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()


def status_from_proto(proto: status_pb2.Status) -> Status:
    """A ``google.rpc.Status`` as the call's status: its code and message, the whole message in
    ``grpc-status-details-bin`` (what grpc_status.rpc_status.to_status does)."""
    return Status(
        code_of(proto.code), proto.message, (("grpc-status-details-bin", proto.SerializeToString()),)
    )


class AbortError(Exception):
    """Raised out of a handler whose call the native server's context aborted."""


# The aborts a handler may see: grpcio_server() adds grpc.aio.AbortError. A tuple, not a virtual
# base class: ``except`` matches exception classes by their real bases only.
ABORT_ERRORS: tuple[type[BaseException], ...] = (AbortError,)


class UsageError(Exception):
    """A handler used its context in a way gRPC does not allow (grpc.aio.UsageError)."""


class _Eof:
    def __repr__(self) -> str:
        return "<rpc.EOF>"


EOF: Any = _Eof()
"""What ``context.read()`` returns once the requests have ended (grpc.aio.EOF's role)."""


class HandlerCallDetails(NamedTuple):
    """What interceptors and generic handlers see of a call."""

    method: str
    invocation_metadata: Sequence[tuple[str, str | bytes]]


class MethodHandler(NamedTuple):
    """One method's behaviour, cardinality and (de)serializers (grpc.RpcMethodHandler's fields)."""

    request_streaming: bool
    response_streaming: bool
    request_deserializer: Callable[[bytes], Any] | None
    response_serializer: Callable[[Any], bytes] | None
    unary_unary: Callable[..., Any] | None
    unary_stream: Callable[..., Any] | None
    stream_unary: Callable[..., Any] | None
    stream_stream: Callable[..., Any] | None


def _handler_of(request_streaming: bool, response_streaming: bool) -> Callable[..., MethodHandler]:
    """grpc's ``*_rpc_method_handler`` for one cardinality."""
    slot = 2 * request_streaming + response_streaming  # unary_unary, unary_stream, stream_unary, ...

    def make(
        behavior: Callable[..., Any],
        request_deserializer: Callable[[bytes], Any] | None = None,
        response_serializer: Callable[[Any], bytes] | None = None,
    ) -> MethodHandler:
        behaviors: list[Callable[..., Any] | None] = [None, None, None, None]
        behaviors[slot] = behavior
        return MethodHandler(
            request_streaming, response_streaming, request_deserializer, response_serializer, *behaviors
        )

    return make


unary_unary_rpc_method_handler = _handler_of(False, False)
unary_stream_rpc_method_handler = _handler_of(False, True)
stream_unary_rpc_method_handler = _handler_of(True, False)
stream_stream_rpc_method_handler = _handler_of(True, True)


class GenericRpcHandler(abc.ABC):
    """Finds the handler for a call, or None (grpc.GenericRpcHandler)."""

    @abc.abstractmethod
    def service(self, handler_call_details: Any) -> MethodHandler | None: ...


class ServiceHandler(GenericRpcHandler):
    """The handlers of one service's methods, by method name."""

    def __init__(self, service: str, method_handlers: Mapping[str, MethodHandler]) -> None:
        self.name = service
        self.handlers = {f"/{service}/{method}": h for method, h in method_handlers.items()}

    def service_name(self) -> str:
        return self.name

    def service(self, handler_call_details: Any) -> MethodHandler | None:
        return self.handlers.get(handler_call_details.method)


def method_handlers_generic_handler(
    service: str, method_handlers: Mapping[str, MethodHandler]
) -> ServiceHandler:
    return ServiceHandler(service, method_handlers)


def servicer_handler(service: ServiceDescriptor, servicer: object) -> ServiceHandler:
    """A service's handlers from its descriptor: each method the servicer has, with the method's
    cardinality and its messages' parsers and serializers (what a ``*_pb2_grpc`` module's
    ``add_*Servicer_to_server`` writes out by hand, without importing grpcio)."""
    from google.protobuf import message_factory

    handlers = {}
    for method in service.methods:
        behavior = getattr(servicer, method.name, None)
        if behavior is None:
            continue
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        make = _handler_of(method.client_streaming, method.server_streaming)
        handlers[method.name] = make(behavior, request.FromString, response.SerializeToString)
    return ServiceHandler(service.full_name, handlers)


Continuation = Callable[[Any], Awaitable[MethodHandler | None]]


class ServerInterceptor(abc.ABC):
    """Sees every call before its handler runs (grpc.aio.ServerInterceptor)."""

    @abc.abstractmethod
    async def intercept_service(
        self, continuation: Continuation, handler_call_details: Any
    ) -> MethodHandler | None: ...


def grpcio_server(
    options: Sequence[tuple[str, Any]], interceptors: Sequence[ServerInterceptor] = ()
) -> grpc.aio.Server:
    """grpcio's aio server, taking this module's handlers, interceptors and statuses."""
    global ABORT_ERRORS
    import grpc

    grpc.aio.ServerInterceptor.register(ServerInterceptor)
    grpc.GenericRpcHandler.register(GenericRpcHandler)
    ABORT_ERRORS = (AbortError, grpc.aio.AbortError)
    return grpc.aio.server(interceptors=list(interceptors), options=list(options))
