"""``pubsub.redis``: Redis Streams, one stream per topic, one consumer group per ``consumerID``.

Handled entries are acknowledged (XACK). A failed entry stays pending and is retried here after a
back-off; entries left pending by a consumer that died are taken over (XAUTOCLAIM) once idle for
``processingTimeout``, checked every ``redeliverInterval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.pubsub.contract import (
    Backoff,
    BulkPublishEntry,
    BulkPublishFailure,
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

log = logging.getLogger("pydapr.pubsub.redis")

# Deletes a consumer only if it owns no pending entry, atomically: deleting a consumer drops its
# pending entries, which would lose them.
_DELETE_IF_IDLE = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending == 0 then
    return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


class RedisPubSub(PubSub):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        host = metadata.require("redisHost")
        hostname, _, port = host.rpartition(":")
        if not hostname:
            hostname, port = host, "6379"
        try:
            self.processing_timeout = parse_duration(metadata.get("processingTimeout"), 60.0)
            self.redeliver_interval = parse_duration(metadata.get("redeliverInterval"), 15.0)
        except ValueError as exc:
            raise ComponentConfigError(metadata.name, "processingTimeout", str(exc)) from None
        self._group = consumer_id(metadata)
        self._concurrency = metadata.get_int("concurrency", 10)
        self._max_len = metadata.get_int("maxLenApprox", 0)
        self.client = aioredis.Redis(
            host=hostname,
            port=int(port),
            username=metadata.get("redisUsername") or None,
            password=metadata.get("redisPassword") or None,
            db=metadata.get_int("redisDB", 0),
            ssl=metadata.get_bool("enableTLS"),
            socket_connect_timeout=5,
            # Longer than the 1 s XREADGROUP block, so only a dead connection times out.
            socket_timeout=10,
        )
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    def features(self) -> frozenset[str]:
        # As contrib's redisStreams: none declared (the pipelined bulk publish still runs).
        return frozenset()

    def _fields(self, data: bytes, content_type: str | None, metadata: dict[str, str]) -> dict[Any, Any]:
        fields: dict[Any, Any] = {"data": data}
        if metadata:
            fields["metadata"] = json.dumps(metadata)
        if content_type:
            fields["contentType"] = content_type
        return fields

    async def publish(self, req: PublishRequest) -> None:
        await self.client.xadd(
            req.topic,
            self._fields(req.data, req.content_type, req.metadata),
            maxlen=self._max_len or None,
            approximate=True,
        )

    async def bulk_publish(
        self, topic: str, entries: list[BulkPublishEntry], metadata: dict[str, str]
    ) -> list[BulkPublishFailure]:
        pipe = self.client.pipeline(transaction=False)
        for e in entries:
            fields = self._fields(e.data, e.content_type, {**metadata, **e.metadata})
            pipe.xadd(topic, fields, maxlen=self._max_len or None, approximate=True)
        try:
            results = await pipe.execute(raise_on_error=False)
        except RedisError as exc:
            return [BulkPublishFailure(e.entry_id, str(exc)) for e in entries]
        return [
            BulkPublishFailure(e.entry_id, str(r))
            for e, r in zip(entries, results, strict=True)
            if isinstance(r, Exception)
        ]

    async def subscribe(self, req: SubscribeRequest, handler: Handler) -> Subscription:
        group = req.metadata.get("consumerID") or self._group
        limit = int(req.metadata.get("concurrency") or self._concurrency)
        sub = _RedisSubscription(self, req.topic, group, handler, limit)
        await sub.ensure_group()
        sub.start()
        return sub


def _message(topic: str, entry_id: bytes, fields: dict[bytes, bytes]) -> Message:
    meta = json.loads(fields[b"metadata"]) if b"metadata" in fields else {}
    ct = fields.get(b"contentType")
    return Message(topic, fields.get(b"data", b""), ct.decode() if ct else None, meta, entry_id.decode())


class _RedisSubscription(Subscription):
    def __init__(self, broker: RedisPubSub, topic: str, group: str, handler: Handler, limit: int) -> None:
        self._b = broker
        self._r = broker.client
        self._topic = topic
        self._group = group
        # A fresh consumer name per subscription: a restarted sidecar must not pretend to own the
        # entries its previous incarnation had in flight; those come back through XAUTOCLAIM.
        self._consumer = f"{group}-{uuid.uuid4().hex[:12]}"
        self._handler = handler
        self._pool = HandlerPool(limit)
        self._stopping = asyncio.Event()
        self._backoff = Backoff()
        self._in_flight: set[bytes] = set()
        self._tasks: list[asyncio.Task[None]] = []
        # Where a stopping subscription leaves what it fetched but did not handle.
        self._parked = f"{group}-parked"

    async def ensure_group(self) -> None:
        try:
            # From "0": a group created after messages were published still gets them, as in Dapr.
            await self._r.xgroup_create(self._topic, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._reclaim())]

    async def _recover(self, exc: Exception, attempt: int) -> None:
        if self._stopping.is_set():
            return
        log.warning("redis subscription to %s: %s; retrying", self._topic, exc)
        await asyncio.sleep(self._backoff.delay(attempt))
        if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
            # The broker lost the stream (restarted without persistence): recreate the group.
            with contextlib.suppress(RedisError):
                await self.ensure_group()

    async def _read(self) -> None:
        # Not cancelled on stop (redis-py holds a cancelled blocking read until it returns): the loop
        # ends by itself within one ``block`` period, and what that last read fetched is still handled.
        failures = 0
        while not self._stopping.is_set():
            await self._pool.acquire()
            try:
                # redis-py's declared type depends on RESP2/3; we use RESP2's nested lists.
                reply: Any = await self._r.xreadgroup(
                    self._group,
                    self._consumer,
                    {self._topic: ">"},
                    count=self._pool.free + 1,
                    block=1000,
                )
            except (RedisError, OSError) as exc:
                self._pool.release()
                failures += 1
                await self._recover(exc, failures)
                continue
            except BaseException:
                self._pool.release()
                raise
            failures = 0
            entries = reply[0][1] if reply else []
            if not entries:
                self._pool.release()
                continue
            for i, (entry_id, fields) in enumerate(entries):
                if i > 0:
                    await self._pool.acquire()
                self._spawn(entry_id, fields)

    def _spawn(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        self._in_flight.add(entry_id)
        self._pool.spawn(lambda: self._deliver(entry_id, fields))

    async def _deliver(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        msg = _message(self._topic, entry_id, fields)
        attempt = 0
        try:
            while True:
                try:
                    await self._handler(msg)
                    break
                except Exception:
                    attempt += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self._backoff.delay(attempt))
                    if self._stopping.is_set():
                        return  # stays pending; another consumer claims it after processingTimeout
                    # Reset the idle time so no other consumer claims an entry still being retried.
                    with contextlib.suppress(RedisError, OSError):
                        await self._r.xclaim(
                            self._topic, self._group, self._consumer, 0, [entry_id], justid=True
                        )
            for attempt in range(1, 1000):
                try:
                    await self._r.xack(self._topic, self._group, entry_id)
                    return
                except (RedisError, OSError) as exc:
                    if self._stopping.is_set():
                        return  # stays pending; claimed again after processingTimeout
                    await self._recover(exc, attempt)
        finally:
            self._in_flight.discard(entry_id)

    async def _reclaim(self) -> None:
        # A first pass at once: entries handed back by a subscription that stopped (see ``stop``)
        # or left by a crashed one are taken over without waiting ``redeliverInterval``.
        # Like the reader, it is not cancelled (a cancelled redis-py command can hang on to its
        # connection): it ends by itself once stopping is set.
        failures = 0
        first = True
        while not self._stopping.is_set():
            if not first:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._b.redeliver_interval):
                        await self._stopping.wait()
                if self._stopping.is_set():
                    return
            first = False
            start: bytes | str = "0-0"
            try:
                while True:
                    reply = await self._r.xautoclaim(
                        self._topic,
                        self._group,
                        self._consumer,
                        int(self._b.processing_timeout * 1000),
                        start_id=start,
                        count=100,
                    )
                    start, claimed = reply[0], reply[1]
                    for entry_id, fields in claimed:
                        if entry_id in self._in_flight or fields is None:
                            continue
                        await self._pool.acquire()
                        self._spawn(entry_id, fields)
                    if start in (b"0-0", "0-0"):
                        break
                await self._r.eval(_DELETE_IF_IDLE, 1, self._topic, self._group, self._parked)
                failures = 0
            except (RedisError, OSError) as exc:
                failures += 1
                await self._recover(exc, failures)

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pool.drain()
        # Nothing of ours is in flight any more: leave the group tidy for the next incarnation.
        with contextlib.suppress(RedisError, OSError):
            pending = await self._r.xpending_range(
                self._topic, self._group, min="-", max="+", count=1000, consumername=self._consumer
            )
            if pending:
                # Entries fetched but not handled (the handler gave up because we stop) go to the
                # group's parking consumer, idle past processingTimeout, so the group's next
                # reclaim pass (a new subscriber's first one is immediate) takes them at once.
                await self._r.xclaim(
                    self._topic,
                    self._group,
                    self._parked,
                    0,
                    [p["message_id"] for p in pending],
                    idle=int(self._b.processing_timeout * 1000) + 1,
                    justid=True,
                )
            await self._r.eval(_DELETE_IF_IDLE, 1, self._topic, self._group, self._consumer)
