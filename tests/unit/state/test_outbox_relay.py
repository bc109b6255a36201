"""The outbox relay: an outbox record a crashed sidecar left behind (committed, never published) is
published later, and then removed. Real SQLite state store, real in-memory broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydapr.components.base import ComponentMetadata
from pydapr.components.registry import registry
from pydapr.pubsub.api import PubSubAPI
from pydapr.pubsub.contract import Message, PubSub, SubscribeRequest
from pydapr.state.api import SaveItem, StateAPI, StoreEntry, TransactionOperation
from pydapr.state.contract import StateStore


async def test_record_left_by_a_crash_is_published_by_the_relay(tmp_path: Path) -> None:
    props = {
        "connectionString": str(tmp_path / "state.db"),
        "outboxPublishPubsub": "events",
        "outboxPublishTopic": "orders",
    }
    meta = ComponentMetadata("store", "state.sqlite", "v1", props, app_id="shop")
    store = registry.create("state.sqlite", "v1")
    assert isinstance(store, StateStore)
    await store.init(meta)
    broker = registry.create("pubsub.in-memory", "v1")
    assert isinstance(broker, PubSub)
    await broker.init(ComponentMetadata("events", "pubsub.in-memory", "v1", {}, app_id="shop"))
    try:
        entry = StoreEntry.from_metadata(store, meta)
        outbox = entry.outbox
        assert outbox is not None
        api = StateAPI({"store": entry})
        # No publisher wired: what a sidecar killed between commit and publish leaves behind.
        await api.transact("store", [TransactionOperation("upsert", SaveItem("order1", b'{"id": 1}'))])
        assert (await api.list_keys("store")).keys == ["order1"]  # the record is not a user key
        assert len((await store.list_keys(outbox.record_prefix, 10, "")).keys) == 1

        received: list[Message] = []
        subscription = await broker.subscribe(SubscribeRequest("orders"), _collect(received))
        pubsub = PubSubAPI(lambda: {"events": broker}, "shop")

        async def publish(name: str, topic: str, data: bytes, content_type: str) -> None:
            await pubsub.publish(name, topic, data, content_type, {})

        outbox.publish = publish
        # A young record belongs to the request that wrote it; the relay leaves it alone.
        assert await outbox.relay_once(store) == 0
        assert await outbox.relay_once(store, grace=0) == 1
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert len(received) == 1
        envelope = json.loads(received[0].data)
        assert envelope["data"] == {"id": 1}
        assert envelope["topic"] == "orders"
        assert (await store.list_keys(outbox.record_prefix, 10, "")).keys == []
        await subscription.stop()
    finally:
        await broker.close()
        await store.close()


def _collect(into: list[Message]):  # type: ignore[no-untyped-def]
    async def handler(message: Message) -> None:
        into.append(message)

    return handler
