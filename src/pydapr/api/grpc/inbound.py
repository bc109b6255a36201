"""The public gRPC API's one interception point: the API token, then the method's chain.

Each method's chain (``Direction.INBOUND_GRPC``, target = the full method name) is built once, the
first time the method is called, together with the handler served for it (request decoding moved
into the call, so malformed protobuf gets daprd's INTERNAL, see decode.py); a method with an empty
chain costs one dict lookup per call. The source added here is the gRPC side of ``spec.api`` (allowed /
denied); API logging (pydapr.api.api_logging), tracing and metrics add theirs to the same pipeline.

Streaming methods run their chain around opening the stream (the access check, the log line); the
messages then flow without further interception.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydapr import rpc
from pydapr.api.access import ApiAccess
from pydapr.api.grpc.decode import decodes_protobuf, decoding_handler
from pydapr.api.grpc.status import http_code_status
from pydapr.api.grpc.token import TokenInterceptor
from pydapr.observability import trace_context
from pydapr.pipeline import Call, Direction, Interceptor, Operation, Pipeline
from pydapr.resources import Configuration

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("pydapr.api")


class Refused(Exception):
    """An interceptor ends the call with this gRPC status."""

    def __init__(self, status: rpc.Status) -> None:
        super().__init__(status.details)
        self.status = status


def grpc_interceptors(
    configuration: Configuration | None,
    api_token: str | None,
    pipeline: Pipeline | None = None,
) -> list[rpc.ServerInterceptor]:
    """The server's interceptors; adds the gRPC API's own sources to ``pipeline``."""
    pipeline = pipeline if pipeline is not None else Pipeline()
    access = ApiAccess.from_configuration(configuration)
    if access.restricts_grpc:
        pipeline.add(AccessSource(access))
    out: list[rpc.ServerInterceptor] = []
    if api_token:
        out.append(TokenInterceptor(api_token))
    out.append(ChainInterceptor(pipeline))
    return out


class AccessSource:
    """``spec.api`` for gRPC: a refused method's chain refuses every call, as daprd's interceptor."""

    def __init__(self, access: ApiAccess) -> None:
        self.access = access

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        if direction is not Direction.INBOUND_GRPC or self.access.serves_method(target):
            return None
        status = http_code_status(501, "requested endpoint is not available")

        async def refuse(call: Call, proceed: Operation[Any]) -> Any:
            raise Refused(status)

        return refuse


class ChainInterceptor(rpc.ServerInterceptor):
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        # Per method: the servicer's handler and the one served for it (decoding in the call, then
        # the chain), built once; the servicer hands out the same handler object on every call.
        self._served: dict[str, tuple[rpc.MethodHandler, rpc.MethodHandler]] = {}

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
        if handler is None:
            return handler
        method: str = details.method  # type: ignore[attr-defined]
        served = self._served.get(method)
        if served is not None and served[0] is handler:
            return served[1]
        chain = self.pipeline.chain(Direction.INBOUND_GRPC, method)
        wrapped = decoding_handler(handler)
        if not chain.empty:
            wrapped = _wrapped(wrapped, chain.run, method)
        if decodes_protobuf(handler):
            # A registered service's handler, the same object on every call (the proxy's is new
            # each time and is not kept, so arbitrary method names cannot grow this table).
            self._served[method] = (handler, wrapped)
        return wrapped


Run = Callable[[Call, Operation[Any]], Awaitable[Any]]


def _wrapped(handler: rpc.MethodHandler, run: Run, method: str) -> rpc.MethodHandler:
    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return rpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, run, method), **serializers)
    if handler.stream_unary is not None:
        return rpc.stream_unary_rpc_method_handler(_unary(handler.stream_unary, run, method), **serializers)
    if handler.unary_stream is not None:
        return rpc.unary_stream_rpc_method_handler(_stream(handler.unary_stream, run, method), **serializers)
    assert handler.stream_stream is not None  # a handler has one of the four
    return rpc.stream_stream_rpc_method_handler(_stream(handler.stream_stream, run, method), **serializers)


def _unary(behavior: Callable[..., Any], run: Run, method: str) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        metadata = context.invocation_metadata()
        traceparent, tracestate = trace_context.from_grpc_metadata(metadata)
        described = Call(
            Direction.INBOUND_GRPC,
            method,
            method,
            trace=traceparent,
            user_agent=_user_agent(context),
            metadata=metadata or (),
            # A unary request reaches here undecoded (decode.py): its size is its length; a
            # request stream's (or an undecoded proxy call's) is not measured.
            request_size=len(request) if isinstance(request, bytes) else -1,
            request=request if isinstance(request, bytes) else None,
        )
        state_token = trace_context.current_tracestate.set(trace_context.valid_tracestate(tracestate))

        async def proceed() -> Any:
            try:
                return await behavior(request, context)
            except BaseException:
                described.status = _code_name(context, "UNKNOWN")
                raise

        try:
            return await run(described, proceed)
        except Refused as refused:
            described.status = refused.status.code.name
            await context.abort_with_status(refused.status)
        finally:
            trace_context.current_tracestate.reset(state_token)

    return call


def _stream(behavior: Callable[..., Any], run: Run, method: str) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        traceparent, tracestate = trace_context.from_grpc_metadata(context.invocation_metadata())
        described = Call(
            Direction.INBOUND_GRPC, method, method, trace=traceparent, user_agent=_user_agent(context)
        )
        state_token = trace_context.current_tracestate.set(trace_context.valid_tracestate(tracestate))

        # The chain runs around opening the stream only; the trace context it set is kept for
        # the stream's life, so what the stream does (the gRPC proxy's next hop, log lines) is in it.
        inside: list[str] = []

        async def open_stream() -> Any:
            inside[:] = [trace_context.current_traceparent.get(), trace_context.current_tracestate.get()]
            return _ending(behavior(request, context), context, described)

        try:
            opened = await run(described, open_stream)
        except Refused as refused:
            await context.abort_with_status(refused.status)
            return
        finally:
            trace_context.current_tracestate.reset(state_token)
        traceparent_token = trace_context.current_traceparent.set(inside[0] if inside else "")
        tracestate_token = trace_context.current_tracestate.set(inside[1] if inside else "")
        try:
            if inspect.isasyncgen(opened):
                async for item in opened:
                    yield item
            else:
                await opened  # a behaviour that writes with context.write()
        finally:
            with contextlib.suppress(ValueError):  # the stream ended in another context
                trace_context.current_traceparent.reset(traceparent_token)
                trace_context.current_tracestate.reset(tracestate_token)

    return call


async def _ending(
    opened: Any, context: grpc.aio.ServicerContext[Any, Any], described: Call
) -> AsyncIterator[Any]:
    """The stream, recording on the call the status it ends with (the API log's line is written then)."""
    try:
        if inspect.isasyncgen(opened):
            async for item in opened:
                yield item
        else:
            await opened  # a behaviour that writes with context.write()
    except asyncio.CancelledError:
        described.status = "CANCELLED"
        raise
    except BaseException:
        described.status = _code_name(context, "UNKNOWN")
        raise


def _user_agent(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "user-agent" and isinstance(value, str):
            return value
    return ""


def _code_name(context: grpc.aio.ServicerContext[Any, Any], default: str) -> str:
    try:
        code = context.code()
    except Exception:
        return default
    # The native server's context gives the code it was set to, grpcio's may give a number.
    return default if code is None else rpc.code_of(code).name
