"""API-token check for the gRPC API: with ``DAPR_API_TOKEN`` set, every method and stream on the
sidecar's gRPC port (the Dapr service, the workflow TaskHubSidecarService, any other service, and
paths no service serves) needs ``dapr-api-token`` metadata equal to it.

As daprd's ``pkg/api/grpc/auth.go``: the first ``dapr-api-token`` value counts; a call without one,
or with another value, ends with UNAUTHENTICATED, message ``Unauthorized`` and an ErrorInfo whose
``http.error_message`` says which (never the value). A stream is refused before its handler runs,
so it never opens. Handlers that forward metadata (service invocation, the gRPC proxy) leave
``dapr-api-token`` out themselves, as daprd removes it after this check.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from pydapr import rpc
from pydapr.api.grpc.status import http_code_status

if TYPE_CHECKING:
    import grpc

API_TOKEN_METADATA = "dapr-api-token"
MISSING = http_code_status(401, "missing api token in request metadata")
MISMATCH = http_code_status(401, "authentication error: api token mismatch")


class TokenInterceptor(rpc.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def refusal(self, metadata: Any) -> rpc.Status | None:
        """Why a call with this invocation metadata is refused; None when its token is right."""
        given = next((v for k, v in metadata or () if k == API_TOKEN_METADATA), None)
        if given is None:
            return MISSING
        raw = given if isinstance(given, bytes) else str(given).encode()
        return None if hmac.compare_digest(raw, self._token) else MISMATCH

    async def intercept_service(
        self,
        continuation: rpc.Continuation,
        handler_call_details: rpc.HandlerCallDetails,
    ) -> rpc.MethodHandler | None:
        return self.intercept_handler(handler_call_details, await continuation(handler_call_details))

    def intercept_handler(
        self, details: rpc.HandlerCallDetails, handler: rpc.MethodHandler | None
    ) -> rpc.MethodHandler | None:
        """What ``intercept_service`` returns once its continuation found ``handler`` (the native
        server calls this instead, no coroutine per call)."""
        refused = self.refusal(details.invocation_metadata)  # type: ignore[attr-defined]
        return handler if refused is None else _deny(refused, handler)


def _deny(status: rpc.Status, handler: rpc.MethodHandler | None) -> rpc.MethodHandler:
    """A handler of the same shape as ``handler`` (unary reply or stream) that ends the call with
    ``status`` at once. The request is never parsed (no deserializer): a caller without the token
    gets nothing past this point, however malformed what it sent."""
    serializer = handler.response_serializer if handler is not None else None
    if handler is not None and (handler.request_streaming or handler.response_streaming):

        async def deny_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            await context.abort_with_status(status)

        return rpc.stream_stream_rpc_method_handler(deny_stream, response_serializer=serializer)

    async def deny_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort_with_status(status)

    return rpc.unary_unary_rpc_method_handler(deny_unary, response_serializer=serializer)
