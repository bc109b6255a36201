"""Streaming subscriptions: ``SubscribeTopicEventsAlpha1``, a bidirectional gRPC stream per topic.

The client's first message is ``initial_request`` (pubsub, topic, metadata, dead-letter topic). The
sidecar subscribes to the broker as the app's consumer group (so a subscriber that reconnects gets
what was published meanwhile from a durable broker), answers with ``initial_response``, then sends
each event as ``event_message`` and waits for the client's ``event_processed`` with the same id.
The answer is read like a gRPC app's: SUCCESS, RETRY (retried, then dead-lettered or handed back
to the broker), DROP (dead-lettered if configured). Retries are the subscriptions' (``delivery``):
the pub/sub component's inbound Resiliency policy, else pydapr's default delivery policy.

When the client goes away, the events it had not answered are neither retried nor dead-lettered:
they stay unacknowledged and the broker delivers them again; the broker subscription is stopped, so
no consumer is left behind. As in Dapr, one sidecar holds at most one stream per pubsub and topic; a
client that reconnects while its old stream is still stopping waits for it rather than being refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

from pydapr.api.grpc.wire import runtime
from pydapr.pipeline import Pipeline
from pydapr.pubsub import errors
from pydapr.pubsub.api import PubSubAPI
from pydapr.pubsub.appcallback import outcome_of, topic_event_request
from pydapr.pubsub.contract import SubscribeRequest, Subscription
from pydapr.pubsub.delivery import Deliverer, Outcome, Republish, SubscriptionClosed
from pydapr.pubsub.subscriptions import TopicSubscription
from pydapr.resiliency import Policy

log = logging.getLogger("pydapr.pubsub.streaming")

# Dapr gives a stream subscription the single route "/".
STREAM_PATH = "/"


class _Stream:
    """One connected streaming subscriber: events out, answers in."""

    def __init__(self, sub: TopicSubscription) -> None:
        self.sub = sub
        self.outbox: asyncio.Queue[Any] = asyncio.Queue()
        self.waiting: dict[str, list[asyncio.Future[Outcome]]] = {}
        self.closed = False
        self.running: Subscription | None = None
        self.reader: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    async def call(
        self,
        sub: TopicSubscription,
        path: str,
        event: dict[str, Any],
        raw: bytes,
        metadata: Mapping[str, str],
    ) -> Outcome:
        """The ``AppCall`` of this stream's deliverer: send the event, wait for the client's answer.

        The stream carries no per-message metadata (as daprd's streaming postman)."""
        if self.closed:
            raise SubscriptionClosed()
        req = topic_event_request(event, topic=sub.topic, pubsub=sub.pubsub, path=path)
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        queue = self.waiting.setdefault(req.id, [])
        queue.append(done)
        self.outbox.put_nowait(runtime.SubscribeTopicEventsResponseAlpha1(event_message=req))
        try:
            return await done
        finally:
            with contextlib.suppress(ValueError):
                queue.remove(done)
            if not queue and self.waiting.get(req.id) is queue:
                del self.waiting[req.id]

    def answer(self, processed: Any) -> None:
        waiting = [f for f in self.waiting.get(processed.id, []) if not f.done()]
        if not waiting:
            log.debug("answer for unknown event %r on %s ignored", processed.id, self.sub.topic)
            return
        waiting[0].set_result(outcome_of(processed.status.status))

    async def read(self, requests: AsyncIterator[Any]) -> None:
        try:
            async for req in requests:
                if req.HasField("event_processed"):
                    self.answer(req.event_processed)
                else:
                    log.warning("stream on %s sent a second initial request; closing", self.sub.topic)
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("stream on %s ended: %s", self.sub.topic, exc)
        finally:
            self.close_soon()

    def close_soon(self) -> None:
        """No more events go out; answers still awaited fail so their messages stay unacknowledged."""
        if self.closed:
            return
        self.closed = True
        for queue in self.waiting.values():
            for done in queue:
                if not done.done():
                    done.set_exception(SubscriptionClosed())
        self.outbox.put_nowait(None)

    async def outgoing(self) -> AsyncIterator[Any]:
        while True:
            item = await self.outbox.get()
            if item is None:
                return
            yield item

    async def shutdown(self, unregister: Callable[[], None]) -> None:
        self.close_soon()
        try:
            if self.reader is not None:
                self.reader.cancel()
                # grpc's request iterator may hold on to a cancellation until the call is over;
                # the reader ends with the call, no need to wait for it here.
                await asyncio.wait({self.reader}, timeout=0.2)
            if self.running is not None:
                await self.running.stop()
        except Exception:
            log.exception("stopping the stream subscription to %s failed", self.sub.topic)
        finally:
            unregister()
            self.finished.set()


class StreamingSubscriptions:
    def __init__(
        self,
        api: PubSubAPI,
        republish: Republish,
        policy: Policy | None = None,
        *,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.api = api
        self.republish = republish
        self.policy = policy
        self.pipeline = pipeline
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def describe(self) -> list[dict[str, Any]]:
        return [s.sub.describe() for s in self._streams.values()]

    async def close_all(self, timeout: float = 5.0) -> None:
        """Sidecar shutdown: end every stream (the clients see the stream end and may reconnect)."""
        streams = list(self._streams.values())
        for stream in streams:
            stream.close_soon()
        if streams:
            waits = [asyncio.ensure_future(s.finished.wait()) for s in streams]
            _, late = await asyncio.wait(waits, timeout=timeout)
            for wait in late:
                wait.cancel()

    async def serve(self, requests: AsyncIterator[Any], context: Any) -> AsyncGenerator[Any, None]:
        try:
            first = await anext(aiter(requests))
        except StopAsyncIteration:
            return
        if not first.HasField("initial_request"):
            raise errors.SUBSCRIBE_INVALID("initial request is required")
        init = first.initial_request
        if not init.pubsub_name:
            raise errors.SUBSCRIBE_INVALID("pubsubName is required")
        if not init.topic:
            raise errors.SUBSCRIBE_INVALID("topic is required")
        comp = self.api.component(init.pubsub_name)
        if not self.api.scopes(comp).may_subscribe(self.api.app_id, init.topic):
            raise errors.PUBSUB_FORBIDDEN(init.topic, self.api.app_id)
        key = (init.pubsub_name, init.topic)
        while (existing := self._streams.get(key)) is not None:
            if not existing.closed:
                raise errors.SUBSCRIBE_DUPLICATE(init.pubsub_name, init.topic)
            # A client reconnecting while its old stream still stops waits for it, so the old
            # broker subscription takes nothing more once the new one is listed.
            await existing.finished.wait()
        sub = TopicSubscription(
            init.pubsub_name,
            init.topic,
            default_path=STREAM_PATH,
            dead_letter_topic=init.dead_letter_topic,
            metadata=dict(init.metadata),
            kind="STREAMING",
        )
        stream = _Stream(sub)
        self._streams[key] = stream
        try:
            deliverer = Deliverer(stream.call, self.republish, self.policy, pipeline=self.pipeline)
            stream.running = await comp.subscribe(
                SubscribeRequest(sub.topic, dict(sub.metadata)), deliverer.handler(sub)
            )
            log.info("streaming subscription to %s/%s", sub.pubsub, sub.topic)
            yield runtime.SubscribeTopicEventsResponseAlpha1(
                initial_response=runtime.SubscribeTopicEventsResponseInitialAlpha1()
            )
            stream.reader = asyncio.create_task(stream.read(requests))
            async for out in stream.outgoing():
                yield out
        finally:

            def unregister() -> None:
                if self._streams.get(key) is stream:
                    del self._streams[key]

            # The handler is cancelled when the client goes away; the shutdown must run to its
            # end regardless, so it is a task of its own, held here until it is done.
            task = asyncio.create_task(stream.shutdown(unregister))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
            await asyncio.shield(task)
            log.info("streaming subscription to %s/%s ended", sub.pubsub, sub.topic)
