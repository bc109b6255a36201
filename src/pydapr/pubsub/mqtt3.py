"""``pubsub.mqtt3``: MQTT 3.1.1 (Mosquitto), QoS 1, persistent sessions named after ``consumerID``.

A message is acknowledged (PUBACK) only after the app handled it, so a sidecar killed mid-delivery
gets it again from its session when it reconnects; a failed handler is retried here with back-off
(MQTT has no negative acknowledgement). Like Dapr's, one consumer group per ``consumerID``: MQTT
client ids are exclusive, so replicas of one app cannot share a subscription (no competing consumers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from urllib.parse import urlparse

import aiomqtt

from pydapr.components.base import ComponentMetadata
from pydapr.pubsub.contract import (
    FEATURE_SUBSCRIBE_WILDCARDS,
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
)

log = logging.getLogger("pydapr.pubsub.mqtt3")


class MQTTPubSub(PubSub):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        url = urlparse(metadata.get("url") or "tcp://localhost:1883")
        self._host = url.hostname or "localhost"
        self._port = url.port or 1883
        self._username = url.username or metadata.get("username")
        self._password = url.password or metadata.get("password")
        self._qos = metadata.get_int("qos", 1)
        self._retain = metadata.get_bool("retain")
        self._clean = metadata.get_bool("cleanSession", False)
        self._group = consumer_id(metadata)
        self._concurrency = metadata.get_int("concurrency", 10)
        self._publisher: aiomqtt.Client | None = None
        self._publish_lock = asyncio.Lock()
        await self._connect_publisher()

    def client(self, identifier: str, clean: bool) -> aiomqtt.Client:
        return aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=identifier,
            clean_session=clean,
            timeout=10,
        )

    async def _connect_publisher(self) -> aiomqtt.Client:
        client = self.client(f"{self._group}-pub-{uuid.uuid4().hex[:8]}", True)
        await client.__aenter__()
        self._publisher = client
        return client

    async def close(self) -> None:
        if self._publisher is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._publisher.__aexit__(None, None, None)

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_SUBSCRIBE_WILDCARDS})

    async def publish(self, req: PublishRequest) -> None:
        client = self._publisher
        try:
            if client is None:
                raise aiomqtt.MqttError("not connected")
            await client.publish(req.topic, req.data, qos=self._qos, retain=self._retain)
        except aiomqtt.MqttError:
            # The broker went away (restart): reconnect once, then let a second failure surface.
            async with self._publish_lock:
                if self._publisher is client:
                    if client is not None:
                        with contextlib.suppress(Exception):
                            await client.__aexit__(None, None, None)
                    self._publisher = None
                    await self._connect_publisher()
            assert self._publisher is not None
            await self._publisher.publish(req.topic, req.data, qos=self._qos, retain=self._retain)

    async def subscribe(self, req: SubscribeRequest, handler: Handler) -> Subscription:
        group = req.metadata.get("consumerID") or self._group
        # Stable per (group, topic) so a restarted sidecar resumes its own session and its backlog.
        digest = hashlib.sha1(req.topic.encode()).hexdigest()[:10]
        identifier = f"{group}-{digest}"
        limit = int(req.metadata.get("concurrency") or self._concurrency)
        sub = _MQTTSubscription(self, identifier, req.topic, handler, limit)
        await sub.start()
        return sub


class _MQTTSubscription(Subscription):
    def __init__(self, broker: MQTTPubSub, identifier: str, topic: str, handler: Handler, limit: int) -> None:
        self._b = broker
        self._identifier = identifier
        self._topic = topic
        self._handler = handler
        self._pool = HandlerPool(limit)
        self._stopping = asyncio.Event()
        self._backoff = Backoff()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        # Subscribe before returning, so messages published right after are in our session.
        waiter = asyncio.create_task(self._connected.wait())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()

    async def _run(self) -> None:
        failures = 0
        while True:
            client = self._b.client(self._identifier, self._b._clean)
            # Acknowledge only after the handler ran: aiomqtt exposes no switch for it, so set it
            # on the paho client it wraps.
            client._client.manual_ack_set(True)
            try:
                async with client:
                    await client.subscribe(self._topic, qos=self._b._qos)
                    self._connected.set()
                    failures = 0
                    async for incoming in client.messages:
                        if self._stopping.is_set():
                            continue  # not acknowledged: the session hands it out again later
                        await self._pool.submit(lambda m=incoming, c=client: self._deliver(c, m))  # type: ignore[misc]
            except aiomqtt.MqttError as exc:
                if self._stopping.is_set():
                    return
                if not self._connected.is_set() and failures == 0:
                    raise
                failures += 1
                log.warning("mqtt subscription to %s: %s; reconnecting", self._topic, exc)
                await asyncio.sleep(self._backoff.delay(failures))

    async def _deliver(self, client: aiomqtt.Client, incoming: aiomqtt.Message) -> None:
        payload = incoming.payload if isinstance(incoming.payload, bytes) else str(incoming.payload).encode()
        msg = Message(incoming.topic.value, payload, None, {}, str(incoming.mid))
        if await handle_until_done(self._handler, msg, self._backoff, self._stopping):
            with contextlib.suppress(Exception):
                client._client.ack(incoming.mid, incoming.qos)

    async def stop(self) -> None:
        # Finish what is in flight while still connected, so its acknowledgements reach the broker.
        self._stopping.set()
        await self._pool.drain()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
