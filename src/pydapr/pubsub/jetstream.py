"""``pubsub.jetstream``: NATS JetStream, one durable pull consumer per (consumer group, topic).

The topic is the subject; the stream that captures it must exist (as in Dapr) unless ``streamName``
is given, in which case a missing stream is created for ``subjects`` (default: the topics used).
Replicas of one app pull from the same durable consumer and so share the work. A handled message
is acknowledged, a failed one negatively acknowledged with a back-off delay; while a handler runs
its ack deadline is extended, so ``ackWait`` only matters after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NATSError
from nats.errors import TimeoutError as NATSTimeout
from nats.js import api
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.pubsub.contract import (
    Backoff,
    Handler,
    HandlerPool,
    Message,
    PublishRequest,
    PubSub,
    SubscribeRequest,
    Subscription,
    consumer_id,
    parse_duration,
)

log = logging.getLogger("pydapr.pubsub.jetstream")

_CONTENT_TYPE = "Content-Type"
_NOT_A_HEADER = frozenset({"ttlInSeconds", "rawPayload"})


def durable_name(group: str, topic: str) -> str:
    """A valid durable consumer name (no ``.``, ``*``, ``>`` or spaces), unique per group and topic."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", f"{group}-{topic}")
    if len(clean) > 200:
        clean = clean[:180] + hashlib.sha1(clean.encode()).hexdigest()[:12]
    return clean


class JetStreamPubSub(PubSub):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        url = metadata.get("natsURL") or "nats://localhost:4222"
        try:
            self.ack_wait = parse_duration(metadata.get("ackWait"), 30.0)
        except ValueError as exc:
            raise ComponentConfigError(metadata.name, "ackWait", str(exc)) from None
        self._group = metadata.get("durableName") or consumer_id(metadata)
        self._stream = metadata.get("streamName") or None
        subjects = metadata.get("subjects") or ""
        self._subjects = [s.strip() for s in subjects.split(",") if s.strip()]
        self._concurrency = metadata.get_int("concurrency", 10)
        self.nc: NATS = await nats.connect(
            url,
            name=f"pydapr-{metadata.app_id or metadata.name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            allow_reconnect=True,
        )
        self.js: JetStreamContext = self.nc.jetstream()
        if self._stream is not None:
            await self._ensure_stream()

    async def _ensure_stream(self) -> None:
        assert self._stream is not None
        try:
            await self.js.stream_info(self._stream)
        except NotFoundError:
            if not self._subjects:
                raise ComponentConfigError(
                    self.metadata.name, "subjects", f"stream {self._stream} does not exist; give its subjects"
                ) from None
            await self.js.add_stream(api.StreamConfig(name=self._stream, subjects=self._subjects))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.nc.drain()

    def features(self) -> frozenset[str]:
        # As contrib's jetstream: none declared (NATS subjects still take wildcards).
        return frozenset()

    async def publish(self, req: PublishRequest) -> None:
        headers = {k: v for k, v in req.metadata.items() if k not in _NOT_A_HEADER}
        if req.content_type:
            headers[_CONTENT_TYPE] = req.content_type
        # Returns after the stream stored the message (the PubAck).
        await self.js.publish(req.topic, req.data, stream=self._stream, headers=headers or None)

    async def subscribe(self, req: SubscribeRequest, handler: Handler) -> Subscription:
        group = req.metadata.get("consumerID") or self._group
        limit = int(req.metadata.get("concurrency") or self._concurrency)
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            deliver_policy=api.DeliverPolicy.ALL,
            max_deliver=-1,
            filter_subject=req.topic,
        )
        psub = await self.js.pull_subscribe(
            req.topic, durable=durable_name(group, req.topic), stream=self._stream, config=config
        )
        sub = _JetStreamSubscription(self, psub, req.topic, handler, limit)
        sub.start()
        return sub


class _JetStreamSubscription(Subscription):
    def __init__(
        self,
        broker: JetStreamPubSub,
        psub: JetStreamContext.PullSubscription,
        topic: str,
        handler: Handler,
        limit: int,
    ) -> None:
        self._b = broker
        self._psub = psub
        self._topic = topic
        self._handler = handler
        self._pool = HandlerPool(limit)
        self._backoff = Backoff()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._pull())

    async def _pull(self) -> None:
        failures = 0
        while True:
            await self._pool.acquire()
            try:
                msgs = await self._psub.fetch(batch=self._pool.free + 1, timeout=1)
            except NATSTimeout:
                self._pool.release()
                continue
            except (NATSError, OSError) as exc:
                self._pool.release()
                if self._stopping:
                    return
                failures += 1
                log.warning("jetstream subscription to %s: %s; retrying", self._topic, exc)
                await asyncio.sleep(self._backoff.delay(failures))
                continue
            except BaseException:
                self._pool.release()
                raise
            failures = 0
            for i, m in enumerate(msgs):
                if i > 0:
                    await self._pool.acquire()
                self._pool.spawn(lambda m=m: self._deliver(m))  # type: ignore[misc]

    async def _deliver(self, m: Msg) -> None:
        headers = dict(m.headers or {})
        content_type = headers.pop(_CONTENT_TYPE, None)
        msg = Message(m.subject, m.data, content_type, headers, str(m.metadata.sequence.stream))
        keepalive = asyncio.create_task(self._extend(m))
        try:
            await self._handler(msg)
        except Exception:
            attempt = m.metadata.num_delivered or 1
            with contextlib.suppress(NATSError, OSError):
                await m.nak(delay=self._backoff.delay(attempt))
            return
        finally:
            keepalive.cancel()
        with contextlib.suppress(NATSError, OSError):
            # Lost acks only cause a redelivery after ackWait: at-least-once still holds.
            await m.ack()

    async def _extend(self, m: Msg) -> None:
        while True:
            await asyncio.sleep(self._b.ack_wait / 3)
            with contextlib.suppress(NATSError, OSError):
                await m.in_progress()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._pool.drain()
        with contextlib.suppress(NATSError, OSError):
            await self._psub.unsubscribe()
