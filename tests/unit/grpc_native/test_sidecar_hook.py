"""The public API's server is pydapr.grpc_native by default (``PYDAPR_GRPC_SERVER=grpcio`` picks
grpcio's), with the
composed Dapr servicer, the extra services, the interceptors and the gRPC proxy behind it."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from dapr.proto.runtime.v1 import dapr_pb2_grpc, state_pb2

from pydapr.api.grpc.inbound import grpc_interceptors
from pydapr.api.grpc.server import SERVER_ENV, start_grpc_server
from pydapr.grpc_native import NativeGrpcServer


class _State:
    async def GetState(self, request: Any, context: Any) -> Any:
        return state_pb2.GetStateResponse(data=request.key.encode(), etag="7")


async def _no_app(app_id: str) -> Any:
    raise LookupError(f"no app {app_id}")


async def test_the_native_server_serves_the_dapr_api_with_token_and_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SERVER_ENV, "native")
    server, port = await start_grpc_server(
        [_State()],
        host="127.0.0.1",
        port=0,
        channel_for=_no_app,
        interceptors=grpc_interceptors(None, "secret"),
        max_message_size=4 << 20,
    )
    try:
        assert isinstance(server, NativeGrpcServer)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = dapr_pb2_grpc.DaprStub(channel)  # type: ignore[no-untyped-call]
            request = state_pb2.GetStateRequest(store_name="s", key="k1")
            reply = await stub.GetState(request, metadata=(("dapr-api-token", "secret"),))
            assert (reply.data, reply.etag) == (b"k1", "7")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetState(request)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            proxied = channel.unary_unary("/some.App/Method")
            with pytest.raises(grpc.aio.AioRpcError) as unreachable:
                await proxied(b"", metadata=(("dapr-api-token", "secret"), ("dapr-app-id", "other")))
            assert unreachable.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "no app other" in (unreachable.value.details() or "")
    finally:
        await server.stop(1)


async def test_without_the_variable_the_native_server_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SERVER_ENV, raising=False)
    server, _ = await start_grpc_server(
        [_State()], host="127.0.0.1", port=0, channel_for=_no_app, max_message_size=4 << 20
    )
    try:
        assert isinstance(server, NativeGrpcServer)
    finally:
        await server.stop(None)


async def test_an_unknown_server_name_is_refused_before_anything_binds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SERVER_ENV, "h2o")
    with pytest.raises(ValueError, match="PYDAPR_GRPC_SERVER='h2o' is not a gRPC server pydapr has"):
        await start_grpc_server(
            [_State()], host="127.0.0.1", port=0, channel_for=_no_app, max_message_size=4 << 20
        )


async def test_grpcio_serves_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_ENV, "grpcio")
    server, _ = await start_grpc_server(
        [_State()], host="127.0.0.1", port=0, channel_for=_no_app, max_message_size=4 << 20
    )
    try:
        assert isinstance(server, grpc.aio.Server)
    finally:
        await server.stop(None)


async def test_a_port_in_use_is_an_oserror_naming_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_ENV, "native")
    first, port = await start_grpc_server(
        [_State()], host="127.0.0.1", port=0, channel_for=_no_app, max_message_size=4 << 20
    )
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            await start_grpc_server(
                [_State()], host="127.0.0.1", port=port, channel_for=_no_app, max_message_size=4 << 20
            )
    finally:
        await first.stop(None)
