"""``PublishEvent``, ``BulkPublishEvent[Alpha1]`` over ``PubSubAPI``, and ``SubscribeTopicEventsAlpha1``
handed to the streaming subscriptions of pydapr.pubsub.streaming."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2

from pydapr.api.grpc.wire import as_dict, runtime
from pydapr.pubsub.api import BulkEntry, PubSubAPI, Trace

if TYPE_CHECKING:
    from pydapr.pubsub.streaming import StreamingSubscriptions


def trace_of(context: Any) -> Trace:
    md = dict(context.invocation_metadata() or ())
    return Trace(str(md.get("traceparent", "")), str(md.get("tracestate", "")))


class PubSubGrpc:
    def __init__(self, api: PubSubAPI, streams: StreamingSubscriptions | None = None) -> None:
        self.api = api
        self.streams = streams

    async def PublishEvent(self, request: Any, context: Any) -> empty_pb2.Empty:
        await self.api.publish(
            request.pubsub_name,
            request.topic,
            request.data,
            request.data_content_type,
            as_dict(request.metadata),
            trace_of(context),
        )
        return empty_pb2.Empty()

    async def BulkPublishEvent(self, request: Any, context: Any) -> Any:
        entries = [
            BulkEntry(e.entry_id, e.event, e.content_type, as_dict(e.metadata)) for e in request.entries
        ]
        failures = await self.api.bulk_publish(
            request.pubsub_name, request.topic, entries, as_dict(request.metadata), trace_of(context)
        )
        return runtime.BulkPublishResponse(
            failedEntries=[
                runtime.BulkPublishResponseFailedEntry(entry_id=f.entry_id, error=f.error) for f in failures
            ]
        )

    async def BulkPublishEventAlpha1(self, request: Any, context: Any) -> Any:
        return await self.BulkPublishEvent(request, context)

    async def SubscribeTopicEventsAlpha1(
        self, requests: AsyncIterator[Any], context: Any
    ) -> AsyncIterator[Any]:
        if self.streams is None:
            return
        async with contextlib.aclosing(self.streams.serve(requests, context)) as responses:
            async for response in responses:
                yield response
