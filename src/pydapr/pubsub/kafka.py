"""``pubsub.kafka``: Apache Kafka (and Kafka-compatible brokers) through aiokafka.

Publishing waits for the write to be acknowledged by all in-sync replicas (``acks=all``); the key is
``partitionKey`` (or ``__key``) metadata, and every metadata entry also travels as a record header,
as in Dapr. Unkeyed records are spread over the topic's partitions by the client.

Each subscription is one consumer of the component's consumer group (``consumerGroup``, else
``consumerID``, else the app id). Records are handled one at a time per partition, so order holds
per partition; partitions are handled in parallel up to ``concurrency``. A failed handler is retried
in place every ``consumeRetryInterval`` (a Kafka partition cannot hand back one record while it moves
on to the next: that is what keeps order) until it succeeds, the partition is revoked or the
subscription stops. An offset is committed only past records the app handled, so delivery is at
least once: after a crash or a rebalance, the records after the last commit come again.

When the group has no committed offset for a partition yet, ``initialOffset`` (newest/oldest) picks
the start and that start is committed at once, so records published while every subscriber of the
group is stopped still wait for it. ``subscribe`` returns once the consumer has joined the group and
its partitions are positioned: what is published afterwards reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from pydapr.components.base import ComponentMetadata
from pydapr.pubsub._kafka_config import KafkaSettings, parse_settings, ssl_context
from pydapr.pubsub.contract import (
    FEATURE_BULK_PUBLISH,
    BulkPublishEntry,
    BulkPublishFailure,
    Handler,
    Message,
    PublishRequest,
    PubSub,
    SubscribeRequest,
    Subscription,
)

log = logging.getLogger("pydapr.pubsub.kafka")

_KEY_METADATA = ("partitionKey", "__key")
_CONTENT_TYPE = "Content-Type"
# Request metadata the sidecar itself reads; not copied to record headers.
_NOT_A_HEADER = frozenset({"rawPayload"})
# Records buffered per partition before fetching from it pauses.
_BUFFER = 256
# How long ``subscribe`` waits for the group join before it returns anyway (the consumer keeps trying).
_JOIN_WAIT = 30.0
# Pause between commits of handled offsets (they are also committed on revoke and stop).
_COMMIT_EVERY = 0.5


class KafkaInitError(ConnectionError):
    """The brokers could not be reached (or refused us) while the component was starting."""


def _client_options(s: KafkaSettings, component: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": s.brokers,
        "client_id": s.client_id,
        "security_protocol": s.security_protocol,
        "ssl_context": ssl_context(s, component),
        "request_timeout_ms": 30_000,
        "metadata_max_age_ms": 60_000,
    }
    if s.sasl_mechanism is not None:
        options |= {
            "sasl_mechanism": s.sasl_mechanism,
            "sasl_plain_username": s.sasl_username,
            "sasl_plain_password": s.sasl_password,
        }
    return options


async def _probe(brokers: list[str]) -> str:
    """Why each broker is unreachable at the TCP level, for the init error (empty if all accept)."""

    async def one(broker: str) -> str:
        host, _, port = broker.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host or broker, int(port or 9092)), 1.0
            )
        except TimeoutError:
            return f"{broker}: no answer within 1s"
        except (OSError, ValueError) as exc:
            return f"{broker}: {getattr(exc, 'strerror', None) or exc}"
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return ""

    results = await asyncio.gather(*(one(b) for b in brokers[:8]))
    return "; ".join(r for r in results if r)


def _assignors(strategy: str) -> tuple[Any, ...]:
    if strategy == "roundrobin":
        from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

        return (RoundRobinPartitionAssignor,)
    if strategy == "sticky":
        from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

        return (StickyPartitionAssignor,)
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor

    return (RangePartitionAssignor,)


def _headers(metadata: dict[str, str], content_type: str | None) -> list[tuple[str, bytes]]:
    headers = [(k, v.encode()) for k, v in metadata.items() if k not in _NOT_A_HEADER]
    if content_type:
        headers.append((_CONTENT_TYPE, content_type.encode()))
    return headers


def _key(metadata: dict[str, str]) -> bytes | None:
    for name in _KEY_METADATA:
        value = metadata.get(name)
        if value:
            return value.encode()
    return None


class KafkaPubSub(PubSub):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self.settings = parse_settings(metadata)
        s = self.settings
        if s.version:
            log.info(
                "kafka %s: version %s noted; the protocol version is negotiated with the broker",
                metadata.name,
                s.version,
            )
        self._options = _client_options(s, metadata.name)
        self.producer = AIOKafkaProducer(
            **self._options,
            acks="all",
            max_request_size=s.max_message_bytes,
            enable_idempotence=False,
        )
        # As Dapr does, connect now: a broker that cannot be reached fails the component's init.
        try:
            await self.producer.start()
        except (KafkaError, OSError) as exc:
            with contextlib.suppress(Exception):
                await self.producer.stop()
            reasons = await _probe(s.brokers)
            raise KafkaInitError(
                f"cannot connect to Kafka brokers {','.join(s.brokers)}: {exc}"
                + (f" ({reasons})" if reasons else "")
            ) from None
        except BaseException:
            with contextlib.suppress(Exception):
                await self.producer.stop()
            raise
        self._subscriptions: set[_KafkaSubscription] = set()

    async def close(self) -> None:
        for sub in list(getattr(self, "_subscriptions", ())):
            with contextlib.suppress(Exception):
                await sub.stop()
        producer = getattr(self, "producer", None)
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    def features(self) -> frozenset[str]:
        # No native per-message TTL: the sidecar stamps ``expiration`` and drops expired events.
        return frozenset({FEATURE_BULK_PUBLISH})

    async def publish(self, req: PublishRequest) -> None:
        await self.producer.send_and_wait(
            req.topic,
            req.data,
            key=_key(req.metadata),
            headers=_headers(req.metadata, req.content_type),
        )

    async def bulk_publish(
        self, topic: str, entries: list[BulkPublishEntry], metadata: dict[str, str]
    ) -> list[BulkPublishFailure]:
        """Hand every entry to the producer first (it batches them per partition), then await the acks."""
        pending: list[tuple[str, asyncio.Future[Any] | None, str]] = []
        for entry in entries:
            meta = {**metadata, **entry.metadata}
            try:
                fut = await self.producer.send(
                    topic, entry.data, key=_key(meta), headers=_headers(meta, entry.content_type)
                )
                pending.append((entry.entry_id, fut, ""))
            except Exception as exc:
                pending.append((entry.entry_id, None, str(exc) or type(exc).__name__))
        failures: list[BulkPublishFailure] = []
        for entry_id, fut, error in pending:
            if fut is None:
                failures.append(BulkPublishFailure(entry_id, error))
                continue
            try:
                await fut
            except Exception as exc:
                failures.append(BulkPublishFailure(entry_id, str(exc) or type(exc).__name__))
        return failures

    async def subscribe(self, req: SubscribeRequest, handler: Handler) -> Subscription:
        s = self.settings
        group = req.metadata.get("consumerGroup") or req.metadata.get("consumerID") or s.group
        limit = int(req.metadata.get("concurrency") or s.concurrency)
        consumer = AIOKafkaConsumer(
            **self._options,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset=s.auto_offset_reset,
            heartbeat_interval_ms=int(s.heartbeat_interval * 1000),
            session_timeout_ms=int(s.session_timeout * 1000),
            partition_assignment_strategy=_assignors(s.rebalance_strategy),
            fetch_max_bytes=max(s.max_message_bytes, 50 * 1024 * 1024),
            max_partition_fetch_bytes=max(s.max_message_bytes, 1024 * 1024),
        )
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        sub = _KafkaSubscription(self, consumer, req.topic, group, handler, limit)
        self._subscriptions.add(sub)
        try:
            await sub.start()
        except BaseException:
            await sub.stop()
            raise
        return sub


@dataclass
class _Partition:
    """One assigned partition: its buffered records, its worker and how far it was handled."""

    tp: TopicPartition
    records: deque[Any] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    revoked: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None
    # The next offset to commit (one past the last handled record), and the last one committed.
    done: int | None = None
    committed: int | None = None
    paused_full: bool = False
    positioning: bool = True


class _KafkaSubscription(Subscription, ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        broker: KafkaPubSub,
        consumer: AIOKafkaConsumer,
        topic: str,
        group: str,
        handler: Handler,
        limit: int,
    ) -> None:
        self._b = broker
        self._consumer = consumer
        self._topic = topic
        self._group = group
        self._handler = handler
        self._slots = asyncio.Semaphore(max(1, limit))
        self._parts: dict[TopicPartition, _Partition] = {}
        self._stopping = asyncio.Event()
        self._joined = asyncio.Event()
        self._dirty = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._fetcher: asyncio.Task[None] | None = None
        self._committer: asyncio.Task[None] | None = None
        self._positioners: set[asyncio.Task[None]] = set()
        self._stopped = False

    async def start(self) -> None:
        self._consumer.subscribe([self._topic], listener=self)
        self._fetcher = asyncio.create_task(self._fetch())
        self._committer = asyncio.create_task(self._commit_loop())
        try:
            await asyncio.wait_for(self._joined.wait(), _JOIN_WAIT)
        except TimeoutError:
            log.warning(
                "kafka subscription to %s (group %s): not positioned after %.0fs; still trying",
                self._topic,
                self._group,
                _JOIN_WAIT,
            )

    # -- rebalance listener (called by aiokafka's coordinator) --

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Finish what is in flight and commit it before another member takes these partitions over.
        parts = [self._parts.pop(tp) for tp in list(revoked) if tp in self._parts]
        for part in parts:
            part.revoked.set()
            part.wake.set()
        workers = [p.worker for p in parts if p.worker is not None]
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        await self._commit(parts)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self._stopping.is_set():
            # A rebalance that completed while stopping: take nothing, the consumer is leaving.
            if assigned:
                self._consumer.pause(*assigned)
            return
        fresh = [tp for tp in assigned if tp not in self._parts]
        if fresh:
            # No record may be fetched before the partition's start is fixed and committed.
            self._consumer.pause(*fresh)
        for tp in fresh:
            part = _Partition(tp)
            part.worker = asyncio.create_task(self._work(part))
            self._parts[tp] = part
        task = asyncio.create_task(self._position(fresh))
        self._positioners.add(task)
        task.add_done_callback(self._positioners.discard)

    async def _position(self, tps: list[TopicPartition]) -> None:
        """Commit the ``initialOffset`` start of partitions the group never committed, then fetch."""
        try:
            unset: list[TopicPartition] = []
            for tp in tps:
                if await self._consumer.committed(tp) is None:
                    unset.append(tp)
            if unset:
                if self._b.settings.initial_offset == "oldest":
                    starts = await self._consumer.beginning_offsets(unset)
                else:
                    starts = await self._consumer.end_offsets(unset)
                offsets: dict[TopicPartition, int] = {}
                for tp in unset:
                    part = self._parts.get(tp)
                    if part is None or part.revoked.is_set():
                        continue
                    self._consumer.seek(tp, starts[tp])
                    offsets[tp] = starts[tp]
                if offsets:
                    await self._consumer.commit(offsets)
                    for tp, offset in offsets.items():
                        if tp in self._parts:
                            self._parts[tp].committed = offset
        except (KafkaError, OSError, AssertionError) as exc:
            # A rebalance raced us; the consumer falls back to initialOffset for these partitions.
            log.info("kafka subscription to %s: positioning partitions: %s", self._topic, exc)
        finally:
            for tp in tps:
                part = self._parts.get(tp)
                if part is not None and not part.revoked.is_set():
                    part.positioning = False
                    self._update_pause(part)
            self._joined.set()

    # -- fetching and handling --

    def _update_pause(self, part: _Partition) -> None:
        full = len(part.records) >= _BUFFER
        if part.paused_full != full:
            part.paused_full = full
        with contextlib.suppress(Exception):
            if part.positioning or part.paused_full:
                self._consumer.pause(part.tp)
            else:
                self._consumer.resume(part.tp)

    async def _fetch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=_BUFFER)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping.is_set():
                    return
                failures += 1
                log.warning("kafka subscription to %s: fetch failed: %s; retrying", self._topic, exc)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            failures = 0
            for tp, records in batches.items():
                part = self._parts.get(tp)
                if part is None or part.revoked.is_set():
                    continue  # revoked meanwhile: its new owner reads them from the committed offset
                part.records.extend(records)
                part.wake.set()
                self._update_pause(part)

    async def _work(self, part: _Partition) -> None:
        while not (part.revoked.is_set() or self._stopping.is_set()):
            if not part.records:
                part.wake.clear()
                await part.wake.wait()
                continue
            record = part.records[0]
            if not await self._handle(part, record):
                return
            part.records.popleft()
            part.done = record.offset + 1
            self._dirty.set()
            if part.paused_full and len(part.records) < _BUFFER // 2:
                self._update_pause(part)

    async def _handle(self, part: _Partition, record: Any) -> bool:
        """Hand one record to the app until it succeeds; False when stopped or revoked first."""
        msg = _message(record)
        settings = self._b.settings
        while True:
            async with self._slots:
                try:
                    await self._handler(msg)
                    return True
                except Exception as exc:
                    failed = exc
            if not settings.consume_retry_enabled:
                log.warning(
                    "kafka %s/%d@%d: handler failed (%s); consumeRetryEnabled is false, moving on",
                    record.topic,
                    record.partition,
                    record.offset,
                    failed,
                )
                return True
            if part.revoked.is_set() or self._stopping.is_set():
                return False
            log.debug(
                "kafka %s/%d@%d: handler failed (%s); retrying",
                record.topic,
                record.partition,
                record.offset,
                failed,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(part.revoked.wait(), settings.consume_retry_interval)
            if part.revoked.is_set() or self._stopping.is_set():
                return False

    # -- committing --

    async def _commit(self, parts: list[_Partition]) -> None:
        async with self._commit_lock:
            offsets = {
                p.tp: p.done
                for p in parts
                if p.done is not None and (p.committed is None or p.done > p.committed)
            }
            if not offsets:
                return
            try:
                await self._consumer.commit(offsets)
            except (KafkaError, OSError, AssertionError) as exc:
                # At least once still holds: these records come again to whoever owns the partition.
                log.info("kafka subscription to %s: commit failed: %s", self._topic, exc)
                return
            for p in parts:
                if p.tp in offsets:
                    p.committed = offsets[p.tp]

    async def _commit_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            started = time.monotonic()
            await self._commit(list(self._parts.values()))
            await asyncio.sleep(max(0.0, _COMMIT_EVERY - (time.monotonic() - started)))

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._b._subscriptions.discard(self)
        for task in (self._fetcher, *self._positioners):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._fetcher, *self._positioners) if t is not None), return_exceptions=True
        )
        parts = list(self._parts.values())
        for part in parts:
            part.wake.set()
        # Handler calls in flight finish; records only buffered are left for the group's next consumer.
        await asyncio.gather(*(p.worker for p in parts if p.worker is not None), return_exceptions=True)
        if self._committer is not None:
            self._committer.cancel()
            await asyncio.gather(self._committer, return_exceptions=True)
        await self._commit(parts)
        self._parts.clear()
        with contextlib.suppress(Exception):
            await self._consumer.stop()  # leaves the group: the partitions move on at once


def _message(record: Any) -> Message:
    metadata: dict[str, str] = {}
    content_type: str | None = None
    for name, value in record.headers or ():
        text = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
        if name == _CONTENT_TYPE:
            content_type = text
        else:
            metadata[name] = text
    if record.key is not None:
        metadata["__key"] = record.key.decode("utf-8", "replace")
    metadata["__topic"] = record.topic
    metadata["__partition"] = str(record.partition)
    metadata["__offset"] = str(record.offset)
    metadata["__timestamp"] = str(record.timestamp)
    value = record.value if record.value is not None else b""
    return Message(record.topic, value, content_type, metadata, f"{record.partition}@{record.offset}")
