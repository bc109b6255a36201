"""The pub/sub API, transport-free: publish and bulk publish, as both HTTP and gRPC call them.

Checks the request (pubsub, topic, scopes, metadata), wraps data in a CloudEvent unless
``rawPayload`` is set, stamps ``expiration`` when the broker has no native TTL, and maps broker
failures to ERR_PUBSUB_PUBLISH_MESSAGE.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import msgspec

from pydapr.errors import DaprError
from pydapr.observability import trace_context
from pydapr.pubsub import cloudevents as ce
from pydapr.pubsub import errors
from pydapr.pubsub.contract import (
    FEATURE_MESSAGE_TTL,
    TTL_METADATA,
    BulkPublishEntry,
    BulkPublishFailure,
    PublishRequest,
    PubSub,
)
from pydapr.pubsub.scopes import TopicScopes

RAW_PAYLOAD = "rawPayload"


@dataclass(slots=True)
class Trace:
    traceparent: str = ""
    tracestate: str = ""


@dataclass(slots=True)
class BulkEntry:
    """One entry of a bulk publish request as the transports decode it."""

    entry_id: str
    event: bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


def _bool(metadata: dict[str, str], key: str) -> bool:
    value = metadata.get(key)
    if value is None or value == "":
        return False
    low = value.lower()
    if low in ("true", "1", "yes", "y", "on"):
        return True
    if low in ("false", "0", "no", "n", "off"):
        return False
    raise errors.PUBSUB_REQUEST_METADATA(f"{key} must be a boolean, got {value!r}")


def _ttl(metadata: dict[str, str]) -> int | None:
    value = metadata.get(TTL_METADATA)
    if value is None or value == "":
        return None
    try:
        ttl = int(value)
    except ValueError:
        raise errors.PUBSUB_REQUEST_METADATA(f"{TTL_METADATA} must be an integer, got {value!r}") from None
    if ttl < 0:
        raise errors.PUBSUB_REQUEST_METADATA(f"{TTL_METADATA} must not be negative")
    return ttl


class PubSubAPI:
    def __init__(self, components: Callable[[], Mapping[str, PubSub]], app_id: str) -> None:
        self._components = components
        self.app_id = app_id
        self._scopes: dict[int, TopicScopes] = {}
        # Read now, not on the first publish: the scopes are the runtime's part of the metadata,
        # and what nothing has read by the end of startup is reported as not applied.
        for comp in components().values():
            self.scopes(comp)

    def component(self, name: str) -> PubSub:
        found = self._components()
        if not found:
            raise errors.PUBSUB_NOT_CONFIGURED()
        if not name:
            raise errors.PUBSUB_EMPTY()
        comp = found.get(name)
        if comp is None:
            raise errors.PUBSUB_NOT_FOUND(name)
        return comp

    def scopes(self, comp: PubSub) -> TopicScopes:
        key = id(comp)
        scopes = self._scopes.get(key)
        if scopes is None:
            scopes = self._scopes[key] = TopicScopes.from_metadata(comp.metadata)
        return scopes

    def _target(self, pubsub: str, topic: str) -> PubSub:
        comp = self.component(pubsub)
        if not topic:
            raise errors.TOPIC_EMPTY(pubsub)
        if not self.scopes(comp).may_publish(self.app_id, topic):
            raise errors.PUBSUB_FORBIDDEN(topic, self.app_id)
        return comp

    def envelope(
        self,
        comp: PubSub,
        pubsub: str,
        topic: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str],
        trace: Trace,
    ) -> bytes:
        """The bytes to hand to the broker: the CloudEvent Dapr would build for this request."""
        # Inside a traced publish the API call's span is the parent of the delivery's, as daprd.
        current = trace_context.current_traceparent.get()
        if current:
            trace = Trace(current, trace_context.current_tracestate.get())
        traceparent = trace.traceparent or ce.new_traceparent()
        try:
            if ce.is_cloudevent_content_type(content_type):
                event = ce.from_cloud_event(
                    data, topic=topic, pubsub=pubsub, traceparent=traceparent, tracestate=trace.tracestate
                )
            else:
                event = ce.new_envelope(
                    topic=topic,
                    pubsub=pubsub,
                    data=data,
                    content_type=content_type,
                    source=self.app_id,
                    traceparent=traceparent,
                    tracestate=trace.tracestate,
                    overrides=ce.overrides_from_metadata(metadata) if metadata else None,
                )
        except ValueError as exc:
            raise errors.PUBSUB_CLOUD_EVENT_CREATION(str(exc)) from None
        ttl = _ttl(metadata) if metadata else None
        if ttl is not None and FEATURE_MESSAGE_TTL not in comp.features():
            ce.set_expiration(event, ttl)
        try:
            return ce.encode(event)
        except (TypeError, ValueError, msgspec.EncodeError):
            raise errors.PUBSUB_CLOUD_EVENTS_SER(topic, pubsub) from None

    async def publish(
        self,
        pubsub: str,
        topic: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str],
        trace: Trace | None = None,
    ) -> None:
        comp = self._target(pubsub, topic)
        # Most publishes carry no metadata: nothing to check, override or copy then.
        if metadata:
            _ttl(metadata)
        if metadata and _bool(metadata, RAW_PAYLOAD):
            payload, payload_type = data, content_type or None
        else:
            payload = self.envelope(comp, pubsub, topic, data, content_type, metadata, trace or Trace())
            payload_type = ce.CLOUDEVENTS_CONTENT_TYPE
        try:
            request = PublishRequest(topic, payload, payload_type, dict(metadata) if metadata else {})
            await comp.publish(request)
        except DaprError:
            raise
        except Exception as exc:
            raise errors.PUBSUB_PUBLISH_MESSAGE(topic, pubsub, str(exc) or type(exc).__name__) from exc

    async def bulk_publish(
        self,
        pubsub: str,
        topic: str,
        entries: list[BulkEntry],
        metadata: dict[str, str],
        trace: Trace | None = None,
    ) -> list[BulkPublishFailure]:
        """Publish every entry; the entries that failed, each with its error."""
        comp = self._target(pubsub, topic)
        seen: set[str] = set()
        for e in entries:
            if not e.entry_id:
                raise errors.PUBSUB_EVENTS_SER(topic, pubsub, "entryId is required for every entry")
            if e.entry_id in seen:
                raise errors.PUBSUB_EVENTS_SER(topic, pubsub, f"entryId {e.entry_id} is not unique")
            seen.add(e.entry_id)
        raw = _bool(metadata, RAW_PAYLOAD)
        _ttl(metadata)
        out: list[BulkPublishEntry] = []
        for e in entries:
            merged = {**metadata, **e.metadata}
            if raw or _bool(e.metadata, RAW_PAYLOAD):
                out.append(BulkPublishEntry(e.entry_id, e.event, e.content_type or None, e.metadata))
            else:
                data = self.envelope(comp, pubsub, topic, e.event, e.content_type, merged, trace or Trace())
                out.append(BulkPublishEntry(e.entry_id, data, ce.CLOUDEVENTS_CONTENT_TYPE, e.metadata))
        try:
            return await comp.bulk_publish(topic, out, dict(metadata))
        except Exception as exc:
            return [BulkPublishFailure(e.entry_id, str(exc)) for e in entries]
