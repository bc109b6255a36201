"""The channel to a gRPC app: the ``AppCallback`` services on one shared ``grpc.aio`` channel.

The app API token goes as ``dapr-api-token`` metadata on every RPC.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import grpc
from dapr.proto.runtime.v1 import appcallback_pb2_grpc
from google.protobuf import any_pb2, empty_pb2

from pydapr import errors
from pydapr.api import app_metadata
from pydapr.api.grpc.wire import common, runtime
from pydapr.http.messages import Headers, Response
from pydapr.invoke import headers as h
from pydapr.invoke.codes import http_status_from_grpc
from pydapr.observability import trace_context
from pydapr.pipeline import Pipeline
from pydapr.resiliency import NOOP, Permanent, Policy
from pydapr.sidecar.options import SidecarOptions

from .base import JOB_TRIGGER_TIMEOUT, AppChannel, BindingReply, JobTrigger

if TYPE_CHECKING:
    from google.protobuf.any_pb2 import Any as AnyPb

    from pydapr.bindings.contract import ReadEvent
    from pydapr.pubsub.bulk import BatchEntry
    from pydapr.pubsub.delivery import Outcome
    from pydapr.pubsub.subscriptions import TopicSubscription

log = logging.getLogger("pydapr.appchannel")

_VERBS = {name: value for name, value in common.HTTPExtension.Verb.items()}


# The call's trace context, read as the RPC is sent (inside the OUTBOUND_APP chain).
with_trace = trace_context.with_grpc_trace


class GrpcAppChannel(AppChannel):
    protocol = "grpc"

    def __init__(self, options: SidecarOptions, pipeline: Pipeline, app_id: str) -> None:
        super().__init__(options, pipeline, app_id)
        self._alpha_jobs_only = False

    def _callback(self) -> appcallback_pb2_grpc.AppCallbackStub:
        return appcallback_pb2_grpc.AppCallbackStub(self.grpc_channel())

    def _callback_alpha(self) -> appcallback_pb2_grpc.AppCallbackAlphaStub:
        return appcallback_pb2_grpc.AppCallbackAlphaStub(self.grpc_channel())

    # --- the blocks' calls ------------------------------------------------------------------------

    async def invoke(self, method: str, verb: str, query: str, headers: Headers, body: bytes) -> Response:
        content_type = headers.get("content-type") or ""
        request = common.InvokeRequest(
            method=method,
            data=any_pb2.Any(value=body),
            content_type=content_type,
            http_extension=common.HTTPExtension(verb=_VERBS.get(verb, _VERBS["POST"]), querystring=query),
        )
        metadata = self.grpc_metadata(h.to_grpc_metadata(headers))

        async def send() -> Any:
            return await self._callback().OnInvoke(request, metadata=with_trace(metadata))

        try:
            reply: Any = await self._call("OnInvoke", send, message=request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise errors.DIRECT_INVOKE(self.app_id, f"app not reachable: {exc.details()}") from exc
            status = http_status_from_grpc(exc.code())
            import msgspec

            payload = msgspec.json.encode(
                {"code": exc.code().value[0], "message": exc.details() or "", "details": []}
            )
            return Response(
                status,
                Headers.from_lowercase(
                    [
                        ("content-type", "application/json"),
                        (h.GRPC_STATUS, str(exc.code().value[0])),
                        (h.GRPC_MESSAGE, exc.details() or ""),
                    ]
                ),
                payload,
            )
        out = Headers()
        if reply.content_type:
            out.add("content-type", reply.content_type)
        return Response(200, out, reply.data.value)

    async def topic_event(
        self,
        sub: TopicSubscription,
        path: str,
        event: dict[str, Any],
        raw: bytes,
        metadata: Mapping[str, str],
    ) -> Outcome:
        from pydapr.pubsub.appcallback import outcome_of, topic_event_request
        from pydapr.pubsub.delivery import AppDeliveryError, Outcome

        # The path as the app listed it: the gRPC SDK looks its handler up by it.
        req = topic_event_request(event, topic=sub.topic, pubsub=sub.pubsub, path=path)
        md = self.grpc_metadata(app_metadata.grpc_metadata(metadata))

        async def send() -> Any:
            return await self._callback().OnTopicEvent(req, metadata=with_trace(md))

        try:
            resp = await self._call("OnTopicEvent", send, message=req)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                # daprd acknowledges the event (no retry, no dead letter).
                log.warning("app does not implement OnTopicEvent; event %s on %s dropped", req.id, sub.topic)
                return Outcome.SUCCESS
            raise AppDeliveryError(exc.details() or str(exc.code())) from exc
        return outcome_of(resp.status)

    async def bulk_topic_event(
        self, sub: TopicSubscription, path: str, entries: list[BatchEntry]
    ) -> dict[str, Outcome]:
        from pydapr.pubsub.appcallback import bulk_entry, outcome_of
        from pydapr.pubsub.bulk import BULK_EVENT_TYPE, PUBSUB_METADATA_KEY
        from pydapr.pubsub.delivery import AppDeliveryError, Outcome

        req = runtime.TopicEventBulkRequest(
            id=str(uuid.uuid4()),
            entries=[
                bulk_entry(
                    e.entry_id,
                    e.raw_payload if e.raw_payload is not None else e.event,
                    e.content_type,
                    e.metadata,
                )
                for e in entries
            ],
            metadata={PUBSUB_METADATA_KEY: sub.pubsub},
            topic=sub.topic,
            pubsub_name=sub.pubsub,
            type=BULK_EVENT_TYPE,
            path=path,
        )
        ids = [e.entry_id for e in entries]
        md = self.grpc_metadata()

        async def send() -> Any:
            try:
                return await self._callback().OnBulkTopicEvent(req, metadata=with_trace(md))
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                return await self._callback_alpha().OnBulkTopicEventAlpha1(req, metadata=with_trace(md))

        try:
            resp = await self._call("OnBulkTopicEvent", send, message=req)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return dict.fromkeys(ids, Outcome.DROP)
            raise AppDeliveryError(exc.details() or str(exc.code())) from exc
        out = dict.fromkeys(ids, Outcome.RETRY)  # an entry without an answer is retried
        for status in resp.statuses:
            if status.entry_id in out:
                out[status.entry_id] = outcome_of(status.status)
        return out

    async def list_subscriptions(self, retry: Policy = NOOP) -> list[TopicSubscription]:
        from pydapr.pubsub.subscriptions import from_app_grpc

        async def send() -> Any:
            try:
                return await self._callback().ListTopicSubscriptions(
                    empty_pb2.Empty(), metadata=self.grpc_metadata(), timeout=10
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise Permanent(exc) from None  # the app answered: not retried
                raise

        try:
            resp = await retry.run(lambda: self._call("ListTopicSubscriptions", send))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                log.warning("ListTopicSubscriptions failed: %s", exc.details())
            return []
        except Exception as exc:
            log.warning("ListTopicSubscriptions failed: %s", exc)
            return []
        return from_app_grpc(resp)

    async def input_bindings(self, routes: Mapping[str, str]) -> set[str]:
        async def send() -> Any:
            return await self._callback().ListInputBindings(
                empty_pb2.Empty(), metadata=self.grpc_metadata(), timeout=10
            )

        try:
            reply = await self._call("ListInputBindings", send)
        except Exception as exc:
            log.warning("ListInputBindings failed: %s", exc)
            return set()
        listed = set(reply.bindings)
        return {name for name in routes if name in listed}

    async def binding_event(self, name: str, route: str, event: ReadEvent) -> BindingReply:
        request = runtime.BindingEventRequest(name=name, data=event.data, metadata=event.metadata)

        async def send() -> Any:
            return await self._callback().OnBindingEvent(
                request, metadata=with_trace(self.grpc_metadata()), timeout=60
            )

        reply = await self._call("OnBindingEvent", send, message=request)
        return BindingReply(
            200,
            bytes(reply.data),
            tuple(reply.to),
            reply.concurrency == runtime.BindingEventResponse.PARALLEL,
        )

    async def job_event(self, name: str, data: AnyPb) -> JobTrigger:
        req = runtime.JobEventRequest(
            name=name,
            data=data,
            method="job/" + name,
            content_type="application/json",
            http_extension=common.HTTPExtension(verb=common.HTTPExtension.POST),
        )
        meta = self.grpc_metadata()

        async def send() -> None:
            stub = self._callback()
            # SDK 1.16's AppCallback protos have no stable OnJobEvent: Alpha1 only there.
            if not self._alpha_jobs_only and hasattr(stub, "OnJobEvent"):
                try:
                    await stub.OnJobEvent(req, metadata=with_trace(meta), timeout=JOB_TRIGGER_TIMEOUT)
                    return
                except grpc.aio.AioRpcError as err:
                    # Apps built before the stable API serve only AppCallbackAlpha.OnJobEventAlpha1.
                    if err.code() != grpc.StatusCode.UNIMPLEMENTED or "Job event handler" in (
                        err.details() or ""
                    ):
                        raise
                    self._alpha_jobs_only = True
            await self._callback_alpha().OnJobEventAlpha1(
                req, metadata=with_trace(meta), timeout=JOB_TRIGGER_TIMEOUT
            )

        try:
            await self._call("OnJobEvent", send, message=req)
            return JobTrigger.TAKEN
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                log.error("job %s: the app answered NOT_FOUND, the trigger is not retried", name)
                return JobTrigger.NO_HANDLER
            log.warning("job %s: the app answered %s: %s", name, err.code().name, err.details())
            return JobTrigger.FAILED

    async def config(self) -> dict[str, Any]:
        return {}  # gRPC apps have no /dapr/config (daprd reads none from them)

    async def health(self, path: str, timeout: float) -> bool:
        async def send() -> Any:
            stub = appcallback_pb2_grpc.AppCallbackHealthCheckStub(self.grpc_channel())
            return await stub.HealthCheck(empty_pb2.Empty(), timeout=timeout, metadata=self.grpc_metadata())

        try:
            await self._call("HealthCheck", send, slot=False)
        except (grpc.aio.AioRpcError, TimeoutError):
            return False
        return True
