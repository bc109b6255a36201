"""Malformed protobuf on the public gRPC server: INTERNAL ``grpc: error unmarshalling request``, as
daprd's Go server answers, for unary and streaming requests (grpc.aio's own answer is UNKNOWN
``Unexpected <class 'DecodeError'>``, which tests/fuzz/test_grpc_fuzz.py found on every method)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from dapr.proto.runtime.v1 import dapr_pb2_grpc

from pydapr import rpc
from pydapr.api.grpc.decode import decodes_protobuf, decoding_handler
from pydapr.api.grpc.inbound import ChainInterceptor
from pydapr.api.grpc.wire import runtime
from pydapr.pipeline import Pipeline

MALFORMED = b"\x00"  # field number 0: no valid protobuf


class Servicer(dapr_pb2_grpc.DaprServicer):  # type: ignore[misc]
    async def GetState(self, request: Any, context: Any) -> Any:
        return runtime.GetStateResponse(data=request.key.encode())

    async def SubscribeConfiguration(self, request: Any, context: Any) -> AsyncIterator[Any]:
        yield runtime.SubscribeConfigurationResponse(id=request.store_name)

    async def EncryptAlpha1(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for request in requests:
            yield runtime.EncryptResponse(payload=request.payload)


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = rpc.grpcio_server([], [ChainInterceptor(Pipeline())])
    dapr_pb2_grpc.add_DaprServicer_to_server(Servicer(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    await server.stop(None)


def _raw(channel: grpc.aio.Channel, kind: str, method: str) -> Any:
    return getattr(channel, kind)(f"/dapr.proto.runtime.v1.Dapr/{method}")


async def test_unary_request(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _raw(channel, "unary_unary", "GetState")(MALFORMED, timeout=5)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details().startswith("grpc: error unmarshalling request: ")
    ok = await _raw(channel, "unary_unary", "GetState")(runtime.GetStateRequest(key="k").SerializeToString())
    assert runtime.GetStateResponse.FromString(ok).data == b"k"


async def test_unary_request_stream_response(channel: grpc.aio.Channel) -> None:
    call = _raw(channel, "unary_stream", "SubscribeConfiguration")(MALFORMED, timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in call:
            pass
    assert info.value.code() == grpc.StatusCode.INTERNAL
    good = runtime.SubscribeConfigurationRequest(store_name="s").SerializeToString()
    answers = [a async for a in _raw(channel, "unary_stream", "SubscribeConfiguration")(good, timeout=5)]
    assert [runtime.SubscribeConfigurationResponse.FromString(a).id for a in answers] == ["s"]


async def test_stream_request(channel: grpc.aio.Channel) -> None:
    good = runtime.EncryptRequest(payload={"data": b"x"}).SerializeToString()

    async def requests() -> AsyncIterator[bytes]:
        yield good
        yield MALFORMED

    answers = []
    call = _raw(channel, "stream_stream", "EncryptAlpha1")(requests(), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for answer in call:
            answers.append(runtime.EncryptResponse.FromString(answer).payload.data)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert answers == [b"x"]  # the valid message before the malformed one was served


def test_raw_bytes_handlers_are_left_as_they_are() -> None:
    # The gRPC proxy passes bytes through: nothing to decode, and its handler is served untouched.
    def identity(data: bytes) -> bytes:
        return data

    raw = grpc.stream_stream_rpc_method_handler(lambda it, ctx: it, request_deserializer=identity)
    assert not decodes_protobuf(raw)
    assert decoding_handler(raw) is raw
    typed = grpc.unary_unary_rpc_method_handler(
        lambda r, c: r, request_deserializer=runtime.GetStateRequest.FromString
    )
    assert decodes_protobuf(typed)
    assert decoding_handler(typed) is not typed
