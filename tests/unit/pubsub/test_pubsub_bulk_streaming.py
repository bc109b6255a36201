"""Bulk delivery (batching, per-entry answers) and streaming subscriptions, over the in-memory broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dapr.proto.runtime.v1 import appcallback_pb2, pubsub_pb2

from pydapr.components.base import ComponentMetadata
from pydapr.errors import DaprError
from pydapr.pubsub.api import PubSubAPI
from pydapr.pubsub.bulk import BatchEntry, BulkDeliverer, http_envelope, outcomes_from_http
from pydapr.pubsub.contract import Message, SubscribeRequest
from pydapr.pubsub.delivery import Outcome
from pydapr.pubsub.memory import InMemoryPubSub
from pydapr.pubsub.streaming import StreamingSubscriptions
from pydapr.pubsub.subscriptions import BulkConfig, TopicSubscription
from pydapr.resiliency import Policy, RetrySchedule

# Three attempts in all, as pydapr's default delivery policy, with short waits.
FAST = Policy(retry=RetrySchedule(duration=0.001, max_retries=2))


async def broker() -> tuple[InMemoryPubSub, PubSubAPI]:
    comp = InMemoryPubSub()
    await comp.init(ComponentMetadata("pubsub", "pubsub.in-memory", "v1", {}, app_id="app", base_dir=Path()))
    return comp, PubSubAPI(lambda: {"pubsub": comp}, "app")


# --- bulk -----------------------------------------------------------------------------------------
def entry(entry_id: str) -> BatchEntry:
    return BatchEntry(entry_id, {"id": entry_id}, b"{}", "application/cloudevents+json", {})


def test_bulk_answers_read_as_dapr_reads_them() -> None:
    entries = [entry("a"), entry("b"), entry("c")]
    body = json.dumps(
        {"statuses": [{"entryId": "a", "status": "SUCCESS"}, {"entryId": "b", "status": "drop"}]}
    )
    assert outcomes_from_http(200, body.encode(), entries) == {
        "a": Outcome.SUCCESS,
        "b": Outcome.DROP,
        "c": Outcome.RETRY,  # no answer: retried
    }
    assert set(outcomes_from_http(200, b"not json", entries).values()) == {Outcome.RETRY}
    assert set(outcomes_from_http(500, b"", entries).values()) == {Outcome.RETRY}
    assert set(outcomes_from_http(404, b"", entries).values()) == {Outcome.DROP}
    sub = TopicSubscription("pubsub", "orders")
    envelope = http_envelope(sub, entries)
    assert envelope["type"] == "com.dapr.event.sent.bulk" and envelope["pubsubname"] == "pubsub"
    assert envelope["entries"][0] == {
        "entryId": "a",
        "event": {"id": "a"},
        "metadata": {},
        "contentType": "application/cloudevents+json",
    }


class BulkApp:
    """Answers each entry by its event's data: ``retry-once``, ``retry``, ``drop``, else SUCCESS."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.calls: dict[str, int] = {}

    async def __call__(
        self, sub: TopicSubscription, path: str, entries: list[BatchEntry]
    ) -> dict[str, Outcome]:
        self.batches.append([e.event["data"] for e in entries])
        out = {}
        for e in entries:
            key = json.dumps(e.event["data"])
            self.calls[key] = self.calls.get(key, 0) + 1
            answer = e.event["data"].get("answer") if isinstance(e.event["data"], dict) else None
            if answer == "retry" or (answer == "retry-once" and self.calls[key] == 1):
                out[e.entry_id] = Outcome.RETRY
            elif answer == "drop":
                out[e.entry_id] = Outcome.DROP
            else:
                out[e.entry_id] = Outcome.SUCCESS
        return out


async def publish(api: PubSubAPI, topic: str, data: Any) -> None:
    await api.publish("pubsub", topic, json.dumps(data).encode(), "application/json", {})


async def test_bulk_batches_by_count_and_by_wait_with_per_entry_outcomes() -> None:
    comp, api = await broker()
    dead: list[Message] = []

    async def collect(msg: Message) -> None:
        dead.append(msg)

    await comp.subscribe(SubscribeRequest("dlq"), collect)
    app = BulkApp()
    sub = TopicSubscription(
        "pubsub", "orders", default_path="bulk", dead_letter_topic="dlq", bulk=BulkConfig(True, 4, 100)
    )
    bulk = BulkDeliverer(sub, app, api.publish, FAST)
    running = await comp.subscribe(SubscribeRequest("orders", {"concurrency": "4"}), bulk.handler)
    for i in range(4):
        await publish(api, "orders", {"i": i})
    for answer in ("retry-once", "drop"):
        await publish(api, "orders", {"answer": answer})
    for _ in range(100):
        if len(app.batches) >= 3 and dead:
            break
        await asyncio.sleep(0.02)
    await running.stop()
    assert app.batches[0] == [{"i": i} for i in range(4)]  # full at maxMessagesCount
    assert sorted(map(json.dumps, app.batches[1])) == sorted(
        map(json.dumps, [{"answer": "retry-once"}, {"answer": "drop"}])
    )
    assert app.batches[2] == [{"answer": "retry-once"}]  # only the retried entry goes again
    assert [json.loads(m.data)["data"] for m in dead] == [{"answer": "drop"}]


