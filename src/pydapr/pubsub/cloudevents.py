"""CloudEvents 1.0 envelopes as Dapr builds them (components-contrib pubsub/envelope.go).

Published data is wrapped in an envelope unless the request says ``rawPayload``; an event that is
already a CloudEvent keeps its fields and gets Dapr's (topic, pubsubname, trace context) added.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
DEFAULT_TYPE = "com.dapr.event.sent"
DEFAULT_SOURCE = "Dapr"
DEFAULT_DATA_CONTENT_TYPE = "text/plain"
SPEC_VERSION = "1.0"

# Checks that bytes are one JSON value; the value it decodes is dropped.
_JSON_CHECK = msgspec.json.Decoder()

# Request metadata that overrides envelope fields (Dapr: ``cloudevent.id`` and friends).
_OVERRIDES = ("id", "source", "type", "subject", "traceparent", "tracestate")


@functools.lru_cache(maxsize=256)
def _media_type(content_type: str) -> str:
    # A sidecar sees a handful of content types, each on every publish: split once each.
    return content_type.split(";", 1)[0].strip().lower()


def is_json_content_type(content_type: str) -> bool:
    media = _media_type(content_type)
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def is_binary_content_type(content_type: str) -> bool:
    media = _media_type(content_type)
    return media == "application/octet-stream" or media.endswith("+octet-stream")


def is_cloudevent_content_type(content_type: str) -> bool:
    return _media_type(content_type) == CLOUDEVENTS_CONTENT_TYPE


def new_traceparent() -> str:
    """A sampled W3C traceparent for a publish that arrived without trace context."""
    ids = os.urandom(24).hex()  # one read of the system's random source for both ids
    return f"00-{ids[:32]}-{ids[32:]}-01"


def new_id() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` gives, without a UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_now: list[Any] = [0, ""]  # the whole second last stamped, and its RFC 3339 text


def now_rfc3339() -> str:
    """The current UTC time to the second (``2026-12-03T17:48:00Z``), formatted once a second."""
    second = int(time.time())
    if second != _now[0]:
        stamp = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        _now[:] = [second, stamp]
    return str(_now[1])


def encode(event: dict[str, Any]) -> bytes:
    """An envelope as JSON bytes (a JSON ``data`` held as ``msgspec.Raw`` goes out as it came in)."""
    return msgspec.json.encode(event)


def new_envelope(
    *,
    topic: str,
    pubsub: str,
    data: bytes,
    content_type: str,
    source: str,
    traceparent: str,
    tracestate: str = "",
    overrides: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Dapr's envelope around ``data``. JSON data is checked (msgspec decodes it, keeping nothing)
    and carried as ``msgspec.Raw`` of its compact form (whitespace between tokens dropped, as
    daprd's decode and re-encode leaves it; numbers and strings as they came), so ``encode`` writes
    it out without building Python objects; data that does not parse is carried as a string, as
    Dapr does."""
    over = overrides or {}
    content_type = content_type or DEFAULT_DATA_CONTENT_TYPE
    ce: dict[str, Any] = {
        "id": over.get("id") or new_id(),
        "specversion": SPEC_VERSION,
        "datacontenttype": content_type,
        "source": over.get("source") or source or DEFAULT_SOURCE,
        "type": over.get("type") or DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "traceid": over.get("traceparent") or traceparent,
        "traceparent": over.get("traceparent") or traceparent,
        "tracestate": over.get("tracestate") or tracestate,
        "time": now_rfc3339(),
    }
    if over.get("subject"):
        ce["subject"] = over["subject"]
    if is_json_content_type(content_type):
        if not data:
            ce["data"] = None
        else:
            try:
                _JSON_CHECK.decode(data)  # format() alone does not check the strings' UTF-8
                ce["data"] = msgspec.Raw(msgspec.json.format(data, indent=-1))
            except msgspec.DecodeError:
                ce["data"] = data.decode("utf-8", "replace")
    elif is_binary_content_type(content_type):
        ce["data_base64"] = base64.b64encode(data).decode()
    else:
        ce["data"] = data.decode("utf-8", "replace")
    return ce


def from_cloud_event(
    raw: bytes, *, topic: str, pubsub: str, traceparent: str, tracestate: str = ""
) -> dict[str, Any]:
    """The user's own CloudEvent, kept as sent, with Dapr's routing and trace fields set."""
    ce = json.loads(raw)
    if not isinstance(ce, dict):
        raise ValueError("a CloudEvent must be a JSON object")
    ce["traceid"] = traceparent
    ce["traceparent"] = traceparent
    ce["tracestate"] = tracestate
    ce["topic"] = topic
    ce["pubsubname"] = pubsub
    ce.setdefault("source", DEFAULT_SOURCE)
    ce.setdefault("type", DEFAULT_TYPE)
    ce.setdefault("specversion", SPEC_VERSION)
    ce.setdefault("id", new_id())
    return ce


def from_raw_payload(data: bytes, *, topic: str, pubsub: str) -> dict[str, Any]:
    """What a subscriber sees for a raw message: a new envelope with the bytes in ``data_base64``."""
    return {
        "id": new_id(),
        "specversion": SPEC_VERSION,
        "datacontenttype": "application/octet-stream",
        "source": DEFAULT_SOURCE,
        "type": DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "data_base64": base64.b64encode(data).decode(),
    }


def set_expiration(ce: dict[str, Any], ttl_seconds: int) -> None:
    """Stamp ``expiration`` for brokers without native TTL; the subscriber side drops expired events."""
    expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    ce["expiration"] = expires.isoformat(timespec="seconds").replace("+00:00", "Z")


def has_expired(ce: dict[str, Any]) -> bool:
    value = ce.get("expiration")
    if not isinstance(value, str) or not value:
        return False
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when < datetime.now(UTC)


def overrides_from_metadata(metadata: dict[str, str]) -> dict[str, str]:
    return {k: metadata[f"cloudevent.{k}"] for k in _OVERRIDES if metadata.get(f"cloudevent.{k}")}
