"""API-token check for the gRPC API (``dapr-api-token`` metadata, when DAPR_API_TOKEN is set)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from pydapr import errors
from pydapr.api.grpc.status import to_rpc_status


async def _deny_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort_with_status(to_rpc_status(errors.UNAUTHORIZED()))


class TokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        metadata = dict(handler_call_details.invocation_metadata or ())  # type: ignore[attr-defined]
        given = metadata.get("dapr-api-token")
        if isinstance(given, str) and hmac.compare_digest(given.encode(), self._token):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return grpc.unary_unary_rpc_method_handler(_deny_unary)
        if handler.request_streaming or handler.response_streaming:

            async def deny_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
                await context.abort_with_status(to_rpc_status(errors.UNAUTHORIZED()))

            return grpc.stream_stream_rpc_method_handler(
                deny_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            _deny_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