async def test_bulk_entries_still_failing_are_handed_back_to_the_broker() -> None:
    comp, api = await broker()
    app = BulkApp()
    sub = TopicSubscription("pubsub", "orders", default_path="bulk", bulk=BulkConfig(True, 10, 10))
    bulk = BulkDeliverer(sub, app, api.publish, FAST)
    running = await comp.subscribe(SubscribeRequest("orders"), bulk.handler)
    await publish(api, "orders", {"answer": "retry"})
    for _ in range(100):
        if app.calls.get(json.dumps({"answer": "retry"}), 0) >= 6:
            break
        await asyncio.sleep(0.02)
    await running.stop()
    await bulk.stop()
    # 3 attempts in the sidecar, then the broker delivered it again for 3 more.
    assert app.calls[json.dumps({"answer": "retry"})] >= 6


# --- streaming ------------------------------------------------------------------------------------
class Client:
    """The client side of one stream: requests go in through a queue, responses come out."""

    def __init__(self, streams: StreamingSubscriptions, pubsub: str, topic: str, **init: Any) -> None:
        self.requests: asyncio.Queue[Any] = asyncio.Queue()
        self.requests.put_nowait(
            pubsub_pb2.SubscribeTopicEventsRequestAlpha1(
                initial_request=pubsub_pb2.SubscribeTopicEventsRequestInitialAlpha1(
                    pubsub_name=pubsub, topic=topic, **init
                )
            )
        )
        self.responses = streams.serve(self._iterate(), None)

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            item = await self.requests.get()
            if item is None:
                return
            yield item

    async def next(self) -> Any:
        return await asyncio.wait_for(anext(self.responses), 5)

    def answer(self, event_id: str, status: Any) -> None:
        self.requests.put_nowait(
            pubsub_pb2.SubscribeTopicEventsRequestAlpha1(
                event_processed=pubsub_pb2.SubscribeTopicEventsRequestProcessedAlpha1(
                    id=event_id, status=appcallback_pb2.TopicEventResponse(status=status)
                )
            )
        )

    async def hang_up(self) -> None:
        self.requests.put_nowait(None)
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(self.responses), 5)


S = appcallback_pb2.TopicEventResponse


async def test_stream_delivers_events_and_reads_answers() -> None:
    _, api = await broker()
    streams = StreamingSubscriptions(api, api.publish, FAST)
    client = Client(streams, "pubsub", "orders", dead_letter_topic="dlq")
    first = await client.next()
    assert first.HasField("initial_response")
    assert [(s["topic"], s["type"]) for s in streams.describe()] == [("orders", "STREAMING")]
    await publish(api, "orders", {"n": 1})
    event = (await client.next()).event_message
    assert (event.topic, event.pubsub_name, event.path) == ("orders", "pubsub", "/")
    assert json.loads(event.data) == {"n": 1} and event.data_content_type == "application/json"
    assert event.extensions["topic"] == "orders"
    client.answer(event.id, S.RETRY)
    again = (await client.next()).event_message
    assert again.id == event.id
    client.answer(again.id, S.SUCCESS)
    await client.hang_up()
    assert streams.describe() == []
    # Answered: a new stream of the group does not get it again.
    client = Client(streams, "pubsub", "orders")
    await client.next()
    await publish(api, "orders", {"n": 2})
    assert json.loads((await client.next()).event_message.data) == {"n": 2}
    await client.hang_up()


async def test_unanswered_events_go_to_the_next_stream_not_to_dead_letters() -> None:
    comp, api = await broker()
    dead: list[Message] = []

    async def collect(msg: Message) -> None:
        dead.append(msg)

    await comp.subscribe(SubscribeRequest("dlq"), collect)
    streams = StreamingSubscriptions(api, api.publish, FAST)
    client = Client(streams, "pubsub", "orders", dead_letter_topic="dlq")
    await client.next()
    await publish(api, "orders", {"n": 1})
    event = (await client.next()).event_message
    await client.hang_up()  # without answering
    client = Client(streams, "pubsub", "orders", dead_letter_topic="dlq")
    await client.next()
    again = (await client.next()).event_message
    assert again.id == event.id
    client.answer(again.id, S.DROP)
    for _ in range(50):
        if dead:
            break
        await asyncio.sleep(0.02)
    await client.hang_up()
    assert [json.loads(m.data)["id"] for m in dead] == [event.id]


async def test_stream_requests_that_are_refused() -> None:
    _, api = await broker()
    streams = StreamingSubscriptions(api, api.publish, FAST)
    client = Client(streams, "pubsub", "orders")
    await client.next()
    with pytest.raises(DaprError, match='already subscribed to pubsub "pubsub" topic "orders"'):
        await Client(streams, "pubsub", "orders").next()
    with pytest.raises(DaprError, match="pubsub nosuch not found"):
        await Client(streams, "nosuch", "orders").next()
    with pytest.raises(DaprError, match="topic is required"):
        await Client(streams, "pubsub", "").next()

    async def no_initial() -> AsyncIterator[Any]:
        yield pubsub_pb2.SubscribeTopicEventsRequestAlpha1(
            event_processed=pubsub_pb2.SubscribeTopicEventsRequestProcessedAlpha1(id="x")
        )

    with pytest.raises(DaprError, match="initial request is required"):
        await anext(streams.serve(no_initial(), None))
    closing = asyncio.create_task(streams.close_all())  # sidecar shutdown ends the open stream
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(client.responses), 5)
    await closing
    assert streams.describe() == []
