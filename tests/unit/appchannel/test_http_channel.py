"""The HTTP app channel against a real HTTP app (the project's own HttpServer) started in the test:
every method, error mapping, appHttpPipeline, the OUTBOUND_APP chain, the token and the
concurrency limit."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.protobuf import struct_pb2
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr import errors
from pydapr.appchannel import AppChannel, JobTrigger, create_app_channel
from pydapr.bindings.contract import ReadEvent
from pydapr.http.client import HttpClient, HttpClientError
from pydapr.http.messages import Headers, Request, Response
from pydapr.http.server import HttpServer
from pydapr.middleware.contract import Handler
from pydapr.pipeline import JOB_TRIGGER, Direction, Pipeline
from pydapr.pubsub.bulk import BatchEntry
from pydapr.pubsub.delivery import AppDeliveryError, Outcome
from pydapr.pubsub.subscriptions import TopicSubscription
from pydapr.resiliency import Policy, RetrySchedule

from .conftest import Recorder, options, until


def _json(value: Any) -> Response:
    return Response.json(json.dumps(value).encode())


class App:
    """A tiny HTTP app: records what it got, answers by path."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = asyncio.Event()
        self.healthy = True

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        path = req.path
        if path == "/slow":
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await self.release.wait()
            finally:
                self.in_flight -= 1
            return Response(200, Headers(), b"done")
        if path == "/dapr/config":
            return _json({"entities": ["a"], "drainOngoingCallTimeout": "1s"})
        if path == "/dapr/subscribe":
            return _json([{"pubsubname": "ps", "topic": "orders", "route": "/orders"}])
        if path == "/healthz":
            return Response(200 if self.healthy else 503, Headers(), b"")
        if req.method == "OPTIONS":
            status = {"/in-yes": 200, "/in-post-only": 405}.get(path, 404)
            return Response(status, Headers(), b"")
        if path == "/orders":
            return _json({"status": "SUCCESS"})
        if path == "/orders-retry":
            return _json({"status": "RETRY"})
        if path == "/bulk":
            entries = json.loads(req.body)["entries"]
            return _json({"statuses": [{"entryId": e["entryId"], "status": "SUCCESS"} for e in entries]})
        if path.startswith("/job/"):
            status = {"/job/ok": 200, "/job/gone": 404}.get(path, 500)
            return Response(status, Headers(), b"")
        if path == "/binding-fail":
            return Response(500, Headers(), b"no")
        body = json.dumps(
            {
                "method": req.method,
                "path": path,
                "query": req.query,
                "headers": dict(req.headers.items()),
                "body": req.body.decode(),
            }
        ).encode()
        return Response(200, Headers([("content-type", "application/json")]), body)


@pytest.fixture
async def app() -> AsyncIterator[tuple[App, int]]:
    handler = App()
    server = await HttpServer.start(handler, host="127.0.0.1", port=0)
    try:
        yield handler, server.port
    finally:
        handler.release.set()
        await server.shutdown(1.0)


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    c = HttpClient()
    try:
        yield c
    finally:
        await c.close()


