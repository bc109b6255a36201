"""A native gRPC server with a test service in all four cardinalities, for real grpcio clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from pydapr import rpc
from pydapr.grpc_native import NativeGrpcServer, server

SERVICE = "test.Echo"
LIMITS = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]


class Probe:
    """What the handlers saw, for the tests to check."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()
        self.time_remaining: float | None = None
        self.metadata: tuple[Any, ...] = ()


def echo_handlers(probe: Probe) -> grpc.GenericRpcHandler:
    async def unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        probe.metadata = tuple(context.invocation_metadata())
        probe.time_remaining = context.time_remaining()
        if request.startswith(b"sleep:"):
            probe.started.set()
            try:
                await asyncio.sleep(float(request[6:]))
            except asyncio.CancelledError:
                probe.cancelled.set()
                raise
        return request

    async def server_stream(
        request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        count, _, size = request.partition(b"x")
        for i in range(int(count)):
            yield bytes([i % 256]) * int(size)

    async def client_stream(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        return b"".join([r async for r in requests])

    async def bidi(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request[::-1]

    async def writer(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        # The reader/writer API: context.read() and context.write() instead of generators.
        while (message := await context.read()) is not rpc.EOF:  # the native server's end of requests
            await context.write(message + b"!")

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
            "Writer": grpc.stream_stream_rpc_method_handler(writer),
        },
    )


@contextlib.asynccontextmanager
async def running(
    *handlers: grpc.GenericRpcHandler, **kwargs: Any
) -> AsyncIterator[tuple[NativeGrpcServer, int]]:
    srv = server(interceptors=kwargs.pop("interceptors", ()), options=kwargs.pop("options", LIMITS))
    srv.add_generic_rpc_handlers(handlers)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        yield srv, port
    finally:
        await srv.stop(None)


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def echo(probe: Probe) -> AsyncIterator[int]:
    async with running(echo_handlers(probe)) as (_, port):
        yield port


@pytest.fixture
async def channel(echo: int) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo}", options=LIMITS) as ch:
        yield ch
