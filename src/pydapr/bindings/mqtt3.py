"""``bindings.mqtt3``: publish to and read from an MQTT 3.1.1 broker (components-contrib bindings/mqtt3).

Metadata: ``url`` (required; ``tcp://user:pass@host:port``, ``mqtt://`` alike; ``ssl://``,
``mqtts://``, ``tcps://`` or ``tls://`` for TLS with ``caCert``, ``clientCert``, ``clientKey`` as
PEM), ``topic`` (required), ``consumerID`` (required; ``{uuid}`` in it becomes a random UUID),
``retain`` (default false), ``cleanSession`` (default false), ``backOffMaxRetries`` (default 0;
-1 = no limit). ``qos`` is deprecated in Dapr and ignored: QoS is always 1.

Output operation ``create`` publishes the data (QoS 1) to the request metadata's ``topic`` or the
component's, retained when the request's ``retain`` (else the component's) is true. The producer
connects on first use as ``<consumerID>-producer``; a failed publish is retried 3 times 200 ms apart
on a fresh connection.

Input: subscribes to ``topic`` (wildcards allowed) as ``<consumerID>-consumer``; each message is
handed to the app, in arrival order, with metadata ``topic``. It is acknowledged (PUBACK) only
after the app took it, so with a persistent session (``cleanSession: false``) a message that was
not delivered before the sidecar stopped is sent again when it reconnects. If handing it over
fails, it is tried again up to ``backOffMaxRetries`` times, 5 s apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from urllib.parse import unquote, urlsplit

import aiomqtt

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

log = logging.getLogger("pydapr.bindings.mqtt3")

QOS = 1
PLAIN_SCHEMES = ("tcp", "mqtt")
TLS_SCHEMES = ("ssl", "mqtts", "tcps", "tls")
PUBLISH_RETRIES = 3
PUBLISH_RETRY_WAIT = 0.2
RETRY_WAIT = 5.0
CONNECT_TIMEOUT = 10.0


class MQTTBinding(InputBinding, OutputBinding):
    def __init__(self) -> None:
        self._producer: aiomqtt.Client | None = None
        self._producer_lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.close_grace = 5.0
        self.retry_wait = RETRY_WAIT

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        url = metadata.get("url") or ""
        if not url:
            raise ComponentConfigError(metadata.name, "url", "missing url")
        parts = urlsplit(url)
        if parts.scheme not in PLAIN_SCHEMES + TLS_SCHEMES or not parts.hostname:
            raise ComponentConfigError(
                metadata.name, "url", f"must be a tcp://, mqtt:// or ssl:// broker address, got {url!r}"
            )
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme in TLS_SCHEMES else 1883)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.topic = metadata.get("topic") or ""
        if not self.topic:
            raise ComponentConfigError(metadata.name, "topic", "missing topic")
        client_id = metadata.get("consumerID") or ""
        if not client_id:
            raise ComponentConfigError(metadata.name, "consumerID", "missing consumerID")
        self.client_id = client_id.replace("{uuid}", str(uuid.uuid4()))
        self.retain = metadata.get_bool("retain")
        self.clean_session = metadata.get_bool("cleanSession")
        self.max_retries = metadata.get_int("backOffMaxRetries", 0)
        if metadata.get("qos"):
            log.warning("%s: metadata 'qos' is deprecated and ignored; qos is 1", metadata.name)
        self.tls = client_context(metadata) if parts.scheme in TLS_SCHEMES else None

    def _client(self, identifier: str) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier,
            clean_session=self.clean_session,
            tls_context=self.tls,
            timeout=CONNECT_TIMEOUT,
        )

    # --- output ----------------------------------------------------------------------------------
    def operations(self) -> tuple[str, ...]:
        return ("create",)

    async def _producer_client(self) -> aiomqtt.Client:
        async with self._producer_lock:
            if self._producer is None:
                if self._closing.is_set():
                    raise BindingError("mqtt client closed")
                client = self._client(self.client_id + "-producer")
                await client.__aenter__()
                self._producer = client
            return self._producer

    async def _drop_producer(self, client: aiomqtt.Client) -> None:
        async with self._producer_lock:
            if self._producer is client:
                self._producer = None
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        topic = request.metadata.get("topic") or self.topic
        retain_text = request.metadata.get("retain", "")
        retain = retain_text.lower() in ("true", "1", "yes", "on", "y") if retain_text else self.retain
        error: Exception | None = None
        for attempt in range(PUBLISH_RETRIES + 1):
            if attempt:
                await asyncio.sleep(PUBLISH_RETRY_WAIT)
            try:
                client = await self._producer_client()
            except aiomqtt.MqttError as exc:
                error = exc
                continue
            try:
                await client.publish(topic, request.data, qos=QOS, retain=retain, timeout=CONNECT_TIMEOUT)
                return InvokeResponse()
            except aiomqtt.MqttError as exc:
                error = exc
                await self._drop_producer(client)
        raise BindingError(f"failed to publish: {error}")

    # --- input -----------------------------------------------------------------------------------
    async def read(self, handler: EventHandler) -> None:
        if self._closing.is_set():
            raise BindingError("binding is closed")
        if self._reader is not None:
            raise BindingError("the subscription is already active")
        subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(handler, subscribed))
        # The first connection's failure is the caller's; later ones are retried in the background.
        await asyncio.wait({subscribed, self._reader}, return_when=asyncio.FIRST_COMPLETED)
        if subscribed.done() and subscribed.exception() is None:
            return
        reader, self._reader = self._reader, None
        await asyncio.gather(reader, return_exceptions=True)
        error = subscribed.exception() if subscribed.done() else reader.exception()
        if error is not None:
            raise error

    async def _read(self, handler: EventHandler, subscribed: asyncio.Future[None]) -> None:
        failures = 0
        while not self._closing.is_set():
            client = self._client(self.client_id + "-consumer")
            # Acknowledge only after the app took the message: aiomqtt has no switch for it, the
            # paho client it wraps does.
            client._client.manual_ack_set(True)
            try:
                async with client:
                    await client.subscribe(self.topic, qos=QOS, timeout=CONNECT_TIMEOUT)
                    if not subscribed.done():
                        subscribed.set_result(None)
                    failures = 0
                    log.info("mqtt3 %s: subscribed to %s", self.metadata.name, self.topic)
                    async for message in client.messages:
                        if self._closing.is_set():
                            return  # not acknowledged: the session hands it out again
                        self._idle.clear()
                        try:
                            await self._deliver(client, handler, message)
                        finally:
                            self._idle.set()
            except aiomqtt.MqttError as exc:
                if not subscribed.done():
                    subscribed.set_exception(BindingError(f"failed to connect: {exc}"))
                    return
                failures += 1
                delay = min(0.5 * 2 ** (failures - 1), 10.0)
                log.warning(
                    "mqtt3 %s: connection lost (%s); reconnecting in %.1fs", self.metadata.name, exc, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)

    async def _deliver(self, client: aiomqtt.Client, handler: EventHandler, message: aiomqtt.Message) -> None:
        payload = message.payload
        data = payload if isinstance(payload, bytes) else str(payload if payload is not None else "").encode()
        event = ReadEvent(data, {"topic": message.topic.value})
        attempt = 0
        while True:
            try:
                await handler(event)
            except Exception as exc:
                if self._closing.is_set() or 0 <= self.max_retries <= attempt:
                    log.error(
                        "mqtt3 %s: failed processing message %s/%d: %s",
                        self.metadata.name,
                        message.topic.value,
                        message.mid,
                        exc,
                    )
                    return  # left unacknowledged
                attempt += 1
                log.warning("mqtt3 %s: error processing message (%s); retrying", self.metadata.name, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.retry_wait)
                continue
            with contextlib.suppress(Exception):
                client._client.ack(message.mid, message.qos)
            return

    async def close(self) -> None:
        self._closing.set()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            # The delivery in flight may finish, and be acknowledged, within the grace period;
            # then the connection goes, leaving what was not acknowledged to the session.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.close_grace)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.__aexit__(None, None, None)
