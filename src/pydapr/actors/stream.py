"""The ``SubscribeActorEventsAlpha1`` callback stream: an app that hosts actors without serving HTTP.

The app dials the sidecar's gRPC API and opens the stream; its first message names the actor types
it hosts and their settings (what ``GET /dapr/config`` says for an HTTP app), the sidecar acks it
with ``initial_response`` and from then on pushes invoke / reminder / timer / deactivate callbacks,
each with an id, which the app completes with the matching answer (or ``request_failed``) carrying
that id. Each open stream is one ``ActorAppTransport`` (``ActorStream``); ``ActorStreams`` accepts
the streams and tells the actors facade which one hosts the types, as daprd's
pkg/actors/callbackstream and pkg/api/grpc/actorcallbacks.go do:

- the most recently opened stream takes every new callback; an older one still open (a rolling
  restart: the new process connects before the old one is gone) finishes what it already took;
- a stream that ends fails the calls it had in flight at once (``HOST_DISCONNECTED``, UNAVAILABLE),
  and the types are no longer hosted here unless another stream of the app is still open;
- an app that reconnects opens a new stream and hosts its types again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from google.protobuf import any_pb2, wrappers_pb2

from pydapr import rpc
from pydapr.actors import errors as actor_errors
from pydapr.actors.contract import (
    ActorKey,
    Actors,
    EntityConfig,
    HostedTypes,
    InvokeRequest,
    InvokeResult,
    ReminderFire,
    TimerFire,
)
from pydapr.api.grpc.wire import runtime
from pydapr.errors import DaprError, ErrorKind
from pydapr.observability import trace_context

log = logging.getLogger("pydapr.actors.stream")

S = rpc.StatusCode

# daprd answers these with a bare gRPC status; pydapr's carry the closest catalog code as well.
STREAM_NEEDS_GRPC_CHANNEL = ErrorKind(
    "ERR_ACTOR_NO_APP_CHANNEL",
    400,
    S.FAILED_PRECONDITION,
    "actor callback streaming requires a gRPC app channel",
)
STREAM_FIRST_MESSAGE = ErrorKind(
    "ERR_MALFORMED_REQUEST",
    400,
    S.INVALID_ARGUMENT,
    "first message must be SubscribeActorEventsRequestInitialAlpha1",
)
HOST_DISCONNECTED = ErrorKind(
    "ERR_ACTOR_INVOKE_METHOD",
    500,
    S.UNAVAILABLE,
    "error invoke actor method: actor host disconnected before responding",
)
HOST_FAILED = ErrorKind("ERR_ACTOR_INVOKE_METHOD", 500, S.INTERNAL, "error invoke actor method: {0}")
HOST_NOT_FOUND = ErrorKind(
    "ERR_ACTOR_INVOKE_METHOD", 500, S.INTERNAL, "error invoke actor method: actor method not found: {0}"
)

JSON = "application/json"
_NOT_FOUND = S.NOT_FOUND.value[0]


def _seconds(msg: Any, name: str) -> float | None:
    """A ``google.protobuf.Duration`` field in seconds; None when unset or not positive (daprd's
    default applies then)."""
    if not msg.HasField(name):
        return None
    value = getattr(msg, name)
    seconds = float(value.seconds) + value.nanos / 1e9
    return seconds if seconds > 0 else None


def _entity(actor_type: str, base: EntityConfig, msg: Any) -> EntityConfig:
    """``base`` with what ``msg`` (an initial request or one of its ``entities_config``) sets."""
    idle = _seconds(msg, "actor_idle_timeout")
    drain = _seconds(msg, "drain_ongoing_call_timeout")
    reentrancy = msg.reentrancy if msg.HasField("reentrancy") else None
    return EntityConfig(
        actor_type=actor_type,
        idle_timeout=base.idle_timeout if idle is None else idle,
        drain_ongoing_call_timeout=base.drain_ongoing_call_timeout if drain is None else drain,
        drain_rebalanced_actors=(
            msg.drain_rebalanced_actors
            if msg.HasField("drain_rebalanced_actors")
            else base.drain_rebalanced_actors
        ),
        reentrancy_enabled=base.reentrancy_enabled if reentrancy is None else reentrancy.enabled,
        reentrancy_max_stack_depth=(
            reentrancy.max_stack_depth
            if reentrancy is not None and reentrancy.HasField("max_stack_depth")
            else base.reentrancy_max_stack_depth
        ),
    )


def hosted_types(initial: Any) -> HostedTypes:
    """The app's ``SubscribeActorEventsRequestInitialAlpha1`` as ``HostedTypes``: the top-level
    settings apply to every type, an ``entities_config`` entry overrides them for its types. The
    stream carries no scan interval and no reminder partitions, so Dapr's defaults apply."""
    configs: dict[str, EntityConfig] = {}
    for actor_type in initial.entities:
        configs[actor_type] = _entity(actor_type, EntityConfig(actor_type), initial)
    for entry in initial.entities_config:
        for actor_type in entry.entities:
            base = configs.get(actor_type) or _entity(actor_type, EntityConfig(actor_type), initial)
            configs[actor_type] = _entity(actor_type, base, entry)
    return HostedTypes(entities=configs)


