"""``bindings.rabbitmq``: one RabbitMQ queue, written to (output) and read from (input)
(components-contrib bindings/rabbitmq).

Metadata: ``host`` (required, an AMQP URL ``amqp://user:pass@host:port/vhost``; ``amqps://`` for
TLS, with ``caCert``/``clientCert``/``clientKey`` as PEM), ``queueName`` (required). The queue is
declared at init with ``durable``, ``deleteWhenUnused``, ``exclusive`` (all default false),
``ttlInSeconds`` (the queue's ``x-message-ttl``) and ``maxPriority`` (``x-max-priority``, 1-255).
``prefetchCount`` (default 0, no limit) is the reader's QoS; ``contentType`` (default
``text/plain``) the content type of published messages; ``reconnectWaitInSeconds`` (default 5)
the pause between reconnection attempts.

Output operation ``create`` publishes the data to the queue (default exchange, persistent, with
publisher confirms: the call returns once the broker has the message). Request metadata travels as
message headers; ``ttlInSeconds`` sets the message's expiration, ``priority`` (0-255) its priority,
``contentType`` its content type.

Input: messages are handed to the app one at a time, in queue order, with their string headers as
metadata (keys and values URL-query-escaped, as Dapr does). A message is acknowledged only once the
app has taken it; a message whose delivery fails (the sidecar stopping) is requeued, and messages
still unacknowledged when the connection goes (sidecar killed) are redelivered by the broker.
With ``durable: true`` the queue and its persistent messages also survive a broker restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus, urlsplit

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from pydapr.bindings._tls import client_context
from pydapr.bindings.contract import (
    BindingError,
    EventHandler,
    InputBinding,
    InvokeRequest,
    InvokeResponse,
    OutputBinding,
    ReadEvent,
)
from pydapr.components.base import ComponentConfigError, ComponentMetadata

log = logging.getLogger("pydapr.bindings.rabbitmq")

DEFAULT_CONTENT_TYPE = "text/plain"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(metadata: ComponentMetadata, key: str, default: float) -> float:
    """A number of seconds, or a Go duration such as ``5s`` / ``500ms``."""
    text = (metadata.get(key) or "").strip()
    if not text:
        return default
    match = _DURATION.fullmatch(text)
    if match:
        return float(match[1]) * _UNITS[match[2]]
    try:
        return float(text)
    except ValueError:
        raise ComponentConfigError(metadata.name, key, f"must be a number of seconds, got {text!r}") from None


def message_ttl(meta: dict[str, str]) -> int | None:
    """Dapr's ``ttlInSeconds`` request metadata: a positive integer, or absent."""
    text = meta.get("ttlInSeconds", "")
    if not text:
        return None
    try:
        ttl = int(text)
    except ValueError:
        raise BindingError(
            f"failed to get TTL: ttlInSeconds value must be a valid integer: actual is '{text}'"
        ) from None
    if ttl <= 0:
        raise BindingError(f"failed to get TTL: ttlInSeconds value must be higher than zero: actual is {ttl}")
    return ttl


def message_priority(meta: dict[str, str]) -> int | None:
    """Dapr's ``priority`` request metadata: an integer clamped to 0-255, or absent."""
    text = meta.get("priority", "")
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise BindingError(f"priority value must be a valid integer: actual is '{text}'") from None
    return min(max(value, 0), 255)


