"""CloudEvents as the AppCallback protos carry them to gRPC apps and streaming subscribers.

A CloudEvent becomes a ``TopicEventRequest`` (or a bulk entry's ``TopicEventCERequest``) as Dapr
builds it: the standard attributes in their fields, the data as bytes (``data_base64`` decoded,
strings as UTF-8, anything else as JSON) and every other attribute in ``extensions``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import struct_pb2

from pydapr.api.grpc.wire import runtime
from pydapr.pubsub.delivery import Outcome

# Attributes that have their own field; everything else goes to ``extensions``.
_OWN_FIELDS = frozenset({"id", "source", "type", "specversion", "datacontenttype", "data", "data_base64"})

STATUS_OF: dict[int, Outcome] = {
    runtime.TopicEventResponse.SUCCESS: Outcome.SUCCESS,
    runtime.TopicEventResponse.RETRY: Outcome.RETRY,
    runtime.TopicEventResponse.DROP: Outcome.DROP,
}


def outcome_of(status: int) -> Outcome:
    """A ``TopicEventResponseStatus`` as an outcome; an unknown value is retried, as by Dapr."""
    return STATUS_OF.get(int(status), Outcome.RETRY)


def event_data(event: dict[str, Any]) -> bytes:
    encoded = event.get("data_base64")
    if isinstance(encoded, str):
        return base64.b64decode(encoded)
    value = event.get("data")
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def _text(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    return value if isinstance(value, str) else ""


def extensions(event: dict[str, Any]) -> struct_pb2.Struct:
    ext = struct_pb2.Struct()
    extra = {k: v for k, v in event.items() if k not in _OWN_FIELDS}
    # Through JSON so that values Struct cannot hold directly (ints, nested lists) are converted.
    ext.update(json.loads(json.dumps(extra, default=str)))
    return ext


def topic_event_request(
    event: dict[str, Any], *, topic: str, pubsub: str, path: str
) -> Any:
    return runtime.TopicEventRequest(
        id=_text(event, "id"),
        source=_text(event, "source"),
        type=_text(event, "type"),
        spec_version=_text(event, "specversion"),
        data_content_type=_text(event, "datacontenttype"),
        data=event_data(event),
        topic=topic,
        pubsub_name=pubsub,
        path=path,
        extensions=extensions(event),
    )


def bulk_entry(
    entry_id: str,
    event: dict[str, Any] | bytes,
    content_type: str,
    metadata: dict[str, str],
) -> Any:
    """One entry of ``TopicEventBulkRequest``: a CloudEvent, or the raw bytes of a raw payload."""
    if isinstance(event, bytes):
        return runtime.TopicEventBulkRequestEntry(
            entry_id=entry_id, bytes=event, content_type=content_type, metadata=metadata
        )
    ce = runtime.TopicEventCERequest(
        id=_text(event, "id"),
        source=_text(event, "source"),
        type=_text(event, "type"),
        spec_version=_text(event, "specversion"),
        data_content_type=_text(event, "datacontenttype"),
        data=event_data(event),
        extensions=extensions(event),
    )
    return runtime.TopicEventBulkRequestEntry(
        entry_id=entry_id, cloud_event=ce, content_type=content_type, metadata=metadata
    )