def _channel(port: int, client: HttpClient, pipeline: Pipeline, **kw: Any) -> AppChannel:
    concurrency = kw.pop("concurrency", -1)
    return create_app_channel(options(port, "http", concurrency), client, pipeline, "me", **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_invoke_sends_verb_path_query_headers_body(
    app: tuple[App, int], client: HttpClient, pipeline: Pipeline, recorder: Recorder, no_token: None
) -> None:
    _, port = app
    channel = _channel(port, client, pipeline)
    headers = Headers([("content-type", "text/plain"), ("x-one", "1")])
    resp = await channel.invoke("echo/deep", "PUT", "a=1&b=2", headers, b"hello")
    got = json.loads(resp.body)
    assert resp.status == 200
    assert (got["method"], got["path"], got["query"], got["body"]) == (
        "PUT",
        "/echo/deep",
        "a=1&b=2",
        "hello",
    )
    assert got["headers"]["x-one"] == "1" and "dapr-api-token" not in got["headers"]
    # One Call per app call on the OUTBOUND_APP chain, named by the path.
    assert [(c.direction, c.target, c.operation) for c in recorder.calls] == [
        (Direction.OUTBOUND_APP, "me", "/echo/deep")
    ]


async def test_a_job_trigger_has_its_own_target_on_the_outbound_app_chain(
    app: tuple[App, int], client: HttpClient, pipeline: Pipeline, recorder: Recorder, no_token: None
) -> None:
    _, port = app
    channel = _channel(port, client, pipeline)
    data = AnyPb()
    data.Pack(struct_pb2.Value(string_value="go"))
    assert await channel.job_event("ok", data) is JobTrigger.TAKEN
    await channel.invoke("job", "GET", "", Headers(), b"")  # a method named job is no trigger
    assert [(c.target, c.operation) for c in recorder.calls] == [(JOB_TRIGGER, "/job/ok"), ("me", "/job")]


async def test_invoke_of_an_unreachable_app_is_direct_invoke(client: HttpClient, no_token: None) -> None:
    channel = _channel(_free_port(), client, Pipeline())
    with pytest.raises(errors.DaprError) as err:
        await channel.invoke("echo", "GET", "", Headers(), b"")
    assert err.value.code == errors.DIRECT_INVOKE.code
    assert "app not reachable on its port" in str(err.value)


async def test_the_token_goes_on_every_request(
    app: tuple[App, int], client: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_API_TOKEN", "s3cret")
    handler, port = app
    channel = _channel(port, client, Pipeline())
    await channel.invoke("echo", "GET", "", Headers(), b"")
    await channel.config()
    await channel.health("/healthz", 1.0)
    assert [r.headers.get("dapr-api-token") for r in handler.seen] == ["s3cret"] * 3


async def test_app_http_pipeline_wraps_every_request(
    app: tuple[App, int], client: HttpClient, no_token: None
) -> None:
    handler, port = app
    order: list[str] = []

    def tag(name: str) -> Any:
        async def middleware(req: Request, call_next: Handler) -> Response:
            order.append(name)
            req.headers.set(f"x-{name}", "yes")
            resp = await call_next(req)
            resp.headers.set(f"x-after-{name}", "yes")
            return resp

        return middleware

    async def refuse(req: Request, call_next: Handler) -> Response:
        if req.path == "/forbidden":
            return Response(401, Headers(), b"refused by middleware")
        return await call_next(req)

    channel = _channel(port, client, Pipeline(), http_middlewares=[tag("first"), tag("second"), refuse])
    resp = await channel.invoke("echo", "POST", "", Headers(), b"x")
    got = json.loads(resp.body)
    assert order == ["first", "second"]
    assert got["headers"]["x-first"] == got["headers"]["x-second"] == "yes"
    assert resp.headers.get("x-after-first") == "yes"
    refused = await channel.invoke("forbidden", "GET", "", Headers(), b"")
    assert (refused.status, refused.body) == (401, b"refused by middleware")
    assert [r.path for r in handler.seen] == ["/echo"]  # the refused request never reached the app
    # The timeout of a request still applies behind the middlewares.
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(HttpClientError):
        await channel.request("GET", "/slow", timeout=0.2)
    assert loop.time() - started < 2
    # Probes and GET /dapr/config are the sidecar's own: daprd sends them outside appHttpPipeline.
    order.clear()
    assert await channel.health("/healthz", 1.0) is True
    assert (await channel.config())["entities"] == ["a"]
    assert order == []


async def test_topic_events(app: tuple[App, int], client: HttpClient, no_token: None) -> None:
    handler, port = app
    channel = _channel(port, client, Pipeline())
    sub = TopicSubscription("ps", "orders")
    event = {"id": "1", "traceparent": "00-abc-def-01", "data": {"n": 1}}
    outcome = await channel.topic_event(sub, "orders", event, b'{"id":"1"}', {"pubsubname": "ps"})
    assert outcome is Outcome.SUCCESS
    req = handler.seen[-1]
    assert req.headers.get("content-type") == "application/cloudevents+json"
    assert req.headers.get("traceparent") == "00-abc-def-01" and req.headers.get("pubsubname") == "ps"
    assert await channel.topic_event(sub, "/orders-retry", event, b"{}", {}) is Outcome.RETRY
    entries = [
        BatchEntry("e1", {"id": "1"}, b"{}", "application/json", {}),
        BatchEntry("e2", {}, b"{}", "", {}),
    ]
    sub_bulk = TopicSubscription("ps", "orders")
    assert await channel.bulk_topic_event(sub_bulk, "bulk", entries) == {
        "e1": Outcome.SUCCESS,
        "e2": Outcome.SUCCESS,
    }
    down = _channel(_free_port(), client, Pipeline())
    with pytest.raises(AppDeliveryError):
        await down.topic_event(sub, "orders", event, b"{}", {})
    with pytest.raises(AppDeliveryError):
        await down.bulk_topic_event(sub, "bulk", entries)


async def test_subscriptions_config_bindings_jobs_health(
    app: tuple[App, int], client: HttpClient, no_token: None
) -> None:
    handler, port = app
    channel = _channel(port, client, Pipeline())
    subs = await channel.list_subscriptions()
    assert [(s.pubsub, s.topic) for s in subs] == [("ps", "orders")]
    assert await channel.config() == {"entities": ["a"], "drainOngoingCallTimeout": "1s"}
    wanted = await channel.input_bindings({"a": "in-yes", "b": "in-post-only", "c": "nothing-here"})
    assert wanted == {"a", "b"}
    assert [r.method for r in handler.seen[-3:]] == ["OPTIONS"] * 3
    reply = await channel.binding_event("a", "in-yes", ReadEvent(b'{"x":1}', {"k": "v"}))
    assert reply.status == 200  # the echo route: the request is in the reply
    sent = json.loads(reply.data)
    assert (sent["method"], sent["path"], sent["headers"]["content-type"], sent["headers"]["k"]) == (
        "POST",
        "/in-yes",
        "application/json",
        "v",
    )
    failed = await channel.binding_event("a", "binding-fail", ReadEvent(b"{}", {}))
    assert (failed.status, failed.to) == (500, ())
    value = struct_pb2.Value(string_value="go")
    data = AnyPb()
    data.Pack(value)
    assert await channel.job_event("ok", data) is JobTrigger.TAKEN
    assert json.loads(handler.seen[-1].body) == "go"  # JSON data reaches the app as JSON
    assert await channel.job_event("gone", data) is JobTrigger.NO_HANDLER  # 404: nothing to retry
    assert await channel.job_event("broken", data) is JobTrigger.FAILED
    assert await channel.health("/healthz", 1.0) is True
    handler.healthy = False
    assert await channel.health("/healthz", 1.0) is False
    down = _channel(_free_port(), client, Pipeline())
    assert await down.health("/healthz", 0.5) is False
    assert await down.config() == {}
    assert await down.list_subscriptions() == []
    assert await down.input_bindings({"a": "in-yes"}) == set()
    assert await down.job_event("ok", data) is JobTrigger.FAILED
    with pytest.raises(HttpClientError):
        await down.binding_event("a", "in-yes", ReadEvent())


async def test_subscriptions_are_read_again_while_the_app_is_not_up(
    client: HttpClient, no_token: None
) -> None:
    port = _free_port()
    channel = _channel(port, client, Pipeline())
    retry = Policy(name="init", retry=RetrySchedule(duration=0.1, max_retries=20))
    assert await channel.list_subscriptions() == []  # no retry policy: asked once
    handler = App()

    async def start_late() -> HttpServer:
        await asyncio.sleep(0.4)
        return await HttpServer.start(handler, host="127.0.0.1", port=port)

    starting = asyncio.create_task(start_late())
    try:
        async with asyncio.timeout(5):
            subs = await channel.list_subscriptions(retry)
        assert [(s.pubsub, s.topic) for s in subs] == [("ps", "orders")]
    finally:
        await (await starting).shutdown(1.0)


async def test_wait_until_reachable_and_close(app: tuple[App, int], client: HttpClient) -> None:
    _, port = app
    channel = _channel(port, client, Pipeline())
    assert channel.configured
    async with asyncio.timeout(5):
        await channel.wait_until_reachable()
    await channel.close()


async def test_max_concurrency_holds_the_extra_call(
    app: tuple[App, int], client: HttpClient, no_token: None
) -> None:
    handler, port = app
    channel = _channel(port, client, Pipeline(), concurrency=2)
    calls = [asyncio.create_task(channel.invoke("slow", "GET", "", Headers(), b"")) for _ in range(3)]
    await until(lambda: handler.in_flight == 2)
    await asyncio.sleep(0.3)
    assert handler.in_flight == 2 and len(handler.seen) == 2  # the third waits for a slot
    # A saturated app still answers its health probe: probes take no slot, as in daprd.
    async with asyncio.timeout(2):
        assert await channel.health("/healthz", 1.0) is True
    handler.release.set()
    async with asyncio.timeout(5):
        done = await asyncio.gather(*calls)
    assert [r.status for r in done] == [200, 200, 200] and handler.most_in_flight == 2