def _packed(data: bytes | None) -> Any:
    """Reminder and timer data as daprd sends it: the registered JSON value in a BytesValue."""
    if data is None:
        return None
    out = any_pb2.Any()
    out.Pack(wrappers_pb2.BytesValue(value=data))
    return out


_ANSWERS = ("invoke_response", "reminder_response", "timer_response", "deactivate_response", "request_failed")


class ActorStream:
    """One open stream: the ``ActorAppTransport`` for the types it registered."""

    def __init__(self, hosted: HostedTypes, number: int) -> None:
        self.hosted = hosted
        self.number = number
        self.closed = False
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()

    def __repr__(self) -> str:
        return f"ActorStream(#{self.number}, {sorted(self.hosted.entities)})"

    # --- ActorAppTransport ---------------------------------------------------------------------

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        key = request.key
        answer = await self._call(
            "invoke_request",
            lambda id_: runtime.SubscribeActorEventsResponseInvokeRequestAlpha1(
                id=id_,
                actor_type=key.actor_type,
                actor_id=key.actor_id,
                method=request.method,
                data=request.data,
                # The app's call is a child of this sidecar's span for it, when traced.
                metadata=trace_context.with_trace(request.metadata),
            ),
        )
        self._raise_failed(answer, request.method)
        if not answer.HasField("invoke_response"):
            raise HOST_FAILED("actor host returned an unexpected response type for invoke")
        reply = answer.invoke_response
        metadata = dict(reply.metadata)
        return InvokeResult(
            data=reply.data,
            status=500 if reply.error else 200,
            content_type=metadata.get("content-type") or JSON,
            error=reply.error,
            headers=metadata,
        )

    async def reminder(self, key: ActorKey, fire: ReminderFire) -> None:
        answer = await self._call(
            "reminder_request",
            lambda id_: runtime.SubscribeActorEventsResponseReminderRequestAlpha1(
                id=id_,
                actor_type=key.actor_type,
                actor_id=key.actor_id,
                name=fire.name,
                due_time=fire.due_time,
                period=fire.period,
                data=_packed(fire.data),
            ),
        )
        self._raise_failed(answer, "remind/" + fire.name)
        if not answer.HasField("reminder_response"):
            raise HOST_FAILED("actor host returned an unexpected response type for reminder")

    async def timer(self, key: ActorKey, fire: TimerFire) -> None:
        answer = await self._call(
            "timer_request",
            lambda id_: runtime.SubscribeActorEventsResponseTimerRequestAlpha1(
                id=id_,
                actor_type=key.actor_type,
                actor_id=key.actor_id,
                name=fire.name,
                due_time=fire.due_time,
                period=fire.period,
                callback=fire.callback,
                data=_packed(fire.data),
            ),
        )
        self._raise_failed(answer, "timer/" + fire.name)
        if not answer.HasField("timer_response"):
            raise HOST_FAILED("actor host returned an unexpected response type for timer")

    async def deactivate(self, key: ActorKey) -> None:
        answer = await self._call(
            "deactivate_request",
            lambda id_: runtime.SubscribeActorEventsResponseDeactivateRequestAlpha1(
                id=id_, actor_type=key.actor_type, actor_id=key.actor_id
            ),
        )
        # As daprd: the activation is gone from the sidecar whatever the app answered.
        if answer.HasField("request_failed"):
            log.debug("app failed to deactivate %s: %s", key, answer.request_failed.message)

    # --- the stream ----------------------------------------------------------------------------

    async def _call(self, kind: str, build: Callable[[str], Any]) -> Any:
        if self.closed:
            raise HOST_DISCONNECTED()
        id_ = str(next(self._ids))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[id_] = done
        self._outbox.put_nowait(runtime.SubscribeActorEventsResponseAlpha1(**{kind: build(id_)}))
        try:
            return await done
        finally:
            # The caller gave up (deadline, cancellation) or the answer came: a late answer for
            # this id is dropped.
            self._pending.pop(id_, None)

    @staticmethod
    def _raise_failed(answer: Any, what: str) -> None:
        if not answer.HasField("request_failed"):
            return
        failed = answer.request_failed
        if failed.code == _NOT_FOUND:
            # The app has no such type or method: the same call fails the same way again.
            raise HOST_NOT_FOUND(what)
        raise HOST_FAILED(f"error from actor service: {failed.message}")

    def deliver(self, message: Any) -> None:
        """One message from the app: completes the callback with its id."""
        kind = message.WhichOneof("request_type")
        if kind not in _ANSWERS:
            log.warning("%r: ignoring an app message without correlation id (%s)", self, kind)
            return
        id_ = getattr(message, kind).id
        done = self._pending.pop(id_, None)
        if done is None or done.done():
            log.warning("%r: dropping an answer for unknown callback id %r", self, id_)
            return
        done.set_result(message)

    def close(self) -> None:
        """No more callbacks go out; those in flight fail now."""
        if self.closed:
            return
        self.closed = True
        for done in self._pending.values():
            if not done.done():
                done.set_exception(HOST_DISCONNECTED())
        self._pending.clear()
        self._outbox.put_nowait(None)

    async def outgoing(self) -> AsyncIterator[Any]:
        while True:
            message = await self._outbox.get()
            if message is None:
                return
            yield message

    async def read(self, requests: AsyncIterator[Any]) -> None:
        """Delivers the app's messages until the stream ends, then closes."""
        try:
            async for message in requests:
                self.deliver(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the call broke (client gone, reset): the stream is over
            log.debug("%r ended: %s", self, exc)
        finally:
            self.close()


class ActorStreams:
    """Accepts ``SubscribeActorEventsAlpha1`` streams and hosts their types through the facade.

    ``accept_streams`` is False when the app channel speaks HTTP: daprd then refuses the stream
    (FAILED_PRECONDITION), since the types come from the app's ``GET /dapr/config``."""

    def __init__(self, api: Actors, *, accept_streams: bool = True) -> None:
        self.api = api
        self.accept_streams = accept_streams
        self._numbers = itertools.count(1)
        self._open: list[ActorStream] = []  # oldest first
        self._attached: ActorStream | None = None
        self._closed = False

    @property
    def streams(self) -> list[ActorStream]:
        return list(self._open)

    async def serve(self, requests: AsyncIterator[Any], context: Any) -> AsyncGenerator[Any, None]:
        if not self.accept_streams:
            raise STREAM_NEEDS_GRPC_CHANNEL()
        if self._closed:  # the sidecar is shutting down: the app reconnects to its successor
            raise actor_errors.RUNTIME_CLOSED()
        try:
            first = await anext(aiter(requests))
        except StopAsyncIteration:
            return
        if not first.HasField("initial_request"):
            raise STREAM_FIRST_MESSAGE()
        stream = ActorStream(hosted_types(first.initial_request), next(self._numbers))
        self._attach(stream)
        reader: asyncio.Task[None] | None = None
        try:
            log.info(
                "actor callback stream %d opened, hosting %s", stream.number, sorted(stream.hosted.entities)
            )
            yield runtime.SubscribeActorEventsResponseAlpha1(
                initial_response=runtime.SubscribeActorEventsResponseInitialAlpha1()
            )
            reader = asyncio.create_task(stream.read(requests))
            async for message in stream.outgoing():
                yield message
        finally:
            stream.close()
            self._detach(stream)
            if reader is not None and not reader.done():
                reader.cancel()
                # grpc's request iterator may hold a cancellation until the call is over; the
                # reader ends with the call, no need to wait for it here.
                with contextlib.suppress(BaseException):
                    await asyncio.wait({reader}, timeout=0.2)
            log.info("actor callback stream %d closed", stream.number)

    def _attach(self, stream: ActorStream) -> None:
        if not stream.hosted.entities and self._attached is not None:
            # A stream that hosts nothing (the SDK's support probe registers no type) does not
            # take the callbacks from one that does, and moves nothing in placement.
            self._open.append(stream)
            return
        self.api.attach_app_transport(stream.hosted, stream)
        self._open.append(stream)
        self._attached = stream

    def _detach(self, stream: ActorStream) -> None:
        if stream not in self._open:
            return
        self._open.remove(stream)
        if self._attached is not stream:
            return  # a newer stream hosts the types already
        live = [s for s in self._open if not s.closed and s.hosted.entities]
        if live:
            # An older stream of the app is still open: it takes the callbacks again.
            self._attached = live[-1]
            self._safely(lambda: self.api.attach_app_transport(live[-1].hosted, live[-1]))
        else:
            self._attached = None
            self._safely(lambda: self.api.detach_app_transport(stream))

    @staticmethod
    def _safely(step: Callable[[], None]) -> None:
        try:
            step()
        except DaprError as err:
            log.warning("actor callback stream bookkeeping failed: %s", err.message)
        except Exception:
            log.exception("actor callback stream bookkeeping failed")

    def close_all(self) -> None:
        """Sidecar shutdown: every stream ends (the apps see it and may reconnect elsewhere), and
        no new one is taken."""
        self._closed = True
        for stream in list(self._open):
            stream.close()
