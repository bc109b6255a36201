"""``dapr_error_code_total``: every Dapr error code the APIs answer with, when the Configuration's
``spec.metric.recordErrorCodes`` is true (daprd: pkg/diagnostics/errorcode_monitoring.go).

daprd counts an error at the point its API renders it (HTTP responses, gRPC interceptors), with the
code's category from its catalog (pkg/messages/errorcodes). pydapr does the same from the places a
``DaprError`` becomes an answer: ``observe`` is called there, once per answered error, and costs one
check when recording is off. A code daprd's catalog does not list (pydapr names a few errors daprd
answers without a catalog code) is counted in the category of the API that returns it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pydapr.errors import DaprError

if TYPE_CHECKING:
    from .blocks._series import Counter


@functools.cache
def _series() -> Counter:
    # Made by the first sidecar that records error codes: the transports import this module, and a
    # sidecar without metrics must not pay for prometheus_client at startup for it.
    from .blocks._series import counter

    return counter(
        "dapr_error_code_total",
        "Total number of times an error with a specific error code was encountered.",
        ("app_id", "error_code", "category"),
    )


# daprd's catalog: category -> codes.
_DAPR = {
    "actor": (
        "ERR_ACTOR_INSTANCE_MISSING",
        "ERR_ACTOR_INVOKE_METHOD",
        "ERR_ACTOR_NAMESPACE_REQUIRED",
        "ERR_ACTOR_NO_ADDRESS",
        "ERR_ACTOR_NO_APP_CHANNEL",
        "ERR_ACTOR_NO_PLACEMENT",
        "ERR_ACTOR_REMINDER_ALREADY_EXISTS",
        "ERR_ACTOR_REMINDER_CREATE",
        "ERR_ACTOR_REMINDER_DELETE",
        "ERR_ACTOR_REMINDER_GET",
        "ERR_ACTOR_REMINDER_NON_HOSTED",
        "ERR_ACTOR_REMINDER_NOT_FOUND",
        "ERR_ACTOR_RUNTIME_CLOSED",
        "ERR_ACTOR_RUNTIME_NOT_FOUND",
        "ERR_ACTOR_STACK_DEPTH",
        "ERR_ACTOR_STATE_GET",
        "ERR_ACTOR_STATE_TRANSACTION_SAVE",
        "ERR_ACTOR_TIMER_CREATE",
        "ERR_ACTOR_TYPE_RESERVED",
    ),
    "binding": ("ERR_INVOKE_OUTPUT_BINDING",),
    "common": (
        "ERROR",
        "ERR_API_UNIMPLEMENTED",
        "ERR_APP_CHANNEL_NIL",
        "ERR_BAD_REQUEST",
        "ERR_BODY_READ",
        "ERR_INTERNAL",
        "ERR_MALFORMED_REQUEST",
        "ERR_MALFORMED_REQUEST_DATA",
        "ERR_MALFORMED_RESPONSE",
    ),
    "configuration": (
        "ERR_CONFIGURATION_GET",
        "ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
        "ERR_CONFIGURATION_STORE_NOT_FOUND",
        "ERR_CONFIGURATION_SUBSCRIBE",
        "ERR_CONFIGURATION_UNSUBSCRIBE",
    ),
    "conversation": (
        "ERR_CONVERSATION_INVALID_PARMS",
        "ERR_CONVERSATION_INVOKE",
        "ERR_CONVERSATION_MISSING_INPUTS",
        "ERR_CONVERSATION_NOT_FOUND",
    ),
    "crypto": (
        "ERR_CRYPTO",
        "ERR_CRYPTO_KEY",
        "ERR_CRYPTO_PROVIDERS_NOT_CONFIGURED",
        "ERR_CRYPTO_PROVIDER_NOT_FOUND",
    ),
    "health": (
        "ERR_HEALTH_APPID_NOT_MATCH",
        "ERR_HEALTH_NOT_READY",
        "ERR_OUTBOUND_HEALTH_NOT_READY",
    ),
    "job": (
        "DAPR_SCHEDULER_DELETE_JOB",
        "DAPR_SCHEDULER_EMPTY",
        "DAPR_SCHEDULER_GET_JOB",
        "DAPR_SCHEDULER_JOB_NAME",
        "DAPR_SCHEDULER_JOB_NAME_EMPTY",
        "DAPR_SCHEDULER_LIST_JOBS",
        "DAPR_SCHEDULER_SCHEDULE_EMPTY",
        "DAPR_SCHEDULER_SCHEDULE_JOB",
    ),
    "lock": (
        "ERR_LOCK_STORE_NOT_CONFIGURED",
        "ERR_LOCK_STORE_NOT_FOUND",
        "ERR_TRY_LOCK",
        "ERR_UNLOCK",
    ),
    "pubsub": (
        "ERR_PUBLISH_OUTBOX",
        "ERR_PUBSUB_CLOUD_EVENTS_SER",
        "ERR_PUBSUB_EMPTY",
        "ERR_PUBSUB_EVENTS_SER",
        "ERR_PUBSUB_FORBIDDEN",
        "ERR_PUBSUB_NOT_CONFIGURED",
        "ERR_PUBSUB_NOT_FOUND",
        "ERR_PUBSUB_PUBLISH_MESSAGE",
        "ERR_PUBSUB_REQUEST_METADATA",
        "ERR_TOPIC_NAME_EMPTY",
    ),
    "secret": (
        "ERR_PERMISSION_DENIED",
        "ERR_SECRET_GET",
        "ERR_SECRET_STORES_NOT_CONFIGURED",
        "ERR_SECRET_STORE_NOT_FOUND",
    ),
    "service-invocation": ("ERR_DIRECT_INVOKE",),
    "state": (
        "ERR_MALFORMED_REQUEST",
        "ERR_NOT_SUPPORTED_STATE_OPERATION",
        "ERR_STATE_BULK_DELETE",
        "ERR_STATE_BULK_GET",
        "ERR_STATE_DELETE",
        "ERR_STATE_GET",
        "ERR_STATE_QUERY",
        "ERR_STATE_SAVE",
        "ERR_STATE_STORE_NOT_CONFIGURED",
        "ERR_STATE_STORE_NOT_FOUND",
        "ERR_STATE_STORE_NOT_SUPPORTED",
        "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS",
        "ERR_STATE_TRANSACTION",
    ),
    "workflow": (
        "ERR_GET_WORKFLOW",
        "ERR_INSTANCE_ID_INVALID",
        "ERR_INSTANCE_ID_NOT_FOUND",
        "ERR_INSTANCE_ID_PROVIDED_MISSING",
        "ERR_INSTANCE_ID_TOO_LONG",
        "ERR_PAUSE_WORKFLOW",
        "ERR_PURGE_WORKFLOW",
        "ERR_RAISE_EVENT_WORKFLOW",
        "ERR_RESUME_WORKFLOW",
        "ERR_START_WORKFLOW",
        "ERR_TERMINATE_WORKFLOW",
        "ERR_WORKFLOW_APP_ID_INVALID",
        "ERR_WORKFLOW_COMPONENT_MISSING",
        "ERR_WORKFLOW_COMPONENT_NOT_FOUND",
        "ERR_WORKFLOW_EVENT_NAME_MISSING",
        "ERR_WORKFLOW_NAME_MISSING",
    ),
}
# pydapr's own codes, by the API that answers them.
_PYDAPR = {
    "common": (
        "ERR_API_DENIED",
        "ERR_METADATA_GET",
        "ERR_METHOD_NOT_ALLOWED",
        "ERR_NOT_FOUND",
        "ERR_UNAUTHORIZED",
    ),
    "health": ("ERR_APP_UNHEALTHY",),
    "job": (
        "ERR_SCHEDULER_DELETE_JOB",
        "ERR_SCHEDULER_GET_JOB",
        "ERR_SCHEDULER_LIST_JOBS",
        "ERR_SCHEDULER_SCHEDULE_JOB",
    ),
    "lock": (
        "ERR_EXPIRY_NOT_POSITIVE",
        "ERR_LOCK_NOT_CONFIGURED",
        "ERR_LOCK_NOT_FOUND",
        "ERR_OWNER_EMPTY",
        "ERR_RESOURCE_ID_EMPTY",
    ),
    "pubsub": (
        "ERR_PUBSUB_SUBSCRIBE",
        "ERR_TOPIC_EMPTY",
    ),
    "state": ("ERR_STATE_LIST_KEYS",),
    "workflow": ("ERR_WORKFLOW_RUNTIME",),
}
CATEGORY = {
    code: category for table in (_DAPR, _PYDAPR) for category, codes in table.items() for code in codes
}

_recording: tuple[str, Counter] | None = None  # (app id, series) while a sidecar records error codes


def record_error_codes(app_id: str | None) -> None:
    """Start (an app id) or stop (None) counting the errors the APIs answer with."""
    global _recording
    _recording = (app_id, _series()) if app_id is not None else None


def observe(err: DaprError) -> None:
    """One error answered by an API."""
    if _recording is None:
        return
    app_id, counts = _recording
    counts.inc((app_id, err.code, CATEGORY.get(err.code, "common")))
