"""Pub/sub entries of the error catalog (codes, statuses and messages of dapr pkg/api/errors/pubsub.go)."""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import ErrorKind

S = rpc.StatusCode

PUBSUB_NOT_FOUND = ErrorKind("ERR_PUBSUB_NOT_FOUND", 404, S.INVALID_ARGUMENT, "pubsub {0} not found")
PUBSUB_NOT_CONFIGURED = ErrorKind(
    "ERR_PUBSUB_NOT_CONFIGURED", 400, S.FAILED_PRECONDITION, "pubsub is not configured"
)
PUBSUB_EMPTY = ErrorKind("ERR_PUBSUB_EMPTY", 404, S.INVALID_ARGUMENT, "pubsub name is empty")
TOPIC_EMPTY = ErrorKind("ERR_TOPIC_EMPTY", 404, S.INVALID_ARGUMENT, "topic is empty in pubsub {0}")
PUBSUB_REQUEST_METADATA = ErrorKind(
    "ERR_PUBSUB_REQUEST_METADATA", 400, S.INVALID_ARGUMENT, "failed deserializing metadata. Error: {0}"
)
PUBSUB_PUBLISH_MESSAGE = ErrorKind(
    "ERR_PUBSUB_PUBLISH_MESSAGE", 500, S.INTERNAL, "error when publishing to topic {0} in pubsub {1}: {2}"
)
PUBSUB_FORBIDDEN = ErrorKind(
    "ERR_PUBSUB_FORBIDDEN", 403, S.PERMISSION_DENIED, "topic {0} is not allowed for app id {1}"
)
PUBSUB_CLOUD_EVENTS_SER = ErrorKind(
    "ERR_PUBSUB_CLOUD_EVENTS_SER",
    500,
    S.INVALID_ARGUMENT,
    "error when marshalling cloud event envelope for topic {0} pubsub {1}",
)
PUBSUB_CLOUD_EVENT_CREATION = ErrorKind(
    "ERR_PUBSUB_CLOUD_EVENTS_SER", 500, S.INVALID_ARGUMENT, "cannot create cloudevent: {0}"
)
PUBSUB_EVENTS_SER = ErrorKind(
    "ERR_PUBSUB_EVENTS_SER",
    400,
    S.INVALID_ARGUMENT,
    "error when unmarshaling the request for topic {0} pubsub {1}: {2}",
)
PUBLISH_OUTBOX = ErrorKind(
    "ERR_PUBLISH_OUTBOX", 500, S.INTERNAL, "error while publishing outbox message: {0}"
)
# Streaming subscriptions (SubscribeTopicEventsAlpha1); Dapr returns these as plain errors.
SUBSCRIBE_INVALID = ErrorKind("ERR_PUBSUB_SUBSCRIBE", 400, S.INVALID_ARGUMENT, "{0}")
SUBSCRIBE_DUPLICATE = ErrorKind(
    "ERR_PUBSUB_SUBSCRIBE", 409, S.ALREADY_EXISTS, 'already subscribed to pubsub "{0}" topic "{1}"'
)
