"""Dapr's publish routes (pkg/api/http/http.go) over ``PubSubAPI``: single and bulk publish.

Request metadata comes from ``metadata.<name>`` query parameters; trace context from the
``traceparent``/``tracestate`` headers.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from pydapr.api.http.jsonbody import BodyDecoder
from pydapr.api.http.router import Router
from pydapr.http.messages import Request, Response
from pydapr.pubsub import errors as E
from pydapr.pubsub.api import BulkEntry, PubSubAPI, Trace
from pydapr.pubsub.cloudevents import is_cloudevent_content_type, is_json_content_type

METADATA_PREFIX = "metadata."


def query_metadata(req: Request) -> dict[str, str]:
    if not req.query:
        return {}
    return {
        k[len(METADATA_PREFIX) :]: v
        for k, v in parse_qsl(req.query, keep_blank_values=True)
        if k.startswith(METADATA_PREFIX)
    }


def trace_of(req: Request) -> Trace:
    return Trace(req.headers.get("traceparent") or "", req.headers.get("tracestate") or "")


def entry_bytes(event: Any, content_type: str) -> bytes:
    """An entry's ``event`` as bytes: strings as they are unless the content type is JSON."""
    if isinstance(event, str) and not (
        is_json_content_type(content_type) or is_cloudevent_content_type(content_type)
    ):
        return event.encode()
    return json.dumps(event, separators=(",", ":")).encode()


class _BulkEntryBody(msgspec.Struct, forbid_unknown_fields=True):
    # daprd's bulkPublishMessageEntry, decoded Go-style (``entryID`` is ``entryId``).
    entryId: str = ""
    event: msgspec.Raw = msgspec.Raw(b"null")
    contentType: str = ""
    metadata: dict[str, str] | None = None


_BULK: BodyDecoder[list[_BulkEntryBody] | None] = BodyDecoder(list[_BulkEntryBody] | None)


def decode_bulk(body: bytes, pubsub: str, topic: str) -> list[BulkEntry]:
    try:
        items = _BULK.decode(body or b"[]") or []
        return [
            BulkEntry(
                item.entryId,
                entry_bytes(msgspec.json.decode(item.event), item.contentType),
                item.contentType,
                dict(item.metadata or {}),
            )
            for item in items
        ]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise E.PUBSUB_EVENTS_SER(topic, pubsub, str(exc)) from None


def register(router: Router, api: PubSubAPI) -> None:
    async def publish(req: Request, params: dict[str, str]) -> Response:
        content_type = req.headers.get("content-type") or ""
        await api.publish(
            params["pubsubname"], params["topic"], req.body, content_type, query_metadata(req), trace_of(req)
        )
        return Response.empty(204)

    async def bulk_publish(req: Request, params: dict[str, str]) -> Response:
        pubsub, topic = params["pubsubname"], params["topic"]
        if not pubsub:
            raise E.PUBSUB_EMPTY()
        entries = decode_bulk(req.body, pubsub, topic)
        failures = await api.bulk_publish(pubsub, topic, entries, query_metadata(req), trace_of(req))
        if not failures:
            return Response.empty(204)
        body = {
            "failedEntries": [{"entryId": f.entry_id, "error": f.error} for f in failures],
            "errorCode": E.PUBSUB_PUBLISH_MESSAGE.code,
        }
        return Response.json(json.dumps(body).encode(), 500)

    router.add(("POST", "PUT"), "/v1.0/publish/{pubsubname}/{topic:*}", publish)
    for version in ("v1.0-alpha1", "v1.0"):
        router.add(("POST", "PUT"), f"/{version}/publish/bulk/{{pubsubname}}/{{topic:*}}", bulk_publish)
