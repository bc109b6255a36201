"""``pubsub.in-memory``: a broker inside the sidecar process, for tests and demos (lost on exit).

Each consumer group (``consumerID``, default the app id) has its own queue per topic; subscribers
of one group share it. Messages published to a topic no group subscribes to are dropped, as by
Dapr's in-memory broker.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from pydapr.components.base import ComponentMetadata
from pydapr.pubsub.contract import (
    FEATURE_MESSAGE_TTL,
    Backoff,
    Handler,
    HandlerPool,
    Message,
    PublishRequest,
    PubSub,
    SubscribeRequest,
    Subscription,
    consumer_id,
    handle_until_done,
    ttl_seconds,
)


@dataclass(slots=True)
class _Queued:
    msg: Message
    expires_at: float | None


class InMemoryPubSub(PubSub):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self._group = consumer_id(metadata)
        self._concurrency = metadata.get_int("concurrency", 10)
        self._queues: dict[str, dict[str, asyncio.Queue[_Queued]]] = {}

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_MESSAGE_TTL})

    async def publish(self, req: PublishRequest) -> None:
        groups = self._queues.get(req.topic)
        if not groups:
            return  # no group subscribes: dropped
        ttl = ttl_seconds(req.metadata)
        expires = time.monotonic() + ttl if ttl is not None else None
        for queue in groups.values():
            msg = Message(req.topic, req.data, req.content_type, dict(req.metadata))
            queue.put_nowait(_Queued(msg, expires))

    async def subscribe(self, req: SubscribeRequest, handler: Handler) -> Subscription:
        group = req.metadata.get("consumerID") or self._group
        queue = self._queues.setdefault(req.topic, {}).setdefault(group, asyncio.Queue())
        limit = int(req.metadata.get("concurrency") or self._concurrency)
        return _MemorySubscription(queue, handler, limit)


class _MemorySubscription(Subscription):
    def __init__(self, queue: asyncio.Queue[_Queued], handler: Handler, limit: int) -> None:
        self._queue = queue
        self._handler = handler
        self._pool = HandlerPool(limit)
        self._stopping = asyncio.Event()
        self._backoff = Backoff()
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        while True:
            await self._pool.acquire()
            try:
                item = await self._queue.get()
            except asyncio.CancelledError:
                self._pool.release()
                raise
            if item.expires_at is not None and item.expires_at < time.monotonic():
                self._pool.release()
                continue
            self._pool.spawn(lambda item=item: self._deliver(item))  # type: ignore[misc]

    async def _deliver(self, item: _Queued) -> None:
        if not await handle_until_done(self._handler, item.msg, self._backoff, self._stopping):
            # Not handled before stop: give it back to the group for the next subscriber.
            self._queue.put_nowait(item)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._stopping.set()
        await self._pool.drain()