class RabbitMQBinding(InputBinding, OutputBinding):
    def __init__(self) -> None:
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._read_channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag = ""
        self._pending: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.close_grace = 5.0

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        url = metadata.get("host") or metadata.get("connectionString") or ""
        if not url:
            raise ComponentConfigError(metadata.name, "host", "missing host address")
        scheme = urlsplit(url).scheme
        if scheme not in ("amqp", "amqps"):
            raise ComponentConfigError(
                metadata.name, "host", f"must be an amqp:// or amqps:// URL, got {url!r}"
            )
        self.queue_name = metadata.get("queueName") or ""
        if not self.queue_name:
            raise ComponentConfigError(metadata.name, "queueName", "missing queue Name")
        self.durable = metadata.get_bool("durable")
        self.auto_delete = metadata.get_bool("deleteWhenUnused")
        self.exclusive = metadata.get_bool("exclusive")
        self.prefetch = metadata.get_int("prefetchCount", 0)
        if self.prefetch < 0:
            raise ComponentConfigError(metadata.name, "prefetchCount", "must not be negative")
        self.content_type = metadata.get("contentType") or DEFAULT_CONTENT_TYPE
        self.reconnect_wait = seconds(
            metadata, "reconnectWaitInSeconds", seconds(metadata, "reconnectWait", 5.0)
        )
        self.arguments: dict[str, Any] = {}
        ttl_text = metadata.get("ttlInSeconds")
        if ttl_text:
            ttl = metadata.get_int("ttlInSeconds", 0)
            if ttl <= 0:
                raise ComponentConfigError(metadata.name, "ttlInSeconds", "must be higher than zero")
            self.arguments["x-message-ttl"] = ttl * 1000
        priority_text = metadata.get("maxPriority")
        if priority_text:
            priority = metadata.get_int("maxPriority", 0)
            if priority < 0:
                raise ComponentConfigError(metadata.name, "maxPriority", "can't be negative")
            self.arguments["x-max-priority"] = min(priority, 255)
        ssl_context = client_context(metadata) if scheme == "amqps" else None
        try:
            self._connection = await aio_pika.connect_robust(
                url, timeout=10, ssl_context=ssl_context, reconnect_interval=self.reconnect_wait
            )
            self._publish_channel = await self._connection.channel(publisher_confirms=True)
            # Declared at init, as Dapr does, so a publish before any reader is not lost.
            await self._declare(self._publish_channel)
        except Exception:
            await self.close()
            raise

    async def _declare(self, channel: AbstractChannel) -> AbstractQueue:
        return await channel.declare_queue(
            self.queue_name,
            durable=self.durable,
            exclusive=self.exclusive,
            auto_delete=self.auto_delete,
            arguments=self.arguments or None,
        )

    # --- output ----------------------------------------------------------------------------------
    def operations(self) -> tuple[str, ...]:
        return ("create",)

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        channel = self._publish_channel
        if channel is None or channel.is_closed:
            raise BindingError("channel/connection is not open")
        meta = request.metadata
        ttl = message_ttl(meta)
        message = aio_pika.Message(
            request.data,
            content_type=meta.get("contentType") or self.content_type,
            headers=dict(meta),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            expiration=timedelta(seconds=ttl) if ttl is not None else None,
            priority=message_priority(meta),
        )
        try:
            await channel.default_exchange.publish(message, routing_key=self.queue_name, timeout=30)
        except Exception as exc:
            raise BindingError(f"failed to publish message: {exc}") from exc
        return InvokeResponse()

    # --- input -----------------------------------------------------------------------------------
    async def read(self, handler: EventHandler) -> None:
        if self._connection is None:
            raise BindingError("binding already closed")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        self._read_channel = channel
        self._queue = await self._declare(channel)
        self._worker = asyncio.create_task(self._work(handler))
        self._consumer_tag = await self._queue.consume(self._pending.put, no_ack=False)

    async def _work(self, handler: EventHandler) -> None:
        # One message at a time, in queue order, like Dapr's reader.
        while not self._closing.is_set():
            incoming = await self._pending.get()
            if incoming is None or self._closing.is_set():
                return  # left unacknowledged: closing the channel hands it back to the queue
            await self._deliver(handler, incoming)

    async def _deliver(self, handler: EventHandler, incoming: AbstractIncomingMessage) -> None:
        metadata = {
            quote_plus(str(k)): quote_plus(v)
            for k, v in (incoming.headers or {}).items()
            if isinstance(v, str)
        }
        try:
            await handler(ReadEvent(incoming.body, metadata))
        except Exception as exc:
            log.warning("rabbitmq %s: event not delivered (%s); requeued", self.metadata.name, exc)
            with contextlib.suppress(Exception):
                await incoming.nack(requeue=True)
            return
        try:
            await incoming.ack()
        except Exception as exc:
            # The channel went away: the broker hands the message out again.
            log.warning(
                "rabbitmq %s: acknowledging failed (%s); it will be redelivered", self.metadata.name, exc
            )

    async def close(self) -> None:
        self._closing.set()
        queue, tag = self._queue, self._consumer_tag
        self._queue, self._consumer_tag = None, ""
        if queue is not None and tag:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(queue.cancel(tag), 5)
        if self._worker is not None:
            # The event in flight may still finish (and be acknowledged) within the grace period;
            # after it the delivery is cancelled and the message goes back to the queue.
            self._pending.put_nowait(None)  # wakes the worker
            worker, self._worker = self._worker, None
            done, _ = await asyncio.wait({worker}, timeout=self.close_grace)
            if not done:
                worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 10)
        self._publish_channel = self._read_channel = None
