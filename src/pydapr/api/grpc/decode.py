"""Request decoding as daprd's Go gRPC server answers it: a request that is not valid protobuf ends
with INTERNAL ``grpc: error unmarshalling request: ...`` (grpc-go server.go, processUnaryRPC and
the stream's RecvMsg).

grpc.aio runs the request deserializer outside the handler, so its exception becomes UNKNOWN
``Unexpected <class 'DecodeError'>``, which the SDKs report as a sidecar fault. The handler built
here receives the bytes and decodes them itself, where it can end the call with the right status.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message

from pydapr import rpc

if TYPE_CHECKING:
    import grpc

Deserializer = Callable[[bytes], Any]


def decodes_protobuf(handler: rpc.MethodHandler) -> bool:
    """Whether the handler's requests are decoded with a protobuf message's ``FromString`` (the
    generated services'), not passed as bytes (the gRPC proxy's, built anew for every call)."""
    owner = getattr(handler.request_deserializer, "__self__", None)
    return isinstance(owner, type) and issubclass(owner, Message)


def decoding_handler(handler: rpc.MethodHandler) -> rpc.MethodHandler:
    """``handler`` with its request decoding moved into the call; a handler that does not decode
    protobuf is returned as it is."""
    if not decodes_protobuf(handler):
        return handler
    decode = handler.request_deserializer
    assert decode is not None  # decodes_protobuf: a message class's FromString
    serialize = {"response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return rpc.unary_unary_rpc_method_handler(_unary_request(handler.unary_unary, decode), **serialize)
    if handler.unary_stream is not None:
        return rpc.unary_stream_rpc_method_handler(
            _unary_request_stream(handler.unary_stream, decode), **serialize
        )
    if handler.stream_unary is not None:
        return rpc.stream_unary_rpc_method_handler(
            _stream_request(handler.stream_unary, decode), **serialize
        )
    assert handler.stream_stream is not None  # a handler has one of the four
    return rpc.stream_stream_rpc_method_handler(
        _stream_request_stream(handler.stream_stream, decode), **serialize
    )


async def _decoded(raw: bytes, decode: Deserializer, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
    try:
        return decode(raw)
    except Exception as exc:
        await context.abort(rpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {exc}")


def _messages(
    raw: AsyncIterator[bytes], decode: Deserializer, context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[Any]:
    async def messages() -> AsyncIterator[Any]:
        async for item in raw:
            yield await _decoded(item, decode, context)

    return messages()


async def _relay(result: Any) -> AsyncIterator[Any]:
    if inspect.isasyncgen(result):
        async for item in result:
            yield item
    else:
        await result  # a behaviour that writes with context.write()


def _unary_request(behavior: Callable[..., Any], decode: Deserializer) -> Callable[..., Any]:
    async def call(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            request = decode(raw)
        except Exception:
            request = await _decoded(raw, decode, context)  # aborts the call, as it words it
        return await behavior(request, context)

    return call


def _unary_request_stream(behavior: Callable[..., Any], decode: Deserializer) -> Callable[..., Any]:
    async def call(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        request = await _decoded(raw, decode, context)
        async for item in _relay(behavior(request, context)):
            yield item

    return call


def _stream_request(behavior: Callable[..., Any], decode: Deserializer) -> Callable[..., Any]:
    async def call(raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return await behavior(_messages(raw, decode, context), context)

    return call


def _stream_request_stream(behavior: Callable[..., Any], decode: Deserializer) -> Callable[..., Any]:
    async def call(
        raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async for item in _relay(behavior(_messages(raw, decode, context), context)):
            yield item

    return call
