"""``PublishEvent`` and ``BulkPublishEvent[Alpha1]`` over ``PubSubAPI`` (streaming lives in pydapr.pubsub)."""

from __future__ import annotations

from typing import Any

from dapr.proto.runtime.v1 import pubsub_pb2
from google.protobuf import empty_pb2

from pydapr.pubsub.api import BulkEntry, PubSubAPI, Trace


def trace_of(context: Any) -> Trace:
    md = dict(context.invocation_metadata() or ())
    return Trace(str(md.get("traceparent", "")), str(md.get("tracestate", "")))


class PubSubGrpc:
    def __init__(self, api: PubSubAPI) -> None:
        self.api = api

    async def PublishEvent(self, request: pubsub_pb2.PublishEventRequest, context: Any) -> empty_pb2.Empty:
        await self.api.publish(
            request.pubsub_name,
            request.topic,
            request.data,
            request.data_content_type,
            dict(request.metadata),
            trace_of(context),
        )
        return empty_pb2.Empty()

    async def BulkPublishEvent(
        self, request: pubsub_pb2.BulkPublishRequest, context: Any
    ) -> pubsub_pb2.BulkPublishResponse:
        entries = [BulkEntry(e.entry_id, e.event, e.content_type, dict(e.metadata)) for e in request.entries]
        failures = await self.api.bulk_publish(
            request.pubsub_name, request.topic, entries, dict(request.metadata), trace_of(context)
        )
        return pubsub_pb2.BulkPublishResponse(
            failedEntries=[
                pubsub_pb2.BulkPublishResponseFailedEntry(entry_id=f.entry_id, error=f.error)
                for f in failures
            ]
        )

    async def BulkPublishEventAlpha1(
        self, request: pubsub_pb2.BulkPublishRequest, context: Any
    ) -> pubsub_pb2.BulkPublishResponse:
        return await self.BulkPublishEvent(request, context)
