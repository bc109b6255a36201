"""The pub/sub building block in the sidecar: publish routes and RPCs, subscriptions and delivery
(one by one or in bulk, to HTTP and gRPC apps) and streaming subscriptions."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import empty_pb2

from pydapr.api import app_metadata
from pydapr.api.grpc.pubsub import PubSubGrpc
from pydapr.api.grpc.wire import runtime
from pydapr.api.http import pubsub as http_pubsub
from pydapr.http.messages import Headers
from pydapr.pubsub import cloudevents as ce
from pydapr.pubsub.api import PubSubAPI
from pydapr.pubsub.appcallback import bulk_entry, outcome_of, topic_event_request
from pydapr.pubsub.bulk import (
    BULK_EVENT_TYPE,
    PUBSUB_METADATA_KEY,
    BatchEntry,
    BulkDeliverer,
    http_envelope,
    outcomes_from_http,
)
from pydapr.pubsub.contract import Handler, PubSub, SubscribeRequest, Subscription
from pydapr.pubsub.delivery import AppDeliveryError, Deliverer, Outcome, outcome_from_http
from pydapr.pubsub.streaming import StreamingSubscriptions
from pydapr.pubsub.subscriptions import (
    RuleError,
    TopicSubscription,
    from_app_grpc,
    from_app_json,
    from_resource,
)
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime

log = logging.getLogger("pydapr.pubsub")


class PubSubBlock(BuildingBlock):
    name = "pubsub"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.api = PubSubAPI(self._components, runtime.app_id)
        self.deliverer = Deliverer(self._call_app, self._republish)
        self.streams = StreamingSubscriptions(self.api, self._republish)
        self.subscriptions: list[TopicSubscription] = []
        self._running: list[Subscription] = []
        self._bulk: list[BulkDeliverer] = []

    def _components(self) -> dict[str, PubSub]:
        found = self.runtime.components.by_family("pubsub")
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
        if self.runtime.app_channel.configured:
            subs += await self._programmatic()
        for sub in subs:
            comp = components.get(sub.pubsub)
            if comp is None:
                log.warning("subscription to %s: no pubsub named %s", sub.topic, sub.pubsub)
                continue
            if not self.api.scopes(comp).may_subscribe(self.runtime.app_id, sub.topic):
                log.warning("app %s may not subscribe to %s/%s", self.runtime.app_id, sub.pubsub, sub.topic)
                continue
            metadata = dict(sub.metadata)
            handler: Handler
            if sub.bulk.enabled:
                bulk = BulkDeliverer(sub, self._call_app_bulk, self._republish, self.deliverer.policy)
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
        for res in self.runtime.resources.subscriptions:
            if res.scopes and self.runtime.app_id not in res.scopes:
                continue
            try:
                out.append(from_resource(res))
            except RuleError as exc:
                log.error("subscription %s skipped: %s", res.name, exc)
        return out

    async def _programmatic(self) -> list[TopicSubscription]:
        channel = self.runtime.app_channel
        try:
            if channel.protocol == "grpc":
                resp = await channel.callback_stub().ListTopicSubscriptions(
                    empty_pb2.Empty(), metadata=channel.grpc_metadata(), timeout=10
                )
                return from_app_grpc(resp)
            http_resp = await channel.http("GET", "/dapr/subscribe", timeout=10.0)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                log.warning("ListTopicSubscriptions failed: %s", exc.details())
            return []
        except Exception as exc:
            log.warning("GET /dapr/subscribe failed: %s", exc)
            return []
        if http_resp.status != 200 or not http_resp.body:
            return []
        try:
            return from_app_json(json.loads(http_resp.body))
        except ValueError:
            log.warning("GET /dapr/subscribe did not return JSON")
            return []

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
        channel = self.runtime.app_channel
        if channel.protocol == "grpc":
            return await self._call_grpc(sub, path, event, metadata)
        # The message's metadata as headers (``pubsubname`` among them), as daprd's app channel.
        headers = Headers(app_metadata.http_headers(metadata))
        headers.set("content-type", ce.CLOUDEVENTS_CONTENT_TYPE)
        for field in ("traceparent", "tracestate"):
            if event.get(field):
                headers.set(field, str(event[field]))
        try:
            resp = await channel.http("POST", "/" + path.lstrip("/"), headers=headers, body=raw)
        except Exception as exc:
            raise AppDeliveryError(str(exc)) from exc
        return outcome_from_http(resp.status, resp.body)

    async def _call_grpc(
        self, sub: TopicSubscription, path: str, event: dict[str, Any], metadata: Mapping[str, str]
    ) -> Outcome:
        channel = self.runtime.app_channel
        # The path as the app listed it: the gRPC SDK looks its handler up by it.
        req = topic_event_request(event, topic=sub.topic, pubsub=sub.pubsub, path=path)
        md = (*channel.grpc_metadata(), *app_metadata.grpc_metadata(metadata))
        try:
            async with channel.slot():
                resp = await channel.callback_stub().OnTopicEvent(req, metadata=md)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                # daprd acknowledges the event (no retry, no dead letter).
                log.warning("app does not implement OnTopicEvent; event %s on %s dropped", req.id, sub.topic)
                return Outcome.SUCCESS
            raise AppDeliveryError(exc.details() or str(exc.code())) from exc
        return outcome_of(resp.status)

    async def _call_app_bulk(
        self, sub: TopicSubscription, path: str, entries: list[BatchEntry]
    ) -> dict[str, Outcome]:
        channel = self.runtime.app_channel
        if channel.protocol == "grpc":
            return await self._call_grpc_bulk(sub, path, entries)
        body = json.dumps(http_envelope(sub, entries), separators=(",", ":")).encode()
        headers = Headers([("content-type", "application/json")])
        try:
            resp = await channel.http("POST", "/" + path.lstrip("/"), headers=headers, body=body)
        except Exception as exc:
            raise AppDeliveryError(str(exc)) from exc
        return outcomes_from_http(resp.status, resp.body, entries)

    async def _call_grpc_bulk(
        self, sub: TopicSubscription, path: str, entries: list[BatchEntry]
    ) -> dict[str, Outcome]:
        channel = self.runtime.app_channel
        req = runtime.TopicEventBulkRequest(
            id=str(uuid.uuid4()),
            entries=[
                bulk_entry(
                    e.entry_id,
                    e.raw_payload if e.raw_payload is not None else e.event,
                    e.content_type,
                    e.metadata,
                )
                for e in entries
            ],
            metadata={PUBSUB_METADATA_KEY: sub.pubsub},
            topic=sub.topic,
            pubsub_name=sub.pubsub,
            type=BULK_EVENT_TYPE,
            path=path,
        )
        ids = [e.entry_id for e in entries]
        md = channel.grpc_metadata()
        try:
            async with channel.slot():
                try:
                    resp = await channel.callback_stub().OnBulkTopicEvent(req, metadata=md)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                        raise
                    resp = await channel.callback_alpha_stub().OnBulkTopicEventAlpha1(req, metadata=md)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return dict.fromkeys(ids, Outcome.DROP)
            raise AppDeliveryError(exc.details() or str(exc.code())) from exc
        out = dict.fromkeys(ids, Outcome.RETRY)  # an entry without an answer is retried
        for status in resp.statuses:
            if status.entry_id in out:
                out[status.entry_id] = outcome_of(status.status)
        return out
