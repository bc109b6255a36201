"""``pubsub.rabbitmq``: one exchange per topic, one queue ``{consumerID}-{topic}`` per consumer group.

Unlike Dapr's defaults, exchanges and queues are durable, queues are not deleted when unused and
messages are persistent, because pydapr promises that nothing acknowledged by publish is lost;
``durable``, ``deletedWhenUnused`` and ``deliveryMode`` still override that. A failed message is
requeued (``requeueInFailure``, default true here) and so delivered again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

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
    ttl_seconds,
)

log = logging.getLogger("pydapr.pubsub.rabbitmq")

_RESERVED_HEADERS = frozenset({"ttlInSeconds", "rawPayload"})


class RabbitMQPubSub(PubSub):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        url = metadata.get("connectionString")
        if not url:
            host = metadata.get("hostname") or metadata.get("host") or "localhost"
            user = metadata.get("username") or "guest"
            password = metadata.get("password") or "guest"
            port = metadata.get("port") or "5672"
            scheme = "amqps" if metadata.get_bool("enableTLS") else "amqp"
            url = f"{scheme}://{user}:{password}@{host}:{port}/"
        self._group = consumer_id(metadata)
        self._durable = metadata.get_bool("durable", True)
        self._auto_delete = metadata.get_bool("deletedWhenUnused", False)
        self._persistent = metadata.get_int("deliveryMode", 2) == 2
        self._requeue = metadata.get_bool("requeueInFailure", True)
        self._kind = aio_pika.ExchangeType(metadata.get("exchangeKind") or "fanout")
        self._prefetch = metadata.get_int("prefetchCount", 0) or metadata.get_int("concurrency", 10)
        self.connection: AbstractRobustConnection = await aio_pika.connect_robust(url, timeout=10)
        self._channel = await self.connection.channel(publisher_confirms=True)
        self._exchanges: dict[str, AbstractExchange] = {}

    async def close(self) -> None:
        await self.connection.close()

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_MESSAGE_TTL})

    async def exchange(self, channel: AbstractChannel, topic: str) -> AbstractExchange:
        return await channel.declare_exchange(
            topic, self._kind, durable=self._durable, auto_delete=self._auto_delete
        )

    async def publish(self, req: PublishRequest) -> None:
        ex = self._exchanges.get(req.topic)
        if ex is None:
            ex = self._exchanges[req.topic] = await self.exchange(self._channel, req.topic)
        ttl = ttl_seconds(req.metadata)
        headers: dict[str, Any] = {k: v for k, v in req.metadata.items() if k not in _RESERVED_HEADERS}
        message = aio_pika.Message(
            req.data,
            content_type=req.content_type,
            headers=headers,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT if self._persistent else None,
            expiration=timedelta(seconds=ttl) if ttl is not None else None,
        )
        # With publisher confirms this returns once the broker has taken responsibility.
        await ex.publish(message, routing_key=req.metadata.get("routingKey", ""))

    async def subscribe(self, req: SubscribeRequest, handler: Handler) -> Subscription:
        group = req.metadata.get("consumerID") or self._group
        limit = int(req.metadata.get("concurrency") or self._prefetch)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=limit)
        ex = await self.exchange(channel, req.topic)
        queue = await channel.declare_queue(
            f"{group}-{req.topic}", durable=self._durable, auto_delete=self._auto_delete
        )
        for key in (req.metadata.get("routingKey") or "").split(",") if self._kind != "fanout" else [""]:
            await queue.bind(ex, routing_key=key.strip())
        sub = _RabbitSubscription(channel, queue, req.topic, handler, limit, self._requeue)
        await sub.start()
        return sub


class _RabbitSubscription(Subscription):
    def __init__(
        self,
        channel: AbstractChannel,
        queue: AbstractQueue,
        topic: str,
        handler: Handler,
        limit: int,
        requeue: bool,
    ) -> None:
        self._channel = channel
        self._queue = queue
        self._topic = topic
        self._handler = handler
        self._pool = HandlerPool(limit)
        self._requeue = requeue
        self._backoff = Backoff()
        self._tag = ""

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message, no_ack=False)

    async def _on_message(self, incoming: AbstractIncomingMessage) -> None:
        await self._pool.submit(lambda: self._deliver(incoming))

    async def _deliver(self, incoming: AbstractIncomingMessage) -> None:
        headers = {k: str(v) for k, v in (incoming.headers or {}).items()}
        msg = Message(self._topic, incoming.body, incoming.content_type, headers, str(incoming.delivery_tag))
        try:
            await self._handler(msg)
        except Exception:
            # A short pause keeps a message the app keeps refusing from spinning through the broker.
            await asyncio.sleep(self._backoff.delay(1))
            await incoming.nack(requeue=self._requeue)
            return
        await incoming.ack()

    async def stop(self) -> None:
        try:
            await self._queue.cancel(self._tag)
        except Exception as exc:  # the channel may already be gone with the connection
            log.debug("cancel consumer on %s: %s", self._topic, exc)
        await self._pool.drain()
        # Closing the channel hands unacknowledged messages back to the queue.
        await self._channel.close()
