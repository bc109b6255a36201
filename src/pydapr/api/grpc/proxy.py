"""gRPC proxying: a call on the sidecar's gRPC port carrying ``dapr-app-id`` metadata is forwarded.

If the id is this sidecar's app, the call goes to the app's own gRPC server; otherwise to the
target app's sidecar, which forwards it to its app. Messages are passed as raw bytes, so any
service and any call shape (unary or streaming) goes through without knowing its schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydapr import rpc
from pydapr.observability import trace_context
from pydapr.pipeline import Call, Direction, Pipeline

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("pydapr.api.grpc.proxy")

APP_ID_KEY = "dapr-app-id"
# Metadata that belongs to one hop (or to grpc itself) and must not be forwarded.
_SKIP = frozenset(
    {"dapr-api-token", "user-agent", "content-type", "te", "grpc-accept-encoding", "grpc-timeout"}
)

ChannelFor = Callable[[str], Awaitable["tuple[grpc.aio.Channel, tuple[tuple[str, str], ...]]"]]
# Given the full method name and the call, None to let it through, else the status to refuse it with
# (access control on the receiving sidecar's internal port).
Authorize = Callable[[str, "grpc.aio.ServicerContext[Any, Any]"], "tuple[rpc.StatusCode, str] | None"]


def _identity(data: bytes) -> bytes:
    return data


class ProxyHandler(rpc.GenericRpcHandler):
    """Serves any method not served by the Dapr API when ``dapr-app-id`` is present."""

    def __init__(
        self, channel_for: ChannelFor, authorize: Authorize | None = None, inbound: Pipeline | None = None
    ) -> None:
        """``inbound``: on the internal port, the pipeline whose INBOUND_INTERNAL chain (per calling
        app id) a proxied call from another sidecar enters, as its HTTP invocations do."""
        self._channel_for = channel_for
        self._authorize = authorize
        self._inbound = inbound

    def service(self, handler_call_details: rpc.HandlerCallDetails) -> rpc.MethodHandler | None:
        metadata = dict(handler_call_details.invocation_metadata or ())
        app_id = metadata.get(APP_ID_KEY)
        if not app_id or not isinstance(app_id, str):
            return None
        method: str = handler_call_details.method
        return rpc.stream_stream_rpc_method_handler(
            self._make_proxy(method, app_id),
            request_deserializer=_identity,
            response_serializer=_identity,
        )

    def _make_proxy(self, method: str, app_id: str) -> Callable[..., AsyncIterator[bytes]]:
        channel_for = self._channel_for
        authorize = self._authorize
        inbound = self._inbound

        async def proxy(
            request_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[bytes]:
            import grpc  # loaded already: channel_for's channels are grpcio's

            if authorize is not None:
                refused = authorize(method, context)
                if refused is not None:
                    await context.abort(*refused)
                    return
            if inbound is not None:
                # The chain runs around the call's start; its trace context stays for the stream.
                await _enter_internal(inbound, method, context)
            try:
                channel, extra = await channel_for(app_id)
            except LookupError as exc:
                await context.abort(rpc.StatusCode.UNAVAILABLE, f"failed to proxy request: {exc}")
                return
            metadata = [
                (k, v)
                for k, v in (context.invocation_metadata() or ())
                if k not in _SKIP and not k.startswith(":")
            ]
            metadata.extend(extra)
            # The next hop is a child of this call's span (the tracing step's, kept for the stream).
            metadata = list(trace_context.with_grpc_trace(metadata))
            timeout = context.time_remaining()
            call = channel.stream_stream(
                method, request_serializer=_identity, response_deserializer=_identity
            )(metadata=metadata, timeout=timeout)
            statuses = _Statuses(call)

            async def pump() -> None:
                async for message in request_iterator:
                    await call.write(message)
                await call.done_writing()

            pumping = asyncio.ensure_future(pump())
            try:
                initial = await call.initial_metadata()
                if initial:
                    await context.send_initial_metadata(tuple(initial))
                async for reply in call:
                    yield reply
                trailing = await call.trailing_metadata()
                if trailing:
                    context.set_trailing_metadata(tuple(trailing))
            except grpc.aio.AioRpcError as exc:
                code, details, trailing = await statuses.settled(exc, timeout)
                if trailing:
                    context.set_trailing_metadata(tuple(trailing))
                await context.abort(code, details)
            finally:
                if not pumping.done():
                    pumping.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pumping

        return proxy


# What grpcio's asyncio client puts in place of the peer's status when a write fails because the peer
# has just ended the call (grpc.aio's _write: set_internal_error); the peer's own status follows.
_WRITE_RACE = (rpc.StatusCode.INTERNAL, "Internal error from Core")
# How long to wait for the peer's status after that, when the call has no deadline.
_WRITE_RACE_WAIT = 5.0

# The client's codes are grpc.StatusCode; they are kept as ours (rpc.code_of), to compare with ours.
Status = tuple[rpc.StatusCode, str, tuple[tuple[str, Any], ...]]


def _settled(awaitable: Any) -> Any:
    """The value of a call accessor (``code()``, ``details()``…) once the call has a status: it returns
    without suspending, so it is read at once, inside grpcio's done callback, before a later status
    replaces it."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    awaitable.close()
    return None


