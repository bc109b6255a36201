"""Deliveries to the app under the pub/sub component's inbound Resiliency policy, or pydapr's default."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pydapr.pipeline import Pipeline
from pydapr.pipeline.resiliency import ResiliencySource
from pydapr.pubsub.bulk import BatchEntry, BulkDeliverer
from pydapr.pubsub.contract import Message, SubscribeRequest
from pydapr.pubsub.delivery import (
    DEFAULT_DELIVERY_POLICY,
    DEFAULT_DELIVERY_RETRY,
    AppDeliveryError,
    Deliverer,
    Outcome,
)
from pydapr.pubsub.subscriptions import BulkConfig, TopicSubscription
from pydapr.resiliency import RetrySchedule, compile_policies
from pydapr.resources.models import (
    CircuitBreakerPolicy,
    ComponentTargetPolicy,
    Resiliency,
    ResiliencyTargets,
    RetryPolicy,
    TargetPolicy,
)

from .test_pubsub_delivery import App, broker, envelope

SRC = Path("resiliency.yaml")


def _pipeline(inbound: TargetPolicy | None = None, **defaults: RetryPolicy) -> Pipeline:
    targets = {"pubsub": ComponentTargetPolicy(inbound=inbound)} if inbound else {}
    resiliency = Resiliency(
        name="r",
        source=SRC,
        timeouts={"short": 0.05},
        retries={"five": RetryPolicy(duration=0.001, max_retries=5), **defaults},
        circuit_breakers={"cb": CircuitBreakerPolicy(timeout=30, trip="consecutiveFailures > 1")},
        targets=ResiliencyTargets(components=targets),
    )
    return Pipeline([ResiliencySource(compile_policies([resiliency]), lambda _: "pubsub.in-memory")])


def test_the_default_is_one_named_policy_of_three_attempts() -> None:
    assert DEFAULT_DELIVERY_POLICY.retry is DEFAULT_DELIVERY_RETRY
    assert DEFAULT_DELIVERY_RETRY.max_retries == 2 and DEFAULT_DELIVERY_POLICY.direction == "inbound"
    backoff = DEFAULT_DELIVERY_RETRY.start(lambda: 0.0)
    low = [backoff.next_wait(0), backoff.next_wait(0), backoff.next_wait(0)]
    backoff = DEFAULT_DELIVERY_RETRY.start(lambda: 1.0)
    high = [backoff.next_wait(0), backoff.next_wait(0)]
    assert low[2] is None and low[:2] == pytest.approx([0.1, 0.2]) and high == pytest.approx([0.2, 0.4])


async def test_an_inbound_retry_policy_replaces_the_default() -> None:
    comp, api = await broker()
    app = App(*[Outcome.RETRY] * 2, AppDeliveryError("refused"), Outcome.RETRY)  # 4 failures, then success
    d = Deliverer(app, api.publish, pipeline=_pipeline(TargetPolicy(retry="five")))
    sub = TopicSubscription("pubsub", "orders", default_path="orders")
    await d.deliver_with_retry(sub, envelope(api, comp, {"n": 1}))
    assert len(app.calls) == 5  # more than the default's three


async def test_without_a_policy_the_default_applies_even_with_a_pipeline() -> None:
    comp, api = await broker()
    fast = DEFAULT_DELIVERY_POLICY.__class__(retry=RetrySchedule(duration=0.001, max_retries=2))
    app = App(*[Outcome.RETRY] * 5)
    d = Deliverer(app, api.publish, fast, pipeline=_pipeline())
    with pytest.raises(AppDeliveryError):
        await d.deliver_with_retry(
            TopicSubscription("pubsub", "orders", default_path="o"), envelope(api, comp, {})
        )
    assert len(app.calls) == 3


async def test_an_exhausted_policy_dead_letters_and_drop_is_not_retried() -> None:
    comp, api = await broker()
    dead: list[Message] = []

    async def collect(msg: Message) -> None:
        dead.append(msg)

    await comp.subscribe(SubscribeRequest("orders-dlq"), collect)
    app = App(*[Outcome.RETRY] * 10)
    d = Deliverer(app, api.publish, pipeline=_pipeline(TargetPolicy(retry="five")))
    sub = TopicSubscription("pubsub", "orders", default_path="orders", dead_letter_topic="orders-dlq")
    await d.deliver_with_retry(sub, envelope(api, comp, {"n": 2}))
    await asyncio.sleep(0.05)  # the in-memory broker hands the dead letter over in a task
    assert len(app.calls) == 6 and [json.loads(m.data)["data"] for m in dead] == [{"n": 2}]
    dropping = App(Outcome.DROP)
    d = Deliverer(dropping, api.publish, pipeline=_pipeline(TargetPolicy(retry="five")))
    await d.deliver_with_retry(sub, envelope(api, comp, {"n": 3}))
    await asyncio.sleep(0.05)
    assert len(dropping.calls) == 1 and len(dead) == 2


async def test_an_inbound_timeout_and_an_open_breaker_hand_the_message_back() -> None:
    comp, api = await broker()

    class Slow(App):
        async def __call__(self, *args: object, **kwargs: object) -> Outcome:
            self.calls.append(("slow", {}))
            await asyncio.sleep(1)
            return Outcome.SUCCESS

    slow = Slow()
    d = Deliverer(slow, api.publish, pipeline=_pipeline(TargetPolicy(timeout="short")))
    sub = TopicSubscription("pubsub", "orders", default_path="o")
    with pytest.raises(AppDeliveryError, match=r"timeout after 0\.05s"):
        await d.deliver_with_retry(sub, envelope(api, comp, {}))
    app = App(*[Outcome.RETRY] * 10)
    d = Deliverer(app, api.publish, pipeline=_pipeline(TargetPolicy(circuit_breaker="cb")))
    for _ in range(2):
        with pytest.raises(AppDeliveryError, match="not processed: retry"):
            await d.deliver_with_retry(sub, envelope(api, comp, {}))
    with pytest.raises(AppDeliveryError, match="circuit breaker is open"):
        await d.deliver_with_retry(sub, envelope(api, comp, {}))
    assert len(app.calls) == 2  # the open breaker refused the third without calling the app


async def test_bulk_deliveries_follow_the_inbound_policy() -> None:
    comp, api = await broker()
    calls: list[int] = []

    async def app(sub: TopicSubscription, path: str, entries: list[BatchEntry]) -> dict[str, Outcome]:
        calls.append(len(entries))
        if len(calls) < 5:
            return {e.entry_id: Outcome.RETRY for e in entries}
        return {e.entry_id: Outcome.SUCCESS for e in entries}

    sub = TopicSubscription("pubsub", "orders", default_path="bulk", bulk=BulkConfig(True, 2, 50))
    bulk = BulkDeliverer(sub, app, api.publish, pipeline=_pipeline(TargetPolicy(retry="five")))
    await asyncio.wait_for(
        asyncio.gather(*(bulk.handle(envelope(api, comp, {"i": i})) for i in range(2))), timeout=5
    )
    assert calls == [2] * 5  # one batch, four failed attempts and the fifth succeeded
