"""The pub/sub building block in the sidecar: publish routes and RPCs, subscriptions and delivery
(one by one or in bulk, through the app channel whatever the app's protocol) and streaming
subscriptions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydapr.api.grpc.pubsub import PubSubGrpc
from pydapr.api.http import pubsub as http_pubsub
from pydapr.pubsub.api import PubSubAPI
from pydapr.pubsub.bulk import BatchEntry, BulkDeliverer
from pydapr.pubsub.contract import Handler, PubSub, SubscribeRequest, Subscription
from pydapr.pubsub.delivery import Deliverer, Outcome
from pydapr.pubsub.streaming import StreamingSubscriptions
from pydapr.pubsub.subscriptions import RuleError, TopicSubscription, from_resource
from pydapr.resiliency import BuiltIn
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime

log = logging.getLogger("pydapr.pubsub")


class PubSubBlock(BuildingBlock):
    name = "pubsub"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.app_id = runtime.app_id
        self.channel = runtime.app_channel
        self.component_store = runtime.components
        self.resources = runtime.resources
        self.pipeline = runtime.pipeline
        # daprd reads the app's subscriptions under DaprBuiltInInitializationRetries.
        self._init_retries = runtime.resiliency.builtin(BuiltIn.INITIALIZATION)
        self.api = PubSubAPI(self._components, runtime.app_id)
        # Deliveries run through each pub/sub component's INBOUND_COMPONENT chain.
        self.deliverer = Deliverer(self._call_app, self._republish, pipeline=self.pipeline)
        self.streams = StreamingSubscriptions(self.api, self._republish, pipeline=self.pipeline)
        self.subscriptions: list[TopicSubscription] = []
        self._running: list[Subscription] = []
        self._bulk: list[BulkDeliverer] = []

    def _components(self) -> dict[str, PubSub]:
        found = self.component_store.by_family("pubsub")
        return {name: lc.instance for name, lc in found.items() if isinstance(lc.instance, PubSub)}

    def register_http(self, router: Router) -> None:
        http_pubsub.register(router, self.api)

    def grpc_handler(self) -> object:
        return PubSubGrpc(self.api, self.streams)

    def metadata(self) -> dict[str, Any]:
        return {"subscriptions": [s.describe() for s in self.subscriptions] + self.streams.describe()}

    async def start(self) -> None:
        components = self._components()
        if not components:
            return
        subs = self._declarative()
        if self.channel.configured:
            subs += await self._programmatic()
        for sub in subs:
            comp = components.get(sub.pubsub)
            if comp is None:
                log.warning("subscription to %s: no pubsub named %s", sub.topic, sub.pubsub)
                continue
            if not self.api.scopes(comp).may_subscribe(self.app_id, sub.topic):
                log.warning("app %s may not subscribe to %s/%s", self.app_id, sub.pubsub, sub.topic)
                continue
            metadata = dict(sub.metadata)
            handler: Handler
            if sub.bulk.enabled:
                bulk = BulkDeliverer(
                    sub, self._call_app_bulk, self._republish, self.deliverer.policy, pipeline=self.pipeline
                )
                self._bulk.append(bulk)
                handler = bulk.handler
                # Enough handler calls in flight for a batch to fill.
                metadata.setdefault("concurrency", str(max(1, sub.bulk.max_messages_count)))
            else:
                handler = self.deliverer.handler(sub)
            running = await comp.subscribe(SubscribeRequest(sub.topic, metadata), handler)
            self._running.append(running)
            self.subscriptions.append(sub)
            log.info("subscribed to %s/%s (%s)", sub.pubsub, sub.topic, sub.kind.lower())

    async def stop(self) -> None:
        await self.streams.close_all()
        for bulk in self._bulk:
            await bulk.stop()
        running, self._running = self._running, []
        for sub in running:
            try:
                await sub.stop()
            except Exception:
                log.exception("stopping a subscription failed")

    def _declarative(self) -> list[TopicSubscription]:
        out = []
        for res in self.resources.subscriptions:
            if res.scopes and self.app_id not in res.scopes:
                continue
            try:
                out.append(from_resource(res))
            except RuleError as exc:
                log.error("subscription %s skipped: %s", res.name, exc)
        return out

    async def _programmatic(self) -> list[TopicSubscription]:
        return await self.channel.list_subscriptions(self._init_retries)

    async def _republish(
        self, pubsub: str, topic: str, data: bytes, content_type: str, metadata: dict[str, str]
    ) -> None:
        await self.api.publish(pubsub, topic, data, content_type, metadata)

    async def _call_app(
        self,
        sub: TopicSubscription,
        path: str,
        event: dict[str, Any],
        raw: bytes,
        metadata: Mapping[str, str],
    ) -> Outcome:
        return await self.channel.topic_event(sub, path, event, raw, metadata)

    async def _call_app_bulk(
        self, sub: TopicSubscription, path: str, entries: list[BatchEntry]
    ) -> dict[str, Outcome]:
        return await self.channel.bulk_topic_event(sub, path, entries)
