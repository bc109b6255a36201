"""pydapr.rpc's handlers, interceptors, statuses and codes served by grpcio's aio server (the one
pydapr runs for mTLS and with PYDAPR_GRPC_SERVER=grpcio), seen by a real grpcio client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2

from pydapr import rpc


class Recorder(rpc.ServerInterceptor):
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def intercept_service(self, continuation: rpc.Continuation, details: Any) -> Any:
        self.seen.append(details.method)
        return await continuation(details)


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, Recorder, list[str]]]:
    recorder, caught = Recorder(), []

    async def aborts(request: bytes, context: Any) -> bytes:
        try:
            await context.abort(rpc.StatusCode.NOT_FOUND, "nope")
        except rpc.ABORT_ERRORS:
            caught.append("abort")
            raise
        return b""

    async def with_status(request: bytes, context: Any) -> bytes:
        await context.abort_with_status(rpc.status_from_proto(status_pb2.Status(code=7, message="denied")))
        return b""

    async def sets_code(request: bytes, context: Any) -> bytes:
        context.set_code(rpc.StatusCode.ALREADY_EXISTS)
        context.set_details("exists")
        return b""

    async def streams(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield request
        yield request[::-1]

    server = rpc.grpcio_server([], [recorder])
    handlers = {
        "A": rpc.unary_unary_rpc_method_handler(aborts),
        "B": rpc.unary_unary_rpc_method_handler(with_status),
        "C": rpc.unary_unary_rpc_method_handler(sets_code),
        "D": rpc.unary_stream_rpc_method_handler(streams),
    }
    server.add_generic_rpc_handlers([rpc.method_handlers_generic_handler("t.S", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, recorder, caught
    finally:
        await server.stop(None)


async def _error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_codes_statuses_and_aborts_reach_the_client(served: Any) -> None:
    channel, recorder, caught = served
    error = await _error(channel.unary_unary("/t.S/A")(b"x"))
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "nope")
    assert caught == ["abort"]
    error = await _error(channel.unary_unary("/t.S/B")(b"x"))
    assert (error.code(), error.details()) == (grpc.StatusCode.PERMISSION_DENIED, "denied")
    details = [v for k, v in error.trailing_metadata() or () if k == "grpc-status-details-bin"]
    assert [status_pb2.Status.FromString(d).message for d in details] == ["denied"]
    error = await _error(channel.unary_unary("/t.S/C")(b"x"))
    assert (error.code(), error.details()) == (grpc.StatusCode.ALREADY_EXISTS, "exists")
    assert [m async for m in channel.unary_stream("/t.S/D")(b"ab")] == [b"ab", b"ba"]
    assert recorder.seen == ["/t.S/A", "/t.S/B", "/t.S/C", "/t.S/D"]


def test_code_of_takes_ours_grpcios_and_numbers() -> None:
    assert rpc.code_of(grpc.StatusCode.UNAVAILABLE) is rpc.StatusCode.UNAVAILABLE
    assert rpc.code_of(rpc.StatusCode.OK) is rpc.StatusCode.OK
    assert rpc.code_of(16) is rpc.StatusCode.UNAUTHENTICATED
    assert rpc.code_of(99) is rpc.StatusCode.UNKNOWN
    assert [c.name for c in rpc.StatusCode] == [c.name for c in grpc.StatusCode]
    assert [c.value for c in rpc.StatusCode] == [c.value for c in grpc.StatusCode]
