"""Transactional outbox: a state transaction and the events announcing it commit together or not at all.

Dapr's design coordinates through an internal pub/sub topic. pydapr coordinates through the state
store itself, which needs no second broker round trip and has no window where an event exists
without its state: the events of a transaction are written, in the same store transaction, as one
outbox record under a key no user key can take (user keys may not contain ``||``). After the commit
the sidecar publishes the events and deletes the record; if it cannot (broker down, sidecar killed),
a relay finds the record later and publishes it then. Delivery is at least once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.errors import DaprError
from pydapr.state import codec
from pydapr.state.contract import DeleteRequest, GetRequest, Operation, SetRequest, StateStore

log = logging.getLogger("pydapr.state.outbox")

RECORD_MARK = "__pydapr_outbox||"
PROJECTION_KEY = "outbox.projection"
# The relay leaves young records to the request that wrote them (it publishes right after commit).
RELAY_GRACE = 5.0
RELAY_INTERVAL = 2.0

Publish = Callable[[str, str, bytes, str], Awaitable[None]]


class _Event(msgspec.Struct):
    data: str  # base64: values are bytes
    content_type: str


class _Record(msgspec.Struct):
    created: float
    events: list[_Event]


@dataclass(slots=True)
class Pending:
    record_key: str
    record: _Record


@dataclass(slots=True)
class Outbox:
    store_name: str
    pubsub: str
    topic: str
    record_prefix: str  # the store key prefix of this app's outbox records
    publish: Publish | None = None

    @classmethod
    def from_metadata(cls, meta: ComponentMetadata, key_prefix: str) -> Outbox | None:
        pubsub = meta.get("outboxPublishPubsub") or ""
        topic = meta.get("outboxPublishTopic") or ""
        if not pubsub and not topic:
            return None
        if not pubsub:
            raise ComponentConfigError(
                meta.name, "outboxPublishPubsub", "is required with outboxPublishTopic"
            )
        if not topic:
            raise ComponentConfigError(
                meta.name, "outboxPublishTopic", "is required with outboxPublishPubsub"
            )
        return cls(meta.name, pubsub, topic, key_prefix + RECORD_MARK)

    def prepare(
        self, ops: Sequence[Operation], bad_input: Callable[[str], DaprError]
    ) -> tuple[list[Operation], Pending | None]:
        """The operations to write (projections taken out, the outbox record added) and the events."""
        projections: dict[str, SetRequest] = {}
        writes: list[Operation] = []
        for op in ops:
            if isinstance(op, SetRequest) and op.metadata.get(PROJECTION_KEY, "").lower() == "true":
                projections[op.key] = op
            else:
                writes.append(op)
        upserts = [op for op in writes if isinstance(op, SetRequest)]
        upserted = {op.key for op in upserts}
        for key in projections:
            if key not in upserted:
                raise bad_input(f"outbox projection for key {key!r} has no upsert of the same key")
        if not upserts:
            return writes, None
        events = []
        for op in upserts:
            source = projections.get(op.key, op)
            events.append(_Event(base64.b64encode(source.value).decode(), _content_type(source)))
        record = _Record(time.time(), events)
        record_key = self.record_prefix + uuid.uuid4().hex
        writes.append(SetRequest(record_key, msgspec.json.encode(record)))
        return writes, Pending(record_key, record)

    async def deliver(self, store: StateStore, pending: Pending) -> bool:
        """Publish a committed record's events, then delete it; on failure leave it for the relay."""
        if self.publish is None:
            return False
        try:
            for event in pending.record.events:
                await self.publish(self.pubsub, self.topic, base64.b64decode(event.data), event.content_type)
        except Exception as exc:
            log.warning(
                "outbox of %s: publishing to %s/%s failed, will retry: %s",
                self.store_name,
                self.pubsub,
                self.topic,
                exc,
            )
            return False
        try:
            await store.delete(DeleteRequest(pending.record_key))
        except Exception as exc:
            # Published but not deleted: the relay publishes it again later (at least once).
            log.warning("outbox of %s: record %s not deleted: %s", self.store_name, pending.record_key, exc)
        return True

    async def relay_once(self, store: StateStore, grace: float = RELAY_GRACE) -> int:
        """Publish every record older than ``grace`` seconds; returns how many were delivered."""
        delivered = 0
        token = ""
        now = time.time()
        while True:
            page = await store.list_keys(self.record_prefix, 100, token)
            for key in page.keys:
                item = await store.get(GetRequest(key))
                if item is None:
                    continue
                try:
                    record = msgspec.json.decode(item.data, type=_Record)
                except msgspec.DecodeError:
                    log.error("outbox of %s: record %s is not readable; left in place", self.store_name, key)
                    continue
                if now - record.created < grace:
                    continue
                if await self.deliver(store, Pending(key, record)):
                    delivered += 1
            token = page.token
            if not token:
                return delivered

    async def relay_forever(self, store: StateStore, interval: float = RELAY_INTERVAL) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.relay_once(store)
            await asyncio.sleep(interval)


def _content_type(op: SetRequest) -> str:
    given = op.metadata.get("contentType")
    if given:
        return given
    return "application/json" if codec.is_json(op.value) else "text/plain"
