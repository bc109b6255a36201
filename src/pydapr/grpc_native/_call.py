"""A call on the native gRPC server: the handler found (through the interceptors, as grpc.aio finds
it), run for its cardinality, and its servicer context, with grpc.aio's semantics (an exception
ends the call with UNKNOWN ``Unexpected <class ...>: ...``, ``set_code`` before an exception keeps
that code, an aborted call raises ``rpc.AbortError`` out of the handler)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import types
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydapr import rpc
from pydapr.grpc_native import _wire as w

if TYPE_CHECKING:
    from pydapr.grpc_native._conn import Stream
    from pydapr.grpc_native.server import NativeGrpcServer

log = logging.getLogger("pydapr.grpc_native")

_INSECURE_AUTH = {"transport_security_type": [b"insecure"], "security_level": [b"TSI_SECURITY_NONE"]}
_EMPTY: tuple[Any, ...] = ()


CallDetails = rpc.HandlerCallDetails


EOF = rpc.EOF


class ServicerContext:
    """The context a handler gets: what grpc.aio's ``ServicerContext`` offers."""

    def __init__(self, stream: Stream, server: NativeGrpcServer, deserialize: Any, serialize: Any) -> None:
        self._stream = stream
        self._server = server
        self._deserialize = deserialize
        self._serialize = serialize
        self.status_code = rpc.StatusCode.OK
        self.py_code: Any = None
        self.status_details = ""
        self.trailing: tuple[Any, ...] = _EMPTY
        self.abort_exception: BaseException | None = None
        self.status_sent = False
        # The server ended the call under the handler (a message over the limit, the deadline): as
        # on grpc.aio, whose core ends such calls itself, the handler's reads then see the end of the
        # requests (EOF) if it is not cancelled first, not "RPC already finished".
        self.ended_by_server = False
        self.callbacks: list[Callable[[], None]] = []
        stream.call = self

    # --- for the connection ----------------------------------------------------------------------

    def cancelled_by_peer(self) -> None:
        if not self.status_sent and not self.ended_by_server:
            self.status_code = rpc.StatusCode.CANCELLED

    def check(self) -> None:
        if self.abort_exception is not None:
            raise self.abort_exception
        if self.status_sent:
            raise rpc.UsageError("RPC already finished.")

    def end(self, code: rpc.StatusCode, details: str, trailing: Sequence[Any] = _EMPTY) -> None:
        """Sends the trailers (the headers too if none went out)."""
        self.status_sent = True
        stream = self._stream
        block = w.trailers_block(code.value[0], details, trailing)
        if not stream.headers_sent:
            stream.headers_sent = True
            block = w.RESPONSE_HEAD + block
        stream.conn.finish(stream, block)

    # --- grpc.aio.ServicerContext ----------------------------------------------------------------

    async def read(self) -> Any:
        self.check()
        raw = await self._stream.read()
        self.check()
        if raw is None:
            return EOF
        return self._deserialize(raw) if self._deserialize is not None else raw

    async def write(self, message: Any) -> None:
        self.check()
        raw = self._serialize(message) if self._serialize is not None else message
        limit = self._server.max_send
        if len(raw) > limit:
            raise _SendTooLarge(f"SERVER: Sent message larger than max ({len(raw)} vs. {limit})")
        stream = self._stream
        if not stream.headers_sent:
            stream.headers_sent = True
            stream.conn.send_headers(stream, w.RESPONSE_HEAD)
        if not stream.conn.send_message(stream, raw):
            await stream.drained()
            if stream.finished and not self.status_sent:
                raise asyncio.CancelledError

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        self.check()
        stream = self._stream
        if stream.headers_sent:
            raise rpc.UsageError("Send initial metadata failed: already sent")
        stream.headers_sent = True
        stream.conn.send_headers(stream, w.RESPONSE_HEAD + w.metadata_block(metadata))

    async def abort(
        self, code: Any, details: str = "", trailing_metadata: Sequence[Any] = _EMPTY
    ) -> None:
        """Ends the call with ``code`` (ours or grpc.StatusCode: the gRPC proxy passes on what a
        grpcio client got) and raises rpc.AbortError out of the handler."""
        if self.abort_exception is not None:
            raise rpc.UsageError("Abort already called!")
        self.abort_exception = rpc.AbortError("Locally aborted.")
        if not trailing_metadata and self.trailing:
            trailing_metadata = self.trailing
        else:
            self.trailing = tuple(trailing_metadata)
        if not details and self.status_details:
            details = self.status_details
        else:
            self.status_details = details
        self.status_code = rpc.code_of(code)
        self.py_code = code
        if not self.status_sent:
            self.end(self.status_code, details, trailing_metadata)
        raise self.abort_exception

    async def abort_with_status(self, status: rpc.Status) -> None:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_trailing_metadata(self, metadata: Sequence[Any]) -> None:
        self.trailing = tuple(metadata)

    def trailing_metadata(self) -> tuple[Any, ...]:
        return self.trailing

    def invocation_metadata(self) -> tuple[Any, ...]:
        return self._stream.metadata

    def set_code(self, code: Any) -> None:
        self.status_code = rpc.code_of(code)
        self.py_code = code

    def code(self) -> Any:
        return self.py_code

    def set_details(self, details: str) -> None:
        self.status_details = details

    def details(self) -> str:
        return self.status_details

    def set_compression(self, compression: Any) -> None:
        pass  # replies are never compressed

    def disable_next_message_compression(self) -> None:
        pass

    def peer(self) -> str:
        return self._stream.conn.peer

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> dict[str, list[bytes]]:
        return dict(_INSECURE_AUTH)

    def time_remaining(self) -> float | None:
        deadline = self._stream.deadline
        if deadline is None:
            return None
        return max(deadline - self._stream.conn.loop.time(), 0.0)

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self.callbacks.append(functools.partial(callback, self))

    def done(self) -> bool:
        return self.status_sent or self.ended_by_server

    def cancelled(self) -> bool:
        return bool(self.status_code == rpc.StatusCode.CANCELLED)


