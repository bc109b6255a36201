"""Every pub/sub broker against its real server: delivery, ordering, redelivery, groups, TTL, bulk."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from pydapr.pubsub.contract import (
    FEATURE_MESSAGE_TTL,
    BulkPublishEntry,
    Message,
    PublishRequest,
)

Harness = Any  # the conftest fixture type; conftest modules are not importable by name
Inbox = Any


def bodies(n: int, tag: str = "m") -> list[bytes]:
    return [f"{tag}{i:05d}".encode() for i in range(n)]


async def publish_all(component: Any, topic: str, data: list[bytes], **meta: str) -> None:
    for d in data:
        await component.publish(PublishRequest(topic, d, "text/plain", dict(meta)))


async def test_publish_subscribe(harness: Harness, new_inbox: Callable[[], Inbox]) -> None:
    comp = await harness.make()
    topic = harness.topic()
    inbox = new_inbox()
    await harness.subscribe(comp, topic, inbox.handler)
    sent = bodies(20)
    await publish_all(comp, topic, sent)
    await inbox.wait_count(20)
    assert set(inbox.bodies) == set(sent)
    assert all(m.topic == topic for m in inbox.messages)


async def test_payload_is_carried_byte_for_byte(harness: Harness, new_inbox: Callable[[], Inbox]) -> None:
    comp = await harness.make()
    topic = harness.topic()
    inbox = new_inbox()
    await harness.subscribe(comp, topic, inbox.handler)
    payload = bytes(range(256)) * 64 + b'{"json": true}'
    await comp.publish(PublishRequest(topic, payload, "application/octet-stream"))
    await inbox.wait_count(1)
    assert inbox.messages[0].data == payload


async def test_order_of_one_publisher_is_kept(harness: Harness, new_inbox: Callable[[], Inbox]) -> None:
    if not harness.spec.ordered:
        pytest.fail("every shipped broker keeps order for one consumer")
    comp = await harness.make()
    topic = harness.topic()
    inbox = new_inbox()
    await harness.subscribe(comp, topic, inbox.handler, concurrency="1")
    sent = bodies(100)
    await publish_all(comp, topic, sent)
    await inbox.wait_count(100)
    assert inbox.bodies == sent


async def test_failed_handler_gets_the_message_again(
    harness: Harness, new_inbox: Callable[[], Inbox]
) -> None:
    comp = await harness.make()
    topic = harness.topic()
    inbox = new_inbox()
    attempts: Counter[bytes] = Counter()

    async def flaky(msg: Message) -> None:
        attempts[msg.data] += 1
        if attempts[msg.data] <= 2:
            raise RuntimeError("app asked for a retry")
        inbox.add(msg)

    await harness.subscribe(comp, topic, flaky)
    sent = bodies(10)
    await publish_all(comp, topic, sent)
    await inbox.wait_count(10, timeout=20)
    assert set(inbox.bodies) == set(sent)
    assert all(attempts[d] >= 3 for d in sent)
    # Acknowledged after success: nothing keeps coming back.
    await asyncio.sleep(1.0)
    assert sorted(inbox.bodies) == sorted(sent)


async def test_each_consumer_group_gets_every_message(
    harness: Harness, new_inbox: Callable[[], Inbox]
) -> None:
    g1, g2 = harness.group("a"), harness.group("b")
    c1 = await harness.make(g1)
    c2 = await harness.make(g2)
    topic = harness.topic()
    in1, in2 = new_inbox(), new_inbox()
    await harness.subscribe(c1, topic, in1.handler, consumer=g1)
    await harness.subscribe(c2, topic, in2.handler, consumer=g2)
    sent = bodies(30)
    await publish_all(c1, topic, sent)
    await in1.wait_count(30)
    await in2.wait_count(30)
    assert set(in1.bodies) == set(in2.bodies) == set(sent)


async def test_replicas_of_one_group_share_the_work(harness: Harness, new_inbox: Callable[[], Inbox]) -> None:
    if not harness.spec.competing:
        # MQTT client ids and in-process queues are exclusive: a second replica cannot join.
        assert harness.spec.name in ("mqtt3", "in-memory")
        return
    group = harness.group("shared")
    c1 = await harness.make(group)
    c2 = await harness.make(group)
    topic = harness.topic()
    inbox = new_inbox()
    shares: Counter[str] = Counter()

    def slow(replica: str) -> Any:
        async def handle(msg: Message) -> None:
            await asyncio.sleep(0.01)
            shares[replica] += 1
            inbox.add(msg)

        return handle

    await harness.subscribe(c1, topic, slow("one"), concurrency="2")
    await harness.subscribe(c2, topic, slow("two"), concurrency="2")
    sent = bodies(200)
    await publish_all(c1, topic, sent)
    await inbox.wait_count(200, timeout=30)
    assert set(inbox.bodies) == set(sent)
    assert shares["one"] > 0 and shares["two"] > 0, f"both replicas should get a share: {shares}"


async def test_backlog_waits_for_a_stopped_subscriber(
    harness: Harness, new_inbox: Callable[[], Inbox]
) -> None:
    group = harness.group("durable")
    comp = await harness.make(group)
    topic = harness.topic()
    first = new_inbox()
    sub = await harness.subscribe(comp, topic, first.handler, consumer=group)
    await harness.stop(sub)
    sent = bodies(15)
    await publish_all(comp, topic, sent)
    await asyncio.sleep(0.3)
    assert first.messages == []
    again = new_inbox()
    await harness.subscribe(comp, topic, again.handler, consumer=group)
    await again.wait_count(15)
    assert set(again.bodies) == set(sent)


async def test_backlog_survives_a_sidecar_restart(harness: Harness, new_inbox: Callable[[], Inbox]) -> None:
    if not harness.spec.separate_instances:
        assert harness.spec.name == "in-memory"  # lives and dies with its process by definition
        return
    group = harness.group("restart")
    comp = await harness.make(group)
    topic = harness.topic()
    sub = await harness.subscribe(comp, topic, new_inbox().handler, consumer=group)
    await harness.stop(sub)
    sent = bodies(15)
    await publish_all(comp, topic, sent)
    await harness.close(comp)  # the sidecar exits
    again = new_inbox()
    comp2 = await harness.make(group)
    await harness.subscribe(comp2, topic, again.handler, consumer=group)
    await again.wait_count(15)
    assert set(again.bodies) == set(sent)


async def test_stop_waits_for_messages_in_flight(harness: Harness, new_inbox: Callable[[], Inbox]) -> None:
    group = harness.group("drain")
    comp = await harness.make(group)
    topic = harness.topic()
    started = asyncio.Event()
    finished: list[bytes] = []

    async def slow(msg: Message) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.append(msg.data)

    sub = await harness.subscribe(comp, topic, slow, consumer=group)
    await comp.publish(PublishRequest(topic, b"one", "text/plain"))
    await asyncio.wait_for(started.wait(), 10)
    await harness.stop(sub)
    assert finished == [b"one"]
    # Handled before stop returned, so it was acknowledged: the next subscriber does not get it.
    again = new_inbox()
    await harness.subscribe(comp, topic, again.handler, consumer=group)
    await comp.publish(PublishRequest(topic, b"two", "text/plain"))
    await again.wait_count(1)
    await asyncio.sleep(0.5)
    assert again.bodies == [b"two"]


async def test_bulk_publish_reports_per_entry(harness: Harness, new_inbox: Callable[[], Inbox]) -> None:
    comp = await harness.make()
    topic = harness.topic()
    inbox = new_inbox()
    await harness.subscribe(comp, topic, inbox.handler)
    sent = bodies(50, "bulk")
    entries = [BulkPublishEntry(str(i), d, "text/plain") for i, d in enumerate(sent)]
    failures = await comp.bulk_publish(topic, entries, {})
    assert failures == []
    await inbox.wait_count(50)
    assert set(inbox.bodies) == set(sent)


async def test_message_ttl_when_declared(harness: Harness, new_inbox: Callable[[], Inbox]) -> None:
    group = harness.group("ttl")
    comp = await harness.make(group)
    if FEATURE_MESSAGE_TTL not in comp.features():
        # The API layer stamps an expiration in the envelope and the sidecar drops expired events.
        assert harness.spec.name in ("redis", "mqtt3", "jetstream", "kafka")
        return
    topic = harness.topic()
    sub = await harness.subscribe(comp, topic, new_inbox().handler, consumer=group)
    await harness.stop(sub)
    await comp.publish(PublishRequest(topic, b"short", "text/plain", {"ttlInSeconds": "1"}))
    await comp.publish(PublishRequest(topic, b"long", "text/plain", {"ttlInSeconds": "60"}))
    await comp.publish(PublishRequest(topic, b"forever", "text/plain"))
    await asyncio.sleep(1.6)
    inbox = new_inbox()
    await harness.subscribe(comp, topic, inbox.handler, consumer=group)
    await inbox.wait_count(2)
    await asyncio.sleep(0.5)
    assert sorted(inbox.bodies) == [b"forever", b"long"]
