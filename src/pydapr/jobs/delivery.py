"""Delivers a job's trigger to the app: ``POST /job/{name}`` (HTTP apps) or ``OnJobEvent`` (gRPC apps).

A 2xx (or 404, which Dapr treats as "nothing to retry") ends the trigger; anything else, or an
unreachable app, makes the scheduler apply the job's failure policy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import grpc
from google.protobuf import json_format, struct_pb2
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.api.grpc.wire import common, runtime
from pydapr.http.client import HttpClientError
from pydapr.http.messages import Headers

if TYPE_CHECKING:
    from pydapr.sidecar.app_channel import AppChannel

log = logging.getLogger("pydapr.jobs")

VALUE_TYPE_URL = "type.googleapis.com/google.protobuf.Value"
TRIGGER_TIMEOUT = 30.0


def http_body(data: AnyPb) -> bytes:
    """The request body Dapr sends an HTTP app: JSON for data given as JSON, the raw bytes otherwise."""
    if data.type_url == VALUE_TYPE_URL:
        value = struct_pb2.Value()
        data.Unpack(value)
        return str(json_format.MessageToJson(value, indent=None)).encode()
    return bytes(data.value).strip()


class TriggerDelivery:
    def __init__(self, channel: AppChannel) -> None:
        self.channel = channel
        self._alpha_only = False

    async def __call__(self, name: str, data: AnyPb) -> bool:
        if self.channel.protocol == "grpc":
            return await self._grpc(name, data)
        return await self._http(name, data)

    async def _http(self, name: str, data: AnyPb) -> bool:
        headers = Headers.from_lowercase([("content-type", "application/json")])
        try:
            resp = await self.channel.http(
                "POST",
                "/job/" + name.lstrip("/"),
                headers=headers,
                body=http_body(data),
                timeout=TRIGGER_TIMEOUT,
            )
        except HttpClientError as exc:
            log.warning("job %s: the app could not be reached: %s", name, exc)
            return False
        if 200 <= resp.status < 300:
            return True
        if resp.status == 404:
            log.error("job %s: the app answered 404, the trigger is not retried", name)
            return True
        log.warning("job %s: the app answered %d", name, resp.status)
        return False

    async def _grpc(self, name: str, data: AnyPb) -> bool:
        req = runtime.JobEventRequest(
            name=name,
            data=data,
            method="job/" + name,
            content_type="application/json",
            http_extension=common.HTTPExtension(verb=common.HTTPExtension.POST),
        )
        meta = self.channel.grpc_metadata()
        try:
            async with self.channel.slot():
                stub = self.channel.callback_stub()
                # SDK 1.16's AppCallback protos have no stable OnJobEvent: Alpha1 only there.
                if not self._alpha_only and hasattr(stub, "OnJobEvent"):
                    try:
                        await stub.OnJobEvent(
                            req, metadata=meta, timeout=TRIGGER_TIMEOUT
                        )
                        return True
                    except grpc.aio.AioRpcError as err:
                        # Apps built before the stable API serve only AppCallbackAlpha.OnJobEventAlpha1.
                        if err.code() != grpc.StatusCode.UNIMPLEMENTED or "Job event handler" in (
                            err.details() or ""
                        ):
                            raise
                        self._alpha_only = True
                await self.channel.callback_alpha_stub().OnJobEventAlpha1(
                    req, metadata=meta, timeout=TRIGGER_TIMEOUT
                )
                return True
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return True
            log.warning("job %s: the app answered %s: %s", name, err.code().name, err.details())
            return False