class _Statuses:
    """Every status grpcio's asyncio client sets on one upstream call, in order.

    A refusal that races the proxy's write of a request (the target refused a stream at once) ends
    with grpcio replacing the peer's status by INTERNAL "Internal error from Core", and the peer's own
    status set right after or right before it (grpc/grpc#36066). grpcio calls done callbacks on each;
    the caller is given the peer's status, as daprd's Go client gives it.
    """

    __slots__ = ("_more", "_seen")

    def __init__(self, call: Any) -> None:
        self._seen: list[Status] = []
        self._more = asyncio.Event()
        call.add_done_callback(self._record)

    def _record(self, call: Any) -> None:
        code = _settled(call.code())
        if code is None:
            return
        trailing = _settled(call.trailing_metadata()) or ()
        self._seen.append((rpc.code_of(code), _settled(call.details()) or "", tuple(trailing)))
        self._more.set()

    def _peer(self) -> Status | None:
        return next((s for s in reversed(self._seen) if s[:2] != _WRITE_RACE), None)

    async def settled(self, exc: grpc.aio.AioRpcError, deadline: float | None) -> Status:
        """The status to give the caller for the call that raised ``exc``."""
        raised: Status = (rpc.code_of(exc.code()), exc.details() or "", tuple(exc.trailing_metadata() or ()))
        if raised[:2] != _WRITE_RACE:
            return raised
        wait = _WRITE_RACE_WAIT if deadline is None else min(deadline, _WRITE_RACE_WAIT)
        loop = asyncio.get_running_loop()
        until = loop.time() + wait
        while (peer := self._peer()) is None and (left := until - loop.time()) > 0:
            self._more.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._more.wait(), left)
        return peer or raised


async def _enter_internal(
    pipeline: Pipeline, method: str, context: grpc.aio.ServicerContext[Any, Any]
) -> None:
    metadata = context.invocation_metadata() or ()
    caller = next((v for k, v in metadata if k == "dapr-caller-app-id" and isinstance(v, str)), "")
    chain = pipeline.chain(Direction.INBOUND_INTERNAL, caller)
    if chain.empty:
        return
    traceparent, tracestate = trace_context.from_grpc_metadata(metadata)
    call = Call(Direction.INBOUND_INTERNAL, caller, method, caller=caller, trace=traceparent)
    inside: list[str] = []

    async def enter() -> None:
        inside[:] = [trace_context.current_traceparent.get(), trace_context.current_tracestate.get()]

    token = trace_context.current_tracestate.set(trace_context.valid_tracestate(tracestate))
    try:
        await chain.run(call, enter)
    finally:
        trace_context.current_tracestate.reset(token)
    if inside:
        # Set in the proxy's own task, which ends with the call: nothing to reset.
        trace_context.current_traceparent.set(inside[0])
        trace_context.current_tracestate.set(inside[1])
