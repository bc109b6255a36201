"""Delivers broker messages to the app: decode, drop expired, route, call the app, retry, dead-letter.

The app's answer is read as Dapr reads it: HTTP 2xx with ``{"status": "SUCCESS"|"RETRY"|"DROP"}``
(empty body = success), 404 = drop, any other status = retry; gRPC ``TopicEventResponse.status``,
UNIMPLEMENTED = acknowledged without a dead letter, other errors = retry. A message still failing
after the retry policy goes to the dead-letter topic if there is one; otherwise the handler raises
and the broker redelivers it. As daprd (pkg/runtime/subscription), an expired event and one no
route matches are dead-lettered too when the subscription has a dead-letter topic.

The app call gets the message's metadata as daprd passes it on: the broker's metadata plus
``content-type`` and ``pubsubName`` (sent as headers / gRPC metadata, see ``api/app_metadata``).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydapr.pubsub import cloudevents as ce
from pydapr.pubsub.contract import Backoff, Handler, Message
from pydapr.pubsub.subscriptions import TopicSubscription

log = logging.getLogger("pydapr.pubsub.delivery")


class Outcome(enum.Enum):
    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    DROP = "DROP"


class AppDeliveryError(Exception):
    """The app could not be reached or failed; the event is retried."""


class SubscriptionClosed(Exception):
    """The subscriber went away (a streaming client disconnected) before answering.

    Not a failure of the event: it is neither retried nor dead-lettered, only left unacknowledged
    so the broker delivers it again to the group's next subscriber.
    """


# daprd's key for the pub/sub name in a delivered message's metadata (pkg/runtime/pubsub).
PUBSUB_NAME_KEY = "pubsubName"
_TRACE_FIELDS = ("traceid", "traceparent", "tracestate")

# (subscription, path, event, raw CloudEvent bytes, message metadata) -> outcome
AppCall = Callable[[TopicSubscription, str, dict[str, Any], bytes, Mapping[str, str]], Awaitable[Outcome]]
# (pubsub, topic, data, content type, metadata) -> None
Republish = Callable[[str, str, bytes, str, dict[str, str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """In-sidecar retries before a message is dead-lettered or handed back to the broker."""

    max_attempts: int = 3
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.1, maximum=2.0))


def outcome_from_http(status: int, body: bytes) -> Outcome:
    if status == 404:
        return Outcome.DROP
    if not 200 <= status < 300:
        return Outcome.RETRY
    if not body.strip():
        return Outcome.SUCCESS
    try:
        answer = json.loads(body)
    except ValueError:
        return Outcome.SUCCESS  # Dapr ignores a non-JSON 2xx body
    value = answer.get("status") if isinstance(answer, dict) else None
    if value is None or value == "":
        return Outcome.SUCCESS
    try:
        return Outcome(str(value).upper())
    except ValueError:
        log.warning("unknown status %r from the app; the event is retried", value)
        return Outcome.RETRY


def decode_event(msg: Message, sub: TopicSubscription) -> tuple[dict[str, Any], bytes]:
    """The CloudEvent for ``msg``: as published, or built around a raw payload.

    Trace context the broker carried in the message's metadata fills what the event lacks (a raw
    payload has none of its own), ``traceparent`` also standing for ``traceid``, as daprd does.
    """
    raw = sub.metadata.get("rawPayload", "").lower() == "true"
    if not raw:
        try:
            event = json.loads(msg.data)
        except ValueError:
            event = None
        if isinstance(event, dict) and "specversion" in event:
            if any(f not in event and f in msg.metadata for f in _TRACE_FIELDS):
                _trace_from_metadata(event, msg.metadata)
                return event, json.dumps(event).encode()
            return event, msg.data
    event = ce.from_raw_payload(msg.data, topic=msg.topic, pubsub=sub.pubsub)
    _trace_from_metadata(event, msg.metadata)
    return event, json.dumps(event).encode()


def _trace_from_metadata(event: dict[str, Any], metadata: Mapping[str, str]) -> None:
    if "traceid" not in event and "traceid" in metadata:
        event["traceid"] = metadata["traceid"]
    if "traceparent" not in event and "traceparent" in metadata:
        event["traceparent"] = event["traceid"] = metadata["traceparent"]
    if "tracestate" not in event and "tracestate" in metadata:
        event["tracestate"] = metadata["tracestate"]


def app_metadata(msg: Message, sub: TopicSubscription) -> dict[str, str]:
    """The metadata daprd hands the app with ``msg``."""
    out = dict(msg.metadata)
    if msg.content_type:
        out["content-type"] = msg.content_type
    out[PUBSUB_NAME_KEY] = sub.pubsub
    return out


class Deliverer:
    def __init__(self, call_app: AppCall, republish: Republish, policy: RetryPolicy | None = None) -> None:
        self.call_app = call_app
        self.republish = republish
        self.policy = policy or RetryPolicy()

    def handler(self, sub: TopicSubscription) -> Handler:
        async def handle(msg: Message) -> None:
            await self.deliver_with_retry(sub, msg)

        return handle

    async def deliver_with_retry(self, sub: TopicSubscription, msg: Message) -> None:
        event, raw = decode_event(msg, sub)
        if ce.has_expired(event):
            log.info("event %s on %s expired; dropped", event.get("id"), sub.topic)
            await self._dead_letter(sub, raw)
            return
        path = sub.route(event)
        if path is None:
            log.warning("no route matches event %s on %s; dropped", event.get("id"), sub.topic)
            await self._dead_letter(sub, raw)
            return
        metadata = app_metadata(msg, sub)
        last = "retry"
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                outcome = await self.call_app(sub, path, event, raw, metadata)
            except AppDeliveryError as exc:
                outcome, last = Outcome.RETRY, str(exc)
            if outcome is Outcome.SUCCESS:
                return
            if outcome is Outcome.DROP:
                log.warning("app dropped event %s on %s", event.get("id"), sub.topic)
                await self._dead_letter(sub, raw)
                return
            if attempt < self.policy.max_attempts:
                await asyncio.sleep(self.policy.backoff.delay(attempt))
        if await self._dead_letter(sub, raw):
            return
        raise AppDeliveryError(f"event {event.get('id')} on {sub.topic} not processed: {last}")

    async def _dead_letter(self, sub: TopicSubscription, raw: bytes) -> bool:
        if not sub.dead_letter_topic:
            return False
        # Published as it came, so the dead-letter subscriber sees the original CloudEvent.
        await self.republish(
            sub.pubsub, sub.dead_letter_topic, raw, ce.CLOUDEVENTS_CONTENT_TYPE, {"rawPayload": "true"}
        )
        return True
