"""Delivers a job's trigger to the app: ``POST /job/{name}`` (HTTP apps) or ``OnJobEvent`` (gRPC apps).

A 2xx (or 404 / gRPC NOT_FOUND, which Dapr treats as "nothing to retry") ends the trigger; anything
else, or an unreachable app, makes the scheduler apply the job's failure policy. The app channel
(``AppChannel.job_event``) does the delivery; this module keeps the body an HTTP app gets, and
reports each trigger to the job metrics when the sidecar serves them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from google.protobuf import json_format, struct_pb2
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.appchannel.base import JobTrigger

if TYPE_CHECKING:
    from pydapr.appchannel import AppChannel
    from pydapr.observability.metrics.blocks.jobs import JobMetrics

VALUE_TYPE_URL = "type.googleapis.com/google.protobuf.Value"


def http_body(data: AnyPb) -> bytes:
    """The request body Dapr sends an HTTP app: JSON for data given as JSON, the raw bytes otherwise."""
    if data.type_url == VALUE_TYPE_URL:
        value = struct_pb2.Value()
        data.Unpack(value)
        return str(json_format.MessageToJson(value, indent=None)).encode()
    return bytes(data.value).strip()


class TriggerDelivery:
    """The scheduler client's trigger callback: one job trigger, delivered through the app channel
    (``POST /job/{name}`` or ``OnJobEvent`` with its Alpha1 fallback; see ``pydapr.appchannel``)."""

    def __init__(self, channel: AppChannel, metrics: JobMetrics | None = None) -> None:
        self.channel = channel
        self.metrics = metrics

    async def __call__(self, name: str, data: AnyPb) -> bool:
        """True when the trigger is done with (the scheduler does not send it again)."""
        if self.metrics is None:
            return (await self.channel.job_event(name, data)).done
        started = time.perf_counter()
        try:
            outcome = await self.channel.job_event(name, data)
        except Exception:
            self.metrics.triggered(False, (time.perf_counter() - started) * 1000)
            raise
        # A trigger the app has no handler for is done with, but counts as failed, as in daprd.
        self.metrics.triggered(outcome is JobTrigger.TAKEN, (time.perf_counter() - started) * 1000)
        return outcome.done
