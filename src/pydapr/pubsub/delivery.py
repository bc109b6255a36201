"""Delivers broker messages to the app: decode, drop expired, route, call the app, retry, dead-letter.

The app's answer is read as Dapr reads it: HTTP 2xx with ``{"status": "SUCCESS"|"RETRY"|"DROP"}``
(empty body = success), 404 = drop, any other status = retry; gRPC ``TopicEventResponse.status``,
UNIMPLEMENTED = acknowledged without a dead letter, other errors = retry. As daprd
(pkg/runtime/subscription), an expired event and one no route matches are dead-lettered too when
the subscription has a dead-letter topic.

Retries: each delivery runs through the pipeline's ``Direction.INBOUND_COMPONENT`` chain of the
pub/sub component (Resiliency's ``targets.components.<pubsub>.inbound`` or the
``Default...ComponentInbound...`` defaults), where a RETRY answer or an ``AppDeliveryError`` is a
failure and SUCCESS or DROP a result. When no policy applies, ``DEFAULT_DELIVERY_POLICY`` does:
three attempts in all, 0.1-0.2 s then 0.2-0.4 s apart. A message still failing once the policy is
exhausted (or refused by an open breaker) goes to the dead-letter topic if there is one; otherwise
the handler raises and the broker redelivers it.

The app call gets the message's metadata as daprd passes it on: the broker's metadata plus
``content-type`` and ``pubsubName`` (sent as headers / gRPC metadata, see ``api/app_metadata``).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydapr.pipeline import Call, Direction, Pipeline
from pydapr.pubsub import cloudevents as ce
from pydapr.pubsub.contract import Handler, Message
from pydapr.pubsub.subscriptions import TopicSubscription
from pydapr.resiliency import (
    OPEN_BREAKER_PAUSE,
    CircuitBreakerOpen,
    Failure,
    NotAFailure,
    Policy,
    RetrySchedule,
)

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


# pydapr's own delivery retries when no Resiliency policy governs a pub/sub component's inbound
# calls (daprd has none: it hands a failed message back to the broker at once). Two retries after
# the first attempt, exponential: the waits are 0.1-0.2 s, then 0.2-0.4 s.
DEFAULT_DELIVERY_RETRY = RetrySchedule(
    exponential=True,
    initial_interval=0.15,
    randomization=1 / 3,
    multiplier=2.0,
    max_interval=2.0,
    max_elapsed=None,
    max_retries=2,
)
DEFAULT_DELIVERY_POLICY = Policy(
    name="pydapr pub/sub delivery (default)", direction="inbound", retry=DEFAULT_DELIVERY_RETRY
)
_FAILED = Failure()


def failed_outcome(outcome: Outcome) -> Failure | None:
    """The ``classify`` of a delivery: RETRY is a failure, SUCCESS and DROP are results."""
    return _FAILED if outcome is Outcome.RETRY else None


Attempt = Callable[[], Awaitable[Any]]
Classify = Callable[[Any], Failure | None]


class InboundRunner:
    """Runs deliveries to the app under the pub/sub component's inbound chain when it has one,
    else under ``default``. A ``SubscriptionClosed`` (the subscriber went away) is never retried
    nor counted by a breaker."""

    __slots__ = ("default", "pipeline")

    def __init__(self, pipeline: Pipeline | None, default: Policy) -> None:
        self.pipeline = pipeline
        self.default = default

    async def run(
        self,
        pubsub: str,
        topic: str,
        attempt: Attempt,
        classify: Classify,
        trace: str = "",
        *,
        bulk: bool = False,
        traces: tuple[str, ...] = (),
    ) -> Any:
        """``trace`` is the message's traceparent (the delivery continues the publisher's trace);
        ``bulk``: a batch of messages to a bulk subscription (operation ``bulk deliver <topic>``),
        ``traces`` its entries' traceparents (each entry's delivery continues its publisher's)."""

        async def guarded() -> Any:
            try:
                return await attempt()
            except SubscriptionClosed as exc:
                raise NotAFailure(exc) from None

        pipeline = self.pipeline
        chain = pipeline.chain(Direction.INBOUND_COMPONENT, pubsub) if pipeline is not None else None
        try:
            if chain is None or chain.empty:
                return await self.default.run(guarded, classify=classify)
            operation = f"bulk deliver {topic}" if bulk else f"deliver {topic}"
            call = Call(
                Direction.INBOUND_COMPONENT, pubsub, operation, classify=classify, trace=trace, traces=traces
            )
            if chain.observes_only:
                default = self.default
                return await chain.run(call, lambda: default.run(guarded, classify=classify))
            return await chain.run(call, guarded)
        except NotAFailure as exc:  # an interceptor other than Resiliency let it through
            raise exc.error from None
        except CircuitBreakerOpen:
            # Handed back after a pause: a broker that redelivers at once must not spin on it.
            await asyncio.sleep(OPEN_BREAKER_PAUSE)
            raise


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
    """Delivers one subscription's messages. ``policy`` replaces ``DEFAULT_DELIVERY_POLICY`` (for a
    pub/sub without a Resiliency policy); ``pipeline`` is the sidecar's, whose inbound component
    chain, when not empty, governs the retries instead."""

    def __init__(
        self,
        call_app: AppCall,
        republish: Republish,
        policy: Policy | None = None,
        *,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.call_app = call_app
        self.republish = republish
        self.policy = policy or DEFAULT_DELIVERY_POLICY
        self.pipeline = pipeline
        self._runner = InboundRunner(pipeline, self.policy)

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

        async def attempt() -> Outcome:
            return await self.call_app(sub, path, event, raw, metadata)

        last = "retry"
        try:
            trace = event.get("traceparent")
            outcome = await self._runner.run(
                sub.pubsub, sub.topic, attempt, failed_outcome, trace if isinstance(trace, str) else ""
            )
        except SubscriptionClosed:
            raise
        except Exception as exc:  # the app failed (or a timeout, an open breaker) on the last attempt
            outcome, last = Outcome.RETRY, str(exc) or type(exc).__name__
        if outcome is Outcome.SUCCESS:
            return
        if outcome is Outcome.DROP:
            log.warning("app dropped event %s on %s", event.get("id"), sub.topic)
            await self._dead_letter(sub, raw)
            return
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
