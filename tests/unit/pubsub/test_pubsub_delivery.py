"""Routing (CEL rules), the app's answers, retries and dead letters, over the in-memory broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pydapr.components.base import ComponentMetadata
from pydapr.pubsub.api import PubSubAPI
from pydapr.pubsub.contract import Message, SubscribeRequest
from pydapr.pubsub.delivery import AppDeliveryError, Deliverer, Outcome, outcome_from_http
from pydapr.pubsub.memory import InMemoryPubSub
from pydapr.pubsub.subscriptions import RuleError, TopicSubscription, compile_rule, from_app_json
from pydapr.resiliency import Policy, RetrySchedule

# Three attempts in all, as pydapr's default delivery policy, with short waits.
FAST = Policy(retry=RetrySchedule(duration=0.001, max_retries=2))


def test_app_answers_read_as_dapr_reads_them() -> None:
    assert outcome_from_http(200, b"") is Outcome.SUCCESS
    assert outcome_from_http(204, b"") is Outcome.SUCCESS
    assert outcome_from_http(200, b'{"status": "SUCCESS"}') is Outcome.SUCCESS
    assert outcome_from_http(200, b'{"status": "retry"}') is Outcome.RETRY
    assert outcome_from_http(200, b'{"status": "DROP"}') is Outcome.DROP
    assert outcome_from_http(200, b'{"status": "MAYBE"}') is Outcome.RETRY
    assert outcome_from_http(200, b"not json") is Outcome.SUCCESS
    assert outcome_from_http(404, b"") is Outcome.DROP
    assert outcome_from_http(500, b"") is Outcome.RETRY
    assert outcome_from_http(400, b"") is Outcome.RETRY


def test_cel_rules_route_events_in_order_with_a_default() -> None:
    subs = from_app_json(
        [
            {
                "pubsubname": "pubsub",
                "topic": "orders",
                "routes": {
                    "rules": [
                        {"match": 'event.type == "big" && event.data.n > 10', "path": "/big"},
                        {"match": 'event.data.kind == "gift"', "path": "gifts"},
                    ],
                    "default": "/orders",
                },
            }
        ]
    )
    sub = subs[0]
    assert sub.route({"type": "big", "data": {"n": 11}}) == "big"
    assert sub.route({"type": "big", "data": {"n": 1, "kind": "gift"}}) == "gifts"
    assert sub.route({"type": "x", "data": "text"}) == "orders"  # a rule that errors is false
    assert TopicSubscription("p", "t", (compile_rule("event.type == 'a'", "a"),)).route({"type": "b"}) is None


def test_bad_rules_are_refused() -> None:
    with pytest.raises(RuleError):
        compile_rule("event.type ==", "x")
    assert (
        from_app_json(
            [{"pubsubname": "p", "topic": "t", "routes": {"rules": [{"match": "((", "path": "x"}]}}]
        )
        == []
    )


class App:
    """An app that answers each event with the next scripted outcome (then SUCCESS)."""

    def __init__(self, *script: Outcome | Exception) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.metadata: list[dict[str, str]] = []

    async def __call__(
        self,
        sub: TopicSubscription,
        path: str,
        event: dict[str, Any],
        raw: bytes,
        metadata: Mapping[str, str],
    ) -> Outcome:
        self.calls.append((path, event))
        self.metadata.append(dict(metadata))
        step = self.script.pop(0) if self.script else Outcome.SUCCESS
        if isinstance(step, Exception):
            raise step
        return step


async def broker() -> tuple[InMemoryPubSub, PubSubAPI]:
    comp = InMemoryPubSub()
    await comp.init(ComponentMetadata("pubsub", "pubsub.in-memory", "v1", {}, app_id="app", base_dir=Path()))
    return comp, PubSubAPI(lambda: {"pubsub": comp}, "app")


def envelope(api: PubSubAPI, comp: InMemoryPubSub, data: dict[str, Any], **meta: str) -> Message:
    raw = api.envelope(
        comp, "pubsub", "orders", json.dumps(data).encode(), "application/json", meta, _trace()
    )
    return Message("orders", raw, "application/cloudevents+json")


def _trace() -> Any:
    from pydapr.pubsub.api import Trace

    return Trace()


async def test_retry_then_success() -> None:
    comp, api = await broker()
    app = App(Outcome.RETRY, AppDeliveryError("app down"))
    d = Deliverer(app, api.publish, FAST)
    sub = TopicSubscription("pubsub", "orders", default_path="orders")
    await d.deliver_with_retry(sub, envelope(api, comp, {"n": 1}))
    assert len(app.calls) == 3
    assert app.calls[-1][1]["data"] == {"n": 1}


async def test_exhausted_retries_go_to_the_dead_letter_topic() -> None:
    comp, api = await broker()
    dead: list[Message] = []

    async def collect(msg: Message) -> None:
        dead.append(msg)

    await comp.subscribe(SubscribeRequest("orders-dlq"), collect)
    app = App(Outcome.RETRY, Outcome.RETRY, Outcome.RETRY)
    d = Deliverer(app, api.publish, FAST)
    sub = TopicSubscription("pubsub", "orders", default_path="orders", dead_letter_topic="orders-dlq")
    await d.deliver_with_retry(sub, envelope(api, comp, {"n": 2}))
    await asyncio.sleep(0.05)
    assert len(dead) == 1
    assert json.loads(dead[0].data)["data"] == {"n": 2}


async def test_exhausted_retries_without_dead_letter_hand_the_message_back() -> None:
    comp, api = await broker()
    d = Deliverer(App(Outcome.RETRY, Outcome.RETRY, Outcome.RETRY), api.publish, FAST)
    with pytest.raises(AppDeliveryError):
        await d.deliver_with_retry(
            TopicSubscription("pubsub", "orders", default_path="o"), envelope(api, comp, {})
        )


async def test_drop_is_final_and_expired_events_never_reach_the_app() -> None:
    comp, api = await broker()
    app = App(Outcome.DROP)
    d = Deliverer(app, api.publish, FAST)
    sub = TopicSubscription("pubsub", "orders", default_path="orders")
    await d.deliver_with_retry(sub, envelope(api, comp, {}))
    assert len(app.calls) == 1
    expired = json.loads(envelope(api, comp, {}).data)
    expired["expiration"] = "2000-01-01T00:00:00Z"
    await d.deliver_with_retry(sub, Message("orders", json.dumps(expired).encode()))
    assert len(app.calls) == 1


async def test_raw_messages_arrive_wrapped_with_data_base64() -> None:
    _, api = await broker()
    app = App()
    d = Deliverer(app, api.publish, FAST)
    sub = TopicSubscription("pubsub", "orders", default_path="orders", metadata={"rawPayload": "true"})
    await d.deliver_with_retry(sub, Message("orders", b"raw!"))
    event = app.calls[0][1]
    assert event["data_base64"] == "cmF3IQ==" and event["datacontenttype"] == "application/octet-stream"


async def test_the_app_gets_the_message_metadata_with_content_type_and_pubsub_name() -> None:
    comp, api = await broker()
    app = App()
    d = Deliverer(app, api.publish, FAST)
    sub = TopicSubscription("pubsub", "orders", default_path="orders")
    msg = envelope(api, comp, {"n": 1})
    msg.metadata = {"partitionKey": "p1", "Custom-Header": "x"}
    await d.deliver_with_retry(sub, msg)
    assert app.metadata == [
        {
            "partitionKey": "p1",
            "Custom-Header": "x",
            "content-type": "application/cloudevents+json",
            "pubsubName": "pubsub",
        }
    ]


async def test_expired_and_unrouted_events_are_dead_lettered_as_daprd_does() -> None:
    comp, api = await broker()
    dead: list[Message] = []

    async def collect(msg: Message) -> None:
        dead.append(msg)

    await comp.subscribe(SubscribeRequest("orders-dlq"), collect)
    app = App()
    d = Deliverer(app, api.publish, FAST)
    expired = json.loads(envelope(api, comp, {"n": 1}).data)
    expired["expiration"] = "2000-01-01T00:00:00Z"
    with_dlq = TopicSubscription("pubsub", "orders", default_path="orders", dead_letter_topic="orders-dlq")
    await d.deliver_with_retry(with_dlq, Message("orders", json.dumps(expired).encode()))
    only_big = TopicSubscription(
        "pubsub", "orders", (compile_rule("event.data.n > 10", "big"),), dead_letter_topic="orders-dlq"
    )
    await d.deliver_with_retry(only_big, envelope(api, comp, {"n": 2}))
    for _ in range(100):
        if len(dead) == 2:
            break
        await asyncio.sleep(0.01)
    assert app.calls == []
    assert [json.loads(m.data)["data"] for m in dead] == [{"n": 1}, {"n": 2}]


async def test_raw_payload_takes_trace_context_from_the_message_metadata() -> None:
    _, api = await broker()
    app = App()
    d = Deliverer(app, api.publish, FAST)
    sub = TopicSubscription("pubsub", "orders", default_path="orders", metadata={"rawPayload": "true"})
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await d.deliver_with_retry(sub, Message("orders", b"raw", None, {"traceparent": tp, "tracestate": "a=b"}))
    event = app.calls[0][1]
    assert (event["traceparent"], event["traceid"], event["tracestate"]) == (tp, tp, "a=b")
