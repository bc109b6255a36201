"""The pub/sub component contract: what a broker must do, what it may offer, and shared helpers.

A handler that returns acknowledges the message; a handler that raises leaves it unprocessed and
the broker must deliver it again (the delivery machinery already retried with back-off before it
raises, so redelivery here is the safety net that makes delivery at-least-once across crashes).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydapr.components.base import Component, ComponentMetadata

# Optional capabilities (names of components-contrib pubsub/feature.go).
FEATURE_MESSAGE_TTL = "MESSAGE_TTL"
FEATURE_SUBSCRIBE_WILDCARDS = "SUBSCRIBE_WILDCARDS"
FEATURE_BULK_PUBLISH = "BULK_PUBSUB"  # contrib's FeatureBulkPublish is spelled so

TTL_METADATA = "ttlInSeconds"


@dataclass(slots=True)
class PublishRequest:
    topic: str
    data: bytes
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BulkPublishEntry:
    entry_id: str
    data: bytes
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BulkPublishFailure:
    entry_id: str
    error: str


@dataclass(slots=True)
class Message:
    """One message as the broker hands it over."""

    topic: str
    data: bytes
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # Broker-side id, when the broker has one (stream id, delivery tag ...); for logs and tests.
    broker_id: str = ""


@dataclass(slots=True)
class SubscribeRequest:
    topic: str
    metadata: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Message], Awaitable[None]]


class Subscription:
    """A running subscription; ``stop`` stops taking messages and waits for the in-flight ones."""

    async def stop(self) -> None:
        raise NotImplementedError


class PubSub(Component):
    """Every broker implements ``publish`` and ``subscribe``; ``bulk_publish`` has a looping default."""

    async def publish(self, req: PublishRequest) -> None:
        raise NotImplementedError

    async def subscribe(self, req: SubscribeRequest, handler: Handler) -> Subscription:
        raise NotImplementedError

    async def bulk_publish(
        self, topic: str, entries: list[BulkPublishEntry], metadata: dict[str, str]
    ) -> list[BulkPublishFailure]:
        """Publish every entry; the failures, by entry id (an empty list means all were published)."""
        failures: list[BulkPublishFailure] = []

        async def one(entry: BulkPublishEntry) -> None:
            try:
                await self.publish(
                    PublishRequest(topic, entry.data, entry.content_type, {**metadata, **entry.metadata})
                )
            except Exception as exc:
                failures.append(BulkPublishFailure(entry.entry_id, str(exc)))

        await asyncio.gather(*(one(e) for e in entries))
        return failures


def consumer_id(meta: ComponentMetadata) -> str:
    """The consumer group: ``consumerID`` metadata, else the app id (Dapr's default)."""
    return meta.get("consumerID") or meta.app_id or meta.name


def ttl_seconds(metadata: dict[str, str]) -> float | None:
    """``ttlInSeconds`` from request metadata (validated by the API before it reaches a broker)."""
    value = metadata.get(TTL_METADATA)
    if value is None or value == "":
        return None
    return float(int(value))


def parse_duration(value: str | None, default: float) -> float:
    """Go-style durations as Dapr metadata uses them (``500ms``, ``30s``, ``2m``, ``1h``) or seconds."""
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    units = (("ms", 0.001), ("us", 0.000001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    total = 0.0
    rest = text
    try:
        if rest.replace(".", "", 1).isdigit():
            return float(rest)
        while rest:
            i = 0
            while i < len(rest) and (rest[i].isdigit() or rest[i] == "."):
                i += 1
            number, rest = float(rest[:i]), rest[i:]
            for suffix, factor in units:
                if rest.startswith(suffix):
                    total += number * factor
                    rest = rest[len(suffix) :]
                    break
            else:
                raise ValueError(text)
    except ValueError:
        raise ValueError(f"invalid duration {value!r}") from None
    return total


@dataclass(slots=True)
class Backoff:
    """Exponential back-off with full jitter: the pause before redelivering after a failed handler."""

    initial: float = 0.05
    maximum: float = 5.0

    def delay(self, attempt: int) -> float:
        cap = min(self.maximum, self.initial * (2 ** min(attempt, 30)))
        return random.uniform(cap / 2, cap)


class HandlerPool:
    """Runs handler calls as tasks, at most ``limit`` at a time, and can wait for all of them."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._sem = asyncio.Semaphore(self.limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._taken = 0

    @property
    def free(self) -> int:
        return self.limit - self._taken

    async def acquire(self) -> None:
        """Wait for a free slot; consumers take one *before* fetching, so nothing fetched is dropped."""
        await self._sem.acquire()
        self._taken += 1

    def release(self) -> None:
        """Give back a slot taken with ``acquire`` that ended up unused."""
        self._taken -= 1
        self._sem.release()

    async def submit(self, work: Callable[[], Awaitable[None]]) -> None:
        """Waits for a free slot (so the consumer stops fetching while the app is saturated)."""
        await self.acquire()
        self.spawn(work)

    def spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` in the slot already taken with ``acquire``."""
        task = asyncio.create_task(self._run(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        finally:
            self.release()

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.drain()


async def handle_until_done(
    handler: Handler, msg: Message, backoff: Backoff, stopping: asyncio.Event
) -> bool:
    """Call ``handler`` until it succeeds, pausing between attempts; False if stopped first.

    For brokers that cannot hand a message back (MQTT acknowledges on receipt at QoS 1 only per
    session), redelivery has to happen in-process.
    """
    attempt = 0
    while True:
        try:
            await handler(msg)
            return True
        except Exception:
            if stopping.is_set():
                return False
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), backoff.delay(attempt))
            if stopping.is_set():
                return False
