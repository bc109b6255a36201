"""The gRPC app channel against a real gRPC app (grpc.aio serving AppCallback) started in the test:
every method, the error mapping of OnInvoke, the Alpha1 fallbacks, the OUTBOUND_APP chain, the
token and the concurrency limit."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from dapr.proto.runtime.v1 import appcallback_pb2_grpc
from google.protobuf import any_pb2
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr import errors
from pydapr.api.grpc.wire import common, runtime
from pydapr.appchannel import AppChannel, JobTrigger, create_app_channel
from pydapr.bindings.contract import ReadEvent
from pydapr.http.client import HttpClient
from pydapr.http.messages import Headers
from pydapr.pipeline import Direction, Pipeline
from pydapr.pubsub.bulk import BatchEntry
from pydapr.pubsub.delivery import AppDeliveryError, Outcome
from pydapr.pubsub.subscriptions import TopicSubscription

from .conftest import Recorder, options, until


class Callback(appcallback_pb2_grpc.AppCallbackServicer):
    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []
        self.rpcs: list[str] = []
        self.in_flight = 0
        self.release = asyncio.Event()
        self.healthy = True

    def _seen(self, rpc: str, context: Any) -> None:
        self.rpcs.append(rpc)
        self.metadata.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})

    async def OnInvoke(self, request: Any, context: Any) -> Any:
        self._seen("OnInvoke", context)
        if request.method == "slow":
            self.in_flight += 1
            try:
                await self.release.wait()
            finally:
                self.in_flight -= 1
        if request.method == "missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such method")
        body = json.dumps(
            {
                "method": request.method,
                "verb": common.HTTPExtension.Verb.Name(request.http_extension.verb),
                "query": request.http_extension.querystring,
                "data": request.data.value.decode(),
                "content_type": request.content_type,
            }
        ).encode()
        return common.InvokeResponse(data=any_pb2.Any(value=body), content_type="application/json")

    async def ListTopicSubscriptions(self, request: Any, context: Any) -> Any:
        self._seen("ListTopicSubscriptions", context)
        return runtime.ListTopicSubscriptionsResponse(
            subscriptions=[runtime.TopicSubscription(pubsub_name="ps", topic="orders")]
        )

    async def OnTopicEvent(self, request: Any, context: Any) -> Any:
        self._seen("OnTopicEvent", context)
        status = (
            runtime.TopicEventResponse.RETRY
            if request.path == "retry"
            else runtime.TopicEventResponse.SUCCESS
        )
        return runtime.TopicEventResponse(status=status)

    async def ListInputBindings(self, request: Any, context: Any) -> Any:
        self._seen("ListInputBindings", context)
        return runtime.ListInputBindingsResponse(bindings=["a", "b"])

    async def OnBindingEvent(self, request: Any, context: Any) -> Any:
        self._seen("OnBindingEvent", context)
        return runtime.BindingEventResponse(
            data=b"reply:" + request.data,
            to=["out1", "out2"],
            concurrency=runtime.BindingEventResponse.PARALLEL,
        )

    async def OnJobEvent(self, request: Any, context: Any) -> Any:
        self._seen("OnJobEvent", context)
        if request.name == "gone":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no job")
        if request.name == "broken":
            await context.abort(grpc.StatusCode.INTERNAL, "failed")
        return runtime.JobEventResponse()


class AlphaOnly(appcallback_pb2_grpc.AppCallbackAlphaServicer):
    """An app built before the stable job and bulk RPCs."""

    def __init__(self, rpcs: list[str]) -> None:
        self.rpcs = rpcs

    async def OnJobEventAlpha1(self, request: Any, context: Any) -> Any:
        self.rpcs.append(f"OnJobEventAlpha1:{request.name}")
        return runtime.JobEventResponse()

    async def OnBulkTopicEventAlpha1(self, request: Any, context: Any) -> Any:
        self.rpcs.append("OnBulkTopicEventAlpha1")
        return runtime.TopicEventBulkResponse(
            statuses=[
                runtime.TopicEventBulkResponseEntry(
                    entry_id=e.entry_id, status=runtime.TopicEventResponse.SUCCESS
                )
                for e in request.entries[:1]
            ]
        )


class Health(appcallback_pb2_grpc.AppCallbackHealthCheckServicer):
    def __init__(self, callback: Callback) -> None:
        self.callback = callback

    async def HealthCheck(self, request: Any, context: Any) -> Any:
        if not self.callback.healthy:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "sick")
        return runtime.HealthCheckResponse()


class OnlyAlphaJobs(Callback):
    async def OnJobEvent(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")

    async def OnBulkTopicEvent(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")


async def _serve(callback: Callback) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    appcallback_pb2_grpc.add_AppCallbackServicer_to_server(callback, server)  # type: ignore[no-untyped-call]
    appcallback_pb2_grpc.add_AppCallbackAlphaServicer_to_server(AlphaOnly(callback.rpcs), server)  # type: ignore[no-untyped-call]
    appcallback_pb2_grpc.add_AppCallbackHealthCheckServicer_to_server(Health(callback), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def app() -> AsyncIterator[tuple[Callback, int]]:
    callback = Callback()
    server, port = await _serve(callback)
    try:
        yield callback, port
    finally:
        callback.release.set()
        await server.stop(0)


def _channel(port: int, pipeline: Pipeline, concurrency: int = -1) -> AppChannel:
    return create_app_channel(options(port, "grpc", concurrency), HttpClient(), pipeline, "me")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_invoke_as_on_invoke(
    app: tuple[Callback, int], pipeline: Pipeline, recorder: Recorder, no_token: None
) -> None:
    callback, port = app
    channel = _channel(port, pipeline)
    try:
        headers = Headers([("content-type", "text/plain"), ("x-one", "1")])
        resp = await channel.invoke("echo", "PUT", "a=1", headers, b"hi")
        got = json.loads(resp.body)
        assert resp.status == 200 and resp.headers.get("content-type") == "application/json"
        assert got == {
            "method": "echo",
            "verb": "PUT",
            "query": "a=1",
            "data": "hi",
            "content_type": "text/plain",
        }
        assert callback.metadata[-1]["x-one"] == "1"
        # A gRPC error is an answer with the gRPC status in headers.
        missing = await channel.invoke("missing", "GET", "", Headers(), b"")
        assert missing.status == 404
        assert (
            missing.headers.get("grpc-status") == "5"
            and missing.headers.get("grpc-message") == "no such method"
        )
        assert json.loads(missing.body) == {"code": 5, "message": "no such method", "details": []}
        assert [(c.direction, c.operation) for c in recorder.calls] == [
            (Direction.OUTBOUND_APP, "OnInvoke")
        ] * 2
    finally:
        await channel.close()


async def test_unreachable_app_is_direct_invoke(no_token: None) -> None:
    channel = _channel(_free_port(), Pipeline())
    try:
        with pytest.raises(errors.DaprError) as err:
            await channel.invoke("echo", "GET", "", Headers(), b"")
        assert err.value.code == errors.DIRECT_INVOKE.code and "app not reachable" in str(err.value)
        assert await channel.health("", 0.5) is False
        assert await channel.list_subscriptions() == []
        assert await channel.input_bindings({"a": "a"}) == set()
        with pytest.raises(AppDeliveryError):
            await channel.topic_event(TopicSubscription("ps", "t"), "p", {"id": "1"}, b"{}", {})
        assert await channel.job_event("ok", AnyPb()) is JobTrigger.FAILED
    finally:
        await channel.close()


async def test_token_as_metadata(app: tuple[Callback, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_API_TOKEN", "s3cret")
    callback, port = app
    channel = _channel(port, Pipeline())
    try:
        await channel.invoke("echo", "GET", "", Headers(), b"")
        await channel.list_subscriptions()
        await channel.binding_event("a", "a", ReadEvent(b"x"))
        assert [m.get("dapr-api-token") for m in callback.metadata] == ["s3cret"] * 3
        assert channel.grpc_proxy()[1] == (("dapr-api-token", "s3cret"),)
    finally:
        await channel.close()


async def test_pubsub_bindings_jobs_config_health(app: tuple[Callback, int], no_token: None) -> None:
    callback, port = app
    channel = _channel(port, Pipeline())
    try:
        sub = TopicSubscription("ps", "orders")
        assert [(s.pubsub, s.topic) for s in await channel.list_subscriptions()] == [("ps", "orders")]
        assert await channel.topic_event(sub, "orders", {"id": "1"}, b"{}", {}) is Outcome.SUCCESS
        assert await channel.topic_event(sub, "retry", {"id": "2"}, b"{}", {}) is Outcome.RETRY
        entries = [BatchEntry("e1", {"id": "1"}, b"{}", "application/json", {})]
        # Bulk: the stable RPC is not implemented (the base servicer): the Alpha1 one answers.
        assert await channel.bulk_topic_event(sub, "orders", entries) == {"e1": Outcome.SUCCESS}
        assert "OnBulkTopicEventAlpha1" in callback.rpcs
        assert await channel.input_bindings({"a": "a", "c": "c"}) == {"a"}
        reply = await channel.binding_event("a", "a", ReadEvent(b"x", {"k": "v"}))
        assert (reply.status, reply.data, reply.to, reply.parallel) == (
            200,
            b"reply:x",
            ("out1", "out2"),
            True,
        )
        assert await channel.job_event("ok", AnyPb()) is JobTrigger.TAKEN
        assert await channel.job_event("gone", AnyPb()) is JobTrigger.NO_HANDLER  # NOT_FOUND: not retried
        assert await channel.job_event("broken", AnyPb()) is JobTrigger.FAILED
        assert await channel.config() == {}  # gRPC apps have no /dapr/config
        assert await channel.health("/ignored", 1.0) is True
        callback.healthy = False
        assert await channel.health("/ignored", 1.0) is False
    finally:
        await channel.close()


async def test_jobs_and_bulk_fall_back_to_alpha1(no_token: None) -> None:
    callback = OnlyAlphaJobs()
    server, port = await _serve(callback)
    channel = _channel(port, Pipeline())
    try:
        assert await channel.job_event("report", AnyPb()) is JobTrigger.TAKEN
        assert await channel.job_event("again", AnyPb()) is JobTrigger.TAKEN  # Alpha1 at once from now on
        entries = [BatchEntry("e1", {}, b"{}", "", {}), BatchEntry("e2", {}, b"{}", "", {})]
        got = await channel.bulk_topic_event(TopicSubscription("ps", "t"), "p", entries)
        assert got == {"e1": Outcome.SUCCESS, "e2": Outcome.RETRY}  # an entry without an answer is retried
        assert [r for r in callback.rpcs if r.startswith("OnJob")] == [
            "OnJobEventAlpha1:report",
            "OnJobEventAlpha1:again",
        ]
    finally:
        await channel.close()
        await server.stop(0)


async def test_unimplemented_topic_event_is_acknowledged(no_token: None) -> None:
    server = grpc.aio.server()
    appcallback_pb2_grpc.add_AppCallbackServicer_to_server(appcallback_pb2_grpc.AppCallbackServicer(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = _channel(port, Pipeline())
    try:
        sub = TopicSubscription("ps", "t")
        assert await channel.topic_event(sub, "p", {"id": "1"}, b"{}", {}) is Outcome.SUCCESS
        entries = [BatchEntry("e1", {}, b"{}", "", {})]
        assert await channel.bulk_topic_event(sub, "p", entries) == {"e1": Outcome.DROP}
        assert await channel.list_subscriptions() == []
    finally:
        await channel.close()
        await server.stop(0)


async def test_max_concurrency_holds_the_extra_call(app: tuple[Callback, int], no_token: None) -> None:
    callback, port = app
    channel = _channel(port, Pipeline(), concurrency=2)
    try:
        calls = [asyncio.create_task(channel.invoke("slow", "GET", "", Headers(), b"")) for _ in range(3)]
        await until(lambda: callback.in_flight == 2)
        await asyncio.sleep(0.3)
        assert callback.in_flight == 2 and callback.rpcs.count("OnInvoke") == 2  # the third waits
        callback.release.set()
        async with asyncio.timeout(5):
            done = await asyncio.gather(*calls)
        assert [r.status for r in done] == [200, 200, 200] and callback.rpcs.count("OnInvoke") == 3
    finally:
        await channel.close()
