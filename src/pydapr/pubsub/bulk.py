"""Bulk subscribe: events of a ``bulkSubscribe`` subscription reach the app in batches.

The broker hands messages over one by one; each handler call parks its message in the open batch
and waits. A batch is sent when it holds ``maxMessagesCount`` entries or ``maxAwaitDurationMs``
after its first entry arrived, one app call per route path (as Dapr does). The app answers per
entry; each entry then follows the single-event rules: SUCCESS is done, DROP goes to the dead-letter
topic if there is one, RETRY (or no answer for it) is sent again in a smaller batch, and an entry
still failing once the retries are exhausted is dead-lettered or handed back to the broker.

The retries are the single-event ones (see ``delivery``): the pub/sub component's inbound chain
when a Resiliency policy applies, else ``DEFAULT_DELIVERY_POLICY``; one batch sent to the app is one
attempt, and an attempt fails while any of its entries is to be retried.

The brokers cap handler calls in flight with ``concurrency``; a bulk subscription raises that cap
to ``maxMessagesCount`` (unless its metadata sets one) so a batch can fill.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydapr.pipeline import Pipeline
from pydapr.pubsub import cloudevents as ce
from pydapr.pubsub.contract import Handler, Message
from pydapr.pubsub.delivery import (
    DEFAULT_DELIVERY_POLICY,
    AppDeliveryError,
    InboundRunner,
    Outcome,
    Republish,
    SubscriptionClosed,
    decode_event,
)
from pydapr.pubsub.subscriptions import TopicSubscription
from pydapr.resiliency import Failure, Policy

log = logging.getLogger("pydapr.pubsub.bulk")

BULK_EVENT_TYPE = "com.dapr.event.sent.bulk"
PUBSUB_METADATA_KEY = "pubsubName"


@dataclass(slots=True)
class BatchEntry:
    """One event of a batch, with what both transports and the dead-letter path need."""

    entry_id: str
    event: dict[str, Any]  # the CloudEvent (for a raw payload: the one built around it)
    raw: bytes  # the CloudEvent as bytes, republished as is to the dead-letter topic
    content_type: str
    metadata: dict[str, str]
    raw_payload: bytes | None = None  # the message bytes when the subscription is rawPayload

    def http_item(self) -> dict[str, Any]:
        """The entry in the HTTP bulk envelope (Dapr's BulkSubscribeMessageItem)."""
        raw = self.raw_payload
        payload: Any = self.event if raw is None else base64.b64encode(raw).decode()
        return {
            "entryId": self.entry_id,
            "event": payload,
            "metadata": self.metadata,
            "contentType": self.content_type,
        }


def http_envelope(sub: TopicSubscription, entries: list[BatchEntry]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": BULK_EVENT_TYPE,
        "topic": sub.topic,
        "pubsubname": sub.pubsub,
        "metadata": {PUBSUB_METADATA_KEY: sub.pubsub},
        "entries": [e.http_item() for e in entries],
    }


def outcomes_from_http(status: int, body: bytes, entries: list[BatchEntry]) -> dict[str, Outcome]:
    """The app's bulk answer as Dapr reads it: per-entry statuses in a 2xx, 404 drops all."""
    ids = [e.entry_id for e in entries]
    if status == 404:
        return dict.fromkeys(ids, Outcome.DROP)
    if not 200 <= status < 300:
        return dict.fromkeys(ids, Outcome.RETRY)
    try:
        answer = json.loads(body)
        statuses = answer.get("statuses") or []
    except (ValueError, AttributeError):
        log.warning("bulk answer from the app is not JSON with statuses; the entries are retried")
        return dict.fromkeys(ids, Outcome.RETRY)
    out = dict.fromkeys(ids, Outcome.RETRY)  # an entry without an answer is retried
    for item in statuses if isinstance(statuses, list) else []:
        if not isinstance(item, dict):
            continue
        entry_id = str(item.get("entryId") or "")
        if entry_id not in out:
            continue
        value = str(item.get("status") or "").upper()
        out[entry_id] = Outcome(value) if value in ("SUCCESS", "RETRY", "DROP") else Outcome.RETRY
    return out


# (subscription, path, entries) -> outcome per entry id
BulkAppCall = Callable[[TopicSubscription, str, list[BatchEntry]], Awaitable[dict[str, Outcome]]]


@dataclass(slots=True)
class _Parked:
    entry: BatchEntry
    path: str
    done: asyncio.Future[None]


@dataclass(slots=True)
class BulkAnswer:
    """What a bulk delivery's attempts came to: the entries still to send (``retry``) and, over every
    attempt, how many entries the app answered each status for (``success``, ``drop``, ``retry``;
    daprd's ``dapr_component_pubsub_ingress_bulk_event_count``)."""

    retry: list[_Parked]
    statuses: dict[str, int]


@dataclass(slots=True)
class _Batch:
    items: list[_Parked] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class BulkDeliverer:
    """The broker handler of one bulk subscription."""

    def __init__(
        self,
        sub: TopicSubscription,
        call_app: BulkAppCall,
        republish: Republish,
        policy: Policy | None = None,
        *,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.sub = sub
        self.call_app = call_app
        self.republish = republish
        self.policy = policy or DEFAULT_DELIVERY_POLICY
        self._runner = InboundRunner(pipeline, self.policy)
        self.max_count = max(1, sub.bulk.max_messages_count)
        self.max_wait = max(0, sub.bulk.max_await_duration_ms) / 1000.0
        self._open = _Batch()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def handler(self) -> Handler:
        return self.handle

    async def handle(self, msg: Message) -> None:
        event, raw = decode_event(msg, self.sub)
        if ce.has_expired(event):
            log.info("event %s on %s expired; dropped", event.get("id"), self.sub.topic)
            return
        path = self.sub.route(event)
        if path is None:
            log.warning("no route matches event %s on %s; dropped", event.get("id"), self.sub.topic)
            return
        is_raw = self.sub.metadata.get("rawPayload", "").lower() == "true"
        entry = BatchEntry(
            entry_id=str(uuid.uuid4()),
            event=event,
            raw=raw,
            content_type=(msg.content_type or "application/octet-stream")
            if is_raw
            else (msg.content_type or ce.CLOUDEVENTS_CONTENT_TYPE),
            metadata=dict(msg.metadata),
            raw_payload=msg.data if is_raw else None,
        )
        parked = _Parked(entry, path, asyncio.get_running_loop().create_future())
        batch = self._open
        batch.items.append(parked)
        if len(batch.items) >= self.max_count:
            self._flush(batch)
        elif batch.timer is None:
            batch.timer = asyncio.get_running_loop().call_later(self.max_wait, self._flush, batch)
        await parked.done

    def _flush(self, batch: _Batch) -> None:
        if batch is not self._open:
            return
        self._open = _Batch()
        if batch.timer is not None:
            batch.timer.cancel()
        if not batch.items:
            return
        task = asyncio.create_task(self._deliver(batch.items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, items: list[_Parked]) -> None:
        by_path: dict[str, list[_Parked]] = {}
        for item in items:
            by_path.setdefault(item.path, []).append(item)
        await asyncio.gather(*(self._deliver_path(path, group) for path, group in by_path.items()))

    async def _deliver_path(self, path: str, items: list[_Parked]) -> None:
        pending = [i for i in items if not i.done.done()]
        dropped: list[_Parked] = []
        statuses = {"success": 0, "drop": 0, "retry": 0}

        async def attempt() -> BulkAnswer:
            nonlocal pending
            try:
                outcomes = await self.call_app(self.sub, path, [i.entry for i in pending])
            except AppDeliveryError as exc:
                log.warning("bulk delivery on %s failed: %s", self.sub.topic, exc)
                raise
            retry = []
            for item in pending:
                outcome = outcomes.get(item.entry.entry_id, Outcome.RETRY)
                if outcome is Outcome.SUCCESS:
                    _settle(item.done)
                    statuses["success"] += 1
                elif outcome is Outcome.DROP:
                    dropped.append(item)
                    statuses["drop"] += 1
                else:
                    retry.append(item)
                    statuses["retry"] += 1
            pending = retry  # the next attempt sends only these
            return BulkAnswer(retry, statuses)

        try:
            try:
                traces = tuple(
                    tp for i in items if isinstance(tp := i.entry.event.get("traceparent"), str) and tp
                )
                await self._runner.run(
                    self.sub.pubsub, self.sub.topic, attempt, _some_to_retry, bulk=True, traces=traces
                )
            except SubscriptionClosed:
                raise
            except Exception as exc:  # the last attempt failed (or a timeout, an open breaker)
                log.warning("bulk delivery on %s gave up: %s", self.sub.topic, exc)
            for item in dropped:
                log.warning("app dropped event %s on %s", item.entry.event.get("id"), self.sub.topic)
                await self._dead_letter(item)
            for item in pending:
                if self.sub.dead_letter_topic:
                    await self._dead_letter(item)
                else:
                    _settle(item.done, AppDeliveryError(f"entry {item.entry.entry_id} on {self.sub.topic}"))
        except SubscriptionClosed as exc:
            for item in pending + dropped:
                _settle(item.done, exc)
        except BaseException as exc:
            for item in items:
                _settle(item.done, AppDeliveryError(str(exc) or type(exc).__name__))
            if not isinstance(exc, Exception):
                raise

    async def _dead_letter(self, item: _Parked) -> None:
        if not self.sub.dead_letter_topic:
            _settle(item.done)
            return
        try:
            await self.republish(
                self.sub.pubsub,
                self.sub.dead_letter_topic,
                item.entry.raw,
                ce.CLOUDEVENTS_CONTENT_TYPE,
                {"rawPayload": "true"},
            )
        except Exception as exc:
            _settle(item.done, AppDeliveryError(f"dead letter: {exc}"))
            return
        _settle(item.done)

    async def stop(self) -> None:
        """Deliver what is parked now rather than after the wait; wait for batches in flight."""
        self._flush(self._open)
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks), return_exceptions=True)


_RETRY = Failure()


def _some_to_retry(answer: BulkAnswer) -> Failure | None:
    return _RETRY if answer.retry else None


def _settle(done: asyncio.Future[None], exc: BaseException | None = None) -> None:
    if done.done():
        return
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)