class _SendTooLarge(Exception):
    pass


class _Requests:
    """The request stream as an async iterator (grpc.aio's ``_MessageReceiver``)."""

    def __init__(self, context: ServicerContext) -> None:
        self._context = context

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> Any:
        message = await self._context.read()
        if message is EOF:
            raise StopAsyncIteration
        return message


async def serve(server: NativeGrpcServer, stream: Stream) -> None:
    """Runs one call to its end; every outcome sends the call's status (unless the peer reset it)."""
    context: ServicerContext | None = None
    try:
        try:
            details = CallDetails(stream.method, stream.metadata)
            if server.resolves_now:
                handler = server.find_handler_now(details)
            else:
                handler = await server.find_handler(details)
            if handler is None:
                _end_plain(stream, rpc.StatusCode.UNIMPLEMENTED, "Method not found!")
                return
            context = ServicerContext(
                stream, server, handler.request_deserializer, handler.response_serializer
            )
            await _run(handler, stream, context)
        except rpc.AbortError as exc:
            if context is None or exc is not context.abort_exception:
                raise
    except asyncio.CancelledError:
        pass
    except _SendTooLarge as exc:
        if context is not None and not context.status_sent:
            context.end(rpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    except Exception as exc:
        log.exception("Unexpected [%s] raised by servicer method [%s]", type(exc).__name__, stream.method)
        if context is None:
            _end_plain(stream, rpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}")
        elif not context.status_sent and not stream.finished:
            code = context.status_code
            if code == rpc.StatusCode.OK:
                code = rpc.StatusCode.UNKNOWN
            context.end(code, f"Unexpected {type(exc)}: {exc}", context.trailing)
    finally:
        if context is not None:
            for callback in context.callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("Error in callback for method [%s]", stream.method)
        if not stream.finished:  # cancelled without a status: the stream must not stay open
            stream.conn.reset(stream, 0x8)  # CANCEL
        # The stream and its context refer to each other: the cycle is broken here, so a call's
        # objects go when it ends, not at the cyclic collector's next pass (9 per call otherwise).
        stream.call = None


def _end_plain(stream: Stream, code: rpc.StatusCode, details: str) -> None:
    if not stream.finished:
        block = w.trailers_block(code.value[0], details)
        if not stream.headers_sent:
            block = w.RESPONSE_HEAD + block
        stream.conn.finish(stream, block)


async def _run(handler: rpc.MethodHandler, stream: Stream, context: ServicerContext) -> None:
    if not handler.request_streaming:
        raw = await stream.read()
        if raw is None:
            if not stream.finished:
                context.end(rpc.StatusCode.INTERNAL, "grpc: the request has no message")
            return
        deserialize = handler.request_deserializer
        request: Any = deserialize(raw) if deserialize is not None else raw
        if handler.response_streaming:
            await _stream_reply(handler.unary_stream, request, context)
        else:
            await _unary_reply(handler.unary_unary, request, context, handler.response_serializer)
        return
    requests = _Requests(context)
    if handler.response_streaming:
        await _stream_reply(handler.stream_stream, requests, context)
    else:
        await _unary_reply(handler.stream_unary, requests, context, handler.response_serializer)


async def _unary_reply(behavior: Any, request: Any, context: ServicerContext, serialize: Any) -> None:
    if _is_async(behavior):
        reply = await behavior(request, context)
    else:
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(None, behavior, _sync_request(request), context)
    context.check()
    if context.status_code != rpc.StatusCode.OK:
        context.end(context.status_code, context.status_details, context.trailing)
        return
    raw = serialize(reply) if serialize is not None else reply
    limit = context._server.max_send
    if len(raw) > limit:
        too_large = f"SERVER: Sent message larger than max ({len(raw)} vs. {limit})"
        context.end(rpc.StatusCode.RESOURCE_EXHAUSTED, too_large)
        return
    context.status_sent = True
    stream = context._stream
    stream.conn.send_unary(stream, raw, w.trailers_block(0, context.status_details, context.trailing))


async def _stream_reply(behavior: Any, request: Any, context: ServicerContext) -> None:
    if inspect.iscoroutinefunction(behavior):
        await behavior(request, context)  # writes with context.write()
    elif inspect.isasyncgenfunction(behavior):
        replies: AsyncIterator[Any] = behavior(request, context)
        async for reply in replies:
            context.check()
            await context.write(reply)
    else:
        result = behavior(_sync_request(request), context)
        if inspect.isawaitable(result):
            await result
        elif hasattr(result, "__aiter__"):
            async for reply in result:
                context.check()
                await context.write(reply)
        else:
            loop = asyncio.get_running_loop()
            items: Iterator[Any] = iter(result)
            done = object()
            while (reply := await loop.run_in_executor(None, next, items, done)) is not done:
                context.check()
                await context.write(reply)
    context.check()
    context.end(context.status_code, context.status_details, context.trailing)


def _is_async(behavior: Any) -> bool:
    if type(behavior) is types.FunctionType and behavior.__code__.co_flags & inspect.CO_COROUTINE:
        return True  # the usual handler, told without inspect's unwrapping
    return inspect.iscoroutinefunction(behavior) or inspect.isawaitable(behavior)


def _sync_request(request: Any) -> Any:
    if isinstance(request, _Requests):
        raise TypeError("a synchronous handler for a request stream is not supported by the native server")
    return request
