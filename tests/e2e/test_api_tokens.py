"""API tokens end to end, as daprd: ``DAPR_API_TOKEN`` guards every route of the public HTTP API
but the health probes and every method and stream of the gRPC API; ``APP_API_TOKEN`` goes to the
app on every call the sidecar makes to it; both may come from files (``*_FILE``); neither value is
ever in the sidecar's output.

Routes and methods are enumerated from the router and from the protobuf descriptors, never listed
by hand, so a route or RPC added later is covered without touching this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import textwrap
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor, message_factory
from google.rpc import error_details_pb2, status_pb2

from tests.e2e.actor_mesh import start_placement, start_scheduler
from tests.e2e.harness import Processes, Sidecar, free_port, http_status, records, wait_port

APPS = Path(__file__).parent / "apps"
DAPR_TOKEN = "dapr-tok-7f3a9c"
APP_TOKEN = "app-tok-51d0e2"
WRONG_TOKEN = "wrong-tok-c48b66"
HEADER = "dapr-api-token"


# --- helpers ------------------------------------------------------------------------------------


def request(
    sidecar: Sidecar, method: str, path: str, token: str | None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.http_port, timeout=10)
    try:
        sent = {"content-type": "application/json", **(headers or {})}
        if token is not None:
            sent[HEADER] = token
        conn.request(method, path, body=b"{}" if method not in ("GET", "HEAD") else None, headers=sent)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def served_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """Every (verb, pattern) the sidecar's blocks register, built as the runtime builds its router."""
    from pydapr.api.http.router import Router
    from pydapr.sidecar.options import SidecarOptions
    from pydapr.sidecar.runtime import Runtime, _block_classes

    runtime = Runtime(SidecarOptions(app_id="routes", base_dir=tmp_path))
    runtime.blocks = [cls(runtime) for cls in _block_classes()]
    router = Router()
    for block in runtime.blocks:
        block.register_http(router)
    return router.routes()


def concrete(verb: str, pattern: str) -> tuple[str, str]:
    """A request for a route: parameters filled in, ``*`` (any verb) sent as POST."""
    path = re.sub(r"\{\w+:\*\}", "tkapp/method/m", pattern)
    return ("POST" if verb == "*" else verb), re.sub(r"\{\w+\}", "tk", path)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def read_records(path: Path) -> list[dict[str, Any]]:
    return records(path)


# --- 1. every HTTP route ------------------------------------------------------------------------


def test_every_http_route_needs_the_dapr_token_but_health(procs: Processes, tmp_path: Path) -> None:
    routes = served_routes(tmp_path / "routes")
    assert len(routes) > 100, "the router registered suspiciously few routes"
    calls = sorted({concrete(verb, pattern) for verb, pattern in routes})
    exempt = {("GET", "/v1.0/healthz"), ("GET", "/v1.0/healthz/outbound")}
    assert exempt <= set(calls)
    sidecar = procs.sidecar("tk-http", env={"DAPR_API_TOKEN": DAPR_TOKEN})
    shutdown = [c for c in calls if c[1] == "/v1.0/shutdown"]
    assert shutdown
    guarded = [c for c in calls if c not in exempt and c not in shutdown]

    def refused(call: tuple[str, str], token: str | None) -> str | None:
        status, body = request(sidecar, *call, token)
        if status != 401:
            return f"{call}: {status} {body[:120]!r}"
        if body != b"invalid api token\n":  # daprd's plain-text answer (Go's http.Error)
            return f"{call}: {body!r}"
        return None

    def admitted(call: tuple[str, str]) -> str | None:
        status, body = request(sidecar, *call, DAPR_TOKEN)
        return f"{call}: {status} {body[:120]!r}" if status == 401 else None

    with ThreadPoolExecutor(8) as pool:
        assert [p for p in pool.map(lambda c: refused(c, None), guarded) if p] == []
        assert [p for p in pool.map(lambda c: refused(c, WRONG_TOKEN), guarded) if p] == []
        assert [p for p in pool.map(admitted, guarded) if p] == []
    # Paths no route serves are refused before routing, as daprd's middleware runs first: an
    # unknown path, and header-addressed service invocation (the router's fallback).
    assert refused(("GET", "/v1.0/no-such-api"), None) is None
    assert refused(("POST", "/hello"), None) is None
    status, _ = request(sidecar, "POST", "/hello", None, {"dapr-app-id": "tk-http"})
    assert status == 401
    # daprd exempts GET of the two health paths only, compared without surrounding slashes.
    for path in ("/v1.0/healthz", "/v1.0/healthz/outbound", "/v1.0/healthz/", "/v1.0/healthz/outbound/"):
        assert request(sidecar, "GET", path, None)[0] == 204, path
        assert request(sidecar, "GET", path, WRONG_TOKEN)[0] == 204, path
    for method in ("HEAD", "POST", "PUT", "DELETE"):
        assert request(sidecar, method, "/v1.0/healthz", None)[0] == 401, method
    assert request(sidecar, "GET", "/v1.0/healthzz", None)[0] == 401
    # Shutdown is a guarded route too: refused, the sidecar stays; with the token it exits.
    assert [p for c in shutdown for p in (refused(c, None), refused(c, WRONG_TOKEN)) if p] == []
    assert sidecar.alive
    assert request(sidecar, *shutdown[0], DAPR_TOKEN)[0] == 204
    assert sidecar.popen.wait(15) == 0


# --- 2. every gRPC method and stream ------------------------------------------------------------


def grpc_methods() -> list[descriptor.MethodDescriptor]:
    """The Dapr service from the installed SDK, the workflow TaskHubSidecarService from the SDK's
    durabletask stubs (the service pydapr.workflows.grpc_service registers), and pydapr's own
    StateExtensions."""
    from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2
    from dapr.proto.runtime.v1 import dapr_pb2

    from pydapr.api.grpc._ext import state_pb2
    from pydapr.workflows import grpc_service

    task_hub = orchestrator_service_pb2.DESCRIPTOR.services_by_name[grpc_service.SERVICE]
    registered = {name for name, _, _ in grpc_service._UNARY} | {"GetWorkItems"}
    # Whatever pydapr serves of the task hub is in the descriptor, so the loop below reaches it.
    assert registered <= {m.name for m in task_hub.methods}
    services = [
        dapr_pb2.DESCRIPTOR.services_by_name["Dapr"],
        task_hub,
        *state_pb2.DESCRIPTOR.services_by_name.values(),
    ]
    return [m for service in services for m in service.methods]


async def grpc_call(
    channel: grpc.aio.Channel,
    method: descriptor.MethodDescriptor,
    metadata: Iterable[tuple[str, str]],
    *,
    send: bool = True,
) -> tuple[grpc.StatusCode, str]:
    """One call with an empty request (for a client stream: one message if ``send``, else none);
    a stream is read up to its first message. Returns the status code and the error's message,
    ErrorInfo reason, domain and ``http.error_message``."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    kwargs: dict[str, Any] = {
        "request_serializer": lambda m: m.SerializeToString(),
        "response_deserializer": response_type.FromString,
    }
    md = tuple(metadata)
    call: Any
    if method.client_streaming:

        async def requests() -> Any:
            if not send:
                # Nothing written: a write racing the server's refusal makes grpc-aio's client
                # report INTERNAL "Internal error from Core" instead of the status it received.
                await asyncio.Event().wait()
            yield request_type()

        factory = channel.stream_stream if method.server_streaming else channel.stream_unary
        call = factory(path, **kwargs)(requests(), metadata=md, timeout=5)
    else:
        factory = channel.unary_stream if method.server_streaming else channel.unary_unary
        call = factory(path, **kwargs)(request_type(), metadata=md, timeout=5)
    try:
        if method.server_streaming:
            async for _ in call:
                break
            call.cancel()
            return grpc.StatusCode.OK, ""
        await call
        return grpc.StatusCode.OK, ""
    except grpc.aio.AioRpcError as exc:
        return exc.code(), _http_error_message(exc)


def _http_error_message(exc: grpc.aio.AioRpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return (
                        f"{exc.details()}|{info.reason}|{info.domain}|{info.metadata['http.error_message']}"
                    )
    return f"{exc.details()}|no ErrorInfo"


async def test_every_grpc_method_and_stream_needs_the_dapr_token(procs: Processes) -> None:
    methods = grpc_methods()
    streams = {m.name for m in methods if m.client_streaming or m.server_streaming}
    # The server and bidi streams users meet most are among those enumerated.
    assert {"SubscribeTopicEventsAlpha1", "SubscribeConfiguration", "GetWorkItems"} <= streams
    assert len(methods) > 100
    sidecar = procs.sidecar("tk-grpc", env={"DAPR_API_TOKEN": DAPR_TOKEN})
    missing = "Unauthorized|Unauthorized|dapr.io|missing api token in request metadata"
    mismatch = "Unauthorized|Unauthorized|dapr.io|authentication error: api token mismatch"
    unauth = grpc.StatusCode.UNAUTHENTICATED
    async with grpc.aio.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        cases = [
            ((), (unauth, missing)),
            (((HEADER, WRONG_TOKEN),), (unauth, mismatch)),
            # daprd reads the first value: a right token after a wrong one does not count.
            (((HEADER, WRONG_TOKEN), (HEADER, DAPR_TOKEN)), (unauth, mismatch)),
        ]
        for metadata, expected in cases:
            results = await asyncio.gather(*(grpc_call(channel, m, metadata, send=False) for m in methods))
            wrong = [(m.name, r) for m, r in zip(methods, results, strict=True) if r != expected]
            assert wrong == [], metadata
        # With the token: every method but Shutdown, which would end the sidecar, goes in.
        admitted = [m for m in methods if m.name != "Shutdown"]
        assert len(admitted) == len(methods) - 1
        good = ((HEADER, DAPR_TOKEN),)
        results = await asyncio.gather(*(grpc_call(channel, m, good) for m in admitted))
        refused = [m.name for m, (code, _) in zip(admitted, results, strict=True) if code == unauth]
        assert refused == []
        # A malformed request is refused for its missing token, never parsed.
        garbage = channel.unary_unary("/dapr.proto.runtime.v1.Dapr/GetState")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await garbage(b"\xff\xff\xff\xff", timeout=5)
        assert info.value.code() == unauth
        # A method no service serves is refused for want of a token before it is found missing.
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await channel.unary_unary("/no.such.Service/Call")(b"", timeout=5)
        assert info.value.code() == unauth
        assert sidecar.alive
        shutdown = next(m for m in methods if m.name == "Shutdown")
        assert await grpc_call(channel, shutdown, good) == (grpc.StatusCode.OK, "")
    assert sidecar.popen.wait(15) == 0


# --- 3. APP_API_TOKEN on every call to the app --------------------------------------------------

RECORDING_HTTP_APP = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out = open(sys.argv[1], "a", buffering=1)
CONFIG = {"entities": ["TokenActor"], "actorIdleTimeout": "1h"}
SUBSCRIPTIONS = [
    {"pubsubname": "tkpubsub", "topic": "tk-one", "route": "/events"},
    {"pubsubname": "tkpubsub", "topic": "tk-bulk", "route": "/bulk",
     "bulkSubscribe": {"enabled": True, "maxMessagesCount": 10, "maxAwaitDurationMs": 100}},
]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        out.write(json.dumps({"method": self.command, "path": self.path,
                              "tokens": self.headers.get_all("dapr-api-token") or []}) + "\\n")
        reply = {}
        if self.path == "/dapr/config":
            reply = CONFIG
        elif self.path == "/dapr/subscribe":
            reply = SUBSCRIPTIONS
        elif self.path == "/events":
            reply = {"status": "SUCCESS"}
        elif self.path == "/bulk":
            entries = json.loads(body)["entries"]
            reply = {"statuses": [{"entryId": e["entryId"], "status": "SUCCESS"} for e in entries]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = answer

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler).serve_forever()
"""

COMPONENTS = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: tkpubsub
spec:
  type: pubsub.in-memory
  version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: cronin
spec:
  type: bindings.cron
  version: v1
  metadata:
  - name: schedule
    value: "@every 1s"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: tkactors
spec:
  type: state.in-memory
  version: v1
  metadata:
  - name: actorStateStore
    value: "true"
"""


def resources_dir(procs: Processes) -> Path:
    path = procs.workdir / "resources"
    path.mkdir(exist_ok=True)
    (path / "components.yaml").write_text(COMPONENTS)
    return path


def start_script(procs: Processes, name: str, source: str, port: int, record: Path) -> None:
    script = procs.workdir / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    app = procs.app(name, script, env={"APP_PORT": str(port)}, args=[str(record)])
    wait_port(port, proc=app)


def health_args(path: str | None) -> list[str]:
    args = ["--enable-app-health-check", "--app-health-probe-interval", "1"]
    return args + (["--app-health-check-path", path] if path else [])


def invoke_over_grpc(sidecar: Sidecar, method: str, token: str | None = DAPR_TOKEN) -> None:
    from dapr.proto.runtime.v1 import dapr_pb2_grpc

    from pydapr.api.grpc.wire import common, runtime

    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        message = common.InvokeRequest(
            method=method, http_extension=common.HTTPExtension(verb=common.HTTPExtension.Verb.POST)
        )
        stub.InvokeService(
            runtime.InvokeServiceRequest(id=sidecar.app_id, message=message),
            metadata=((HEADER, token),) if token else (),
            timeout=10,
        )


def api(sidecar: Sidecar, method: str, path: str, body: Any = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.http_port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {HEADER: DAPR_TOKEN, "content-type": "application/json"}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_app_token_reaches_an_http_app_on_every_kind_of_call(procs: Processes) -> None:
    _, placement = start_placement(procs, "p0", f"sqlite://{procs.workdir}/placement.db")
    scheduler = start_scheduler(procs)
    port = free_port()
    record = procs.workdir / "http-app.jsonl"
    start_script(procs, "recording_http_app", RECORDING_HTTP_APP, port, record)
    sidecar = procs.sidecar(
        "tk-app-http",
        app_port=port,
        resources=resources_dir(procs),
        args=[
            "--placement-host-address", placement, "--scheduler-host-address", scheduler,
            *health_args("/healthz"),
        ],
        env={"DAPR_API_TOKEN": DAPR_TOKEN, "APP_API_TOKEN": APP_TOKEN},
    )  # fmt: skip
    procs.wait_healthy(sidecar)

    def seen(method: str, path: str) -> Callable[[], bool]:
        return lambda: any(r["method"] == method and r["path"] == path for r in read_records(record))

    wait_for(seen("GET", "/dapr/config"), "GET /dapr/config")
    actor = "/v1.0/actors/TokenActor/a1"
    # The actor type is placed once the sidecar reported it: until then a call may be refused.
    wait_for(lambda: api(sidecar, "POST", actor + "/method/ping", {}) == 200, "the actor call")
    assert api(sidecar, "POST", "/v1.0/invoke/tk-app-http/method/hello", {}) == 200
    invoke_over_grpc(sidecar, "hello-grpc")
    assert api(sidecar, "POST", "/v1.0/publish/tkpubsub/tk-one", {"n": 1}) == 204
    entries = [{"entryId": "e1", "event": {"n": 1}, "contentType": "application/json"}]
    assert api(sidecar, "POST", "/v1.0-alpha1/publish/bulk/tkpubsub/tk-bulk", entries) == 204
    assert api(sidecar, "POST", "/v1.0-alpha1/jobs/tkjob", {"dueTime": "1s"}) == 204
    assert api(sidecar, "POST", actor + "/reminders/r1", {"dueTime": "1s"}) == 204
    assert api(sidecar, "POST", actor + "/timers/t1", {"dueTime": "1s", "callback": "tick"}) == 204
    expected = [
        ("GET", "/dapr/config"),
        ("GET", "/dapr/subscribe"),
        ("GET", "/healthz"),  # the app health probe
        ("OPTIONS", "/cronin"),  # the input binding's probe, then its events
        ("POST", "/cronin"),
        ("POST", "/hello"),  # service invocation over the HTTP API
        ("POST", "/hello-grpc"),  # and over the gRPC API
        ("POST", "/events"),
        ("POST", "/bulk"),
        ("POST", "/job/tkjob"),
        ("PUT", "/actors/TokenActor/a1/method/ping"),
        ("PUT", "/actors/TokenActor/a1/method/remind/r1"),
        ("PUT", "/actors/TokenActor/a1/method/timer/t1"),
    ]
    for method, path in expected:
        wait_for(seen(method, path), f"{method} {path}")
    records = read_records(record)
    # Every call the app got carried the app token, once; never the caller's Dapr token.
    assert [r for r in records if r["tokens"] != [APP_TOKEN]] == []
    assert len(records) >= len(expected)


def test_no_app_token_means_none_is_sent_not_the_callers(procs: Processes) -> None:
    # daprd removes the caller's dapr-api-token after checking it: with no APP_API_TOKEN the app
    # gets no token at all (daprd's serviceinvocation/*/appapitoken/selfnotoken tests).
    port = free_port()
    record = procs.workdir / "plain-app.jsonl"
    start_script(procs, "recording_plain_app", RECORDING_HTTP_APP, port, record)
    sidecar = procs.sidecar("tk-notoken", app_port=port, env={"DAPR_API_TOKEN": DAPR_TOKEN})
    procs.wait_healthy(sidecar)
    assert api(sidecar, "POST", "/v1.0/invoke/tk-notoken/method/plain-http", {}) == 200
    status, _ = request(sidecar, "POST", "/plain-header", DAPR_TOKEN, {"dapr-app-id": "tk-notoken"})
    assert status == 200
    invoke_over_grpc(sidecar, "plain-grpc")
    paths = {r["path"]: r["tokens"] for r in read_records(record)}
    assert {p: paths.get(p) for p in ("/plain-http", "/plain-header", "/plain-grpc")} == {
        "/plain-http": [],
        "/plain-header": [],
        "/plain-grpc": [],
    }


SDK_GRPC_APP = """
import json, os, sys
import grpc
from dapr.ext.grpc import App, InvokeMethodResponse

out = open(sys.argv[1], "a", buffering=1)


class Recorder(grpc.ServerInterceptor):
    # The SDK's App checks no token (dapr.ext.grpc has no APP_API_TOKEN check): record what it gets.
    def intercept_service(self, continuation, details):
        tokens = [v for k, v in details.invocation_metadata if k == "dapr-api-token"]
        out.write(json.dumps({"method": details.method, "tokens": tokens}) + "\\n")
        return continuation(details)


from concurrent import futures
app = App(thread_pool=futures.ThreadPoolExecutor(10), interceptors=[Recorder()])  # grpc.server's


@app.method(name="hello")
def hello(request):
    return InvokeMethodResponse(b"{}", "application/json")


@app.subscribe(pubsub_name="tkpubsub", topic="tk-one")
def one(event):
    return None


@app.subscribe(pubsub_name="tkpubsub", topic="tk-bulk")
def bulk(event):
    return None


# The SDK's decorator has no bulk option for gRPC apps: turn it on in the listed subscription.
for sub in app._servicer._registered_topics:
    if sub.topic == "tk-bulk":
        sub.bulk_subscribe.enabled = True
        sub.bulk_subscribe.max_messages_count = 10
        sub.bulk_subscribe.max_await_duration_ms = 100


@app.binding("cronin")
def cron(request):
    return None


@app.job_event("tkjob")
def job(event):
    return None


app.register_health_check(lambda: None)
app.run(int(os.environ["APP_PORT"]), listen_address="127.0.0.1")
"""


def test_app_token_reaches_a_grpc_sdk_app_on_every_kind_of_call(procs: Processes) -> None:
    scheduler = start_scheduler(procs)
    port = free_port()
    record = procs.workdir / "grpc-app.jsonl"
    start_script(procs, "sdk_grpc_app", SDK_GRPC_APP, port, record)
    sidecar = procs.sidecar(
        "tk-app-grpc",
        app_port=port,
        app_protocol="grpc",
        resources=resources_dir(procs),
        args=["--scheduler-host-address", scheduler, *health_args(None)],
        env={"DAPR_API_TOKEN": DAPR_TOKEN, "APP_API_TOKEN": APP_TOKEN},
    )
    procs.wait_healthy(sidecar)
    assert api(sidecar, "POST", "/v1.0/invoke/tk-app-grpc/method/hello", {}) == 200
    invoke_over_grpc(sidecar, "hello")
    wait_for(lambda: api(sidecar, "POST", "/v1.0/publish/tkpubsub/tk-one", {"n": 1}) == 204, "publish")
    entries = [{"entryId": "e1", "event": {"n": 1}, "contentType": "application/json"}]
    assert api(sidecar, "POST", "/v1.0-alpha1/publish/bulk/tkpubsub/tk-bulk", entries) == 204
    assert api(sidecar, "POST", "/v1.0-alpha1/jobs/tkjob", {"dueTime": "1s"}) == 204
    callback = "/dapr.proto.runtime.v1.AppCallback/"
    expected = {
        callback + "ListTopicSubscriptions",
        callback + "ListInputBindings",
        callback + "OnInvoke",
        callback + "OnTopicEvent",
        callback + "OnBulkTopicEvent",
        callback + "OnBindingEvent",
        callback + "OnJobEvent",
        "/dapr.proto.runtime.v1.AppCallbackHealthCheck/HealthCheck",
    }

    def all_seen() -> bool:
        return expected <= {r["method"] for r in read_records(record)}

    try:
        wait_for(all_seen, "every kind of callback")
    except TimeoutError:
        seen = {r["method"] for r in read_records(record)}
        raise AssertionError(f"not seen: {sorted(expected - seen)}\n{sidecar.log()[-3000:]}") from None
    records = read_records(record)
    assert [r for r in records if r["tokens"] != [APP_TOKEN]] == []


def test_an_sdk_fastapi_app_gets_the_token_and_answers_as_without(procs: Processes) -> None:
    # dapr.ext.fastapi (and flask) check no APP_API_TOKEN: the header arrives, the app serves.
    port = free_port()
    app = procs.app("fastapi", APPS / "http_app.py", env={"APP_ID": "tk-fastapi", "APP_PORT": str(port)})
    wait_port(port, proc=app)
    sidecar = procs.sidecar(
        "tk-fastapi", app_port=port, env={"DAPR_API_TOKEN": DAPR_TOKEN, "APP_API_TOKEN": APP_TOKEN}
    )
    procs.wait_healthy(sidecar)
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.http_port, timeout=10)
    conn.request("GET", "/v1.0/invoke/tk-fastapi/method/echo/x", headers={HEADER: DAPR_TOKEN})
    resp = conn.getresponse()
    echoed = json.loads(resp.read())
    conn.close()
    assert resp.status == 200
    assert echoed["headers"][HEADER] == APP_TOKEN


# --- 4. tokens from files -----------------------------------------------------------------------


def test_app_token_from_a_file(procs: Processes) -> None:
    port = free_port()
    record = procs.workdir / "file-app.jsonl"
    start_script(procs, "recording_file_app", RECORDING_HTTP_APP, port, record)
    secret = procs.workdir / "app-token"
    secret.write_text(APP_TOKEN + "\n")  # as `echo` or an editor leaves it
    sidecar = procs.sidecar("tk-appfile", app_port=port, env={"APP_API_TOKEN_FILE": str(secret)})
    procs.wait_healthy(sidecar)
    assert request(sidecar, "POST", "/v1.0/invoke/tk-appfile/method/from-file", None)[0] == 200
    invoke_over_grpc(sidecar, "from-file-grpc", token=None)
    tokens = {r["path"]: r["tokens"] for r in read_records(record)}
    assert (tokens["/from-file"], tokens["/from-file-grpc"]) == ([APP_TOKEN], [APP_TOKEN])


def test_dapr_token_from_a_file(procs: Processes) -> None:
    secret = procs.workdir / "dapr-token"
    secret.write_text(DAPR_TOKEN + "\n")
    sidecar = procs.sidecar("tk-daprfile", env={"DAPR_API_TOKEN_FILE": str(secret)})
    assert request(sidecar, "GET", "/v1.0/metadata", None)[0] == 401
    assert request(sidecar, "GET", "/v1.0/metadata", DAPR_TOKEN)[0] == 200
    with pytest.raises(grpc.RpcError) as info:
        invoke_over_grpc(sidecar, "x", token=None)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_variable_wins_over_the_file(procs: Processes) -> None:
    port = free_port()
    record = procs.workdir / "wins-app.jsonl"
    start_script(procs, "recording_wins_app", RECORDING_HTTP_APP, port, record)
    secrets = procs.workdir / "secrets"
    secrets.mkdir()
    (secrets / "dapr").write_text("dapr-from-file")
    (secrets / "app").write_text("app-from-file")
    sidecar = procs.sidecar(
        "tk-wins",
        app_port=port,
        env={
            "DAPR_API_TOKEN": DAPR_TOKEN,
            "DAPR_API_TOKEN_FILE": str(secrets / "dapr"),
            "APP_API_TOKEN": APP_TOKEN,
            "APP_API_TOKEN_FILE": str(secrets / "app"),
        },
    )
    procs.wait_healthy(sidecar)
    assert request(sidecar, "GET", "/v1.0/metadata", "dapr-from-file")[0] == 401
    assert request(sidecar, "GET", "/v1.0/metadata", DAPR_TOKEN)[0] == 200
    assert api(sidecar, "POST", "/v1.0/invoke/tk-wins/method/wins", {}) == 200
    assert {r["path"]: r["tokens"] for r in read_records(record)}["/wins"] == [APP_TOKEN]


@pytest.mark.parametrize("variable", ["DAPR_API_TOKEN_FILE", "APP_API_TOKEN_FILE"])
def test_a_token_file_that_cannot_be_read_stops_startup_naming_it(procs: Processes, variable: str) -> None:
    missing = procs.workdir / "mounted" / "no-such-token"
    sidecar = procs.sidecar("tk-badfile", app_port=free_port(), env={variable: str(missing)}, wait=False)
    # It must exit; one that answers its health probe instead started without the token.
    wait_for(
        lambda: not sidecar.alive or http_status(sidecar.url + "/v1.0/healthz/outbound") == 204,
        "the sidecar to exit or start",
    )
    if sidecar.alive and http_status(sidecar.url + "/v1.0/healthz/outbound") == 204:
        pytest.fail("the sidecar started as if no token file were named")
    code = sidecar.popen.wait(10)
    log = sidecar.log()
    assert code != 0, log
    assert f"{variable}={missing}: cannot read the token file (No such file or directory)" in log
    assert "Traceback" not in log


# --- 5. never logged ----------------------------------------------------------------------------


def test_no_token_value_is_ever_in_the_sidecar_output(procs: Processes) -> None:
    port = free_port()
    record = procs.workdir / "quiet-app.jsonl"
    start_script(procs, "recording_quiet_app", RECORDING_HTTP_APP, port, record)
    sidecar = procs.sidecar(
        "tk-quiet",
        app_port=port,
        resources=resources_dir(procs),
        args=["--log-level", "debug", "--enable-api-logging", *health_args("/healthz")],
        env={"DAPR_API_TOKEN": DAPR_TOKEN, "APP_API_TOKEN": APP_TOKEN},
    )
    procs.wait_healthy(sidecar)
    for token in (None, WRONG_TOKEN, DAPR_TOKEN):
        request(sidecar, "POST", "/v1.0/invoke/tk-quiet/method/quiet", token)
        request(sidecar, "GET", "/v1.0/metadata", token)
        request(sidecar, "POST", "/quiet-header", token, {"dapr-app-id": "tk-quiet"})
        request(sidecar, "POST", "/v1.0/publish/tkpubsub/tk-one", token)
        with pytest.raises(grpc.RpcError) if token != DAPR_TOKEN else contextlib.nullcontext():
            invoke_over_grpc(sidecar, "quiet-grpc", token=token)
    wait_for(lambda: any(r["path"] == "/events" for r in read_records(record)), "the event")
    wait_for(
        lambda: any(r["path"] == "/cronin" and r["method"] == "POST" for r in read_records(record)), "cron"
    )
    assert sidecar.stop() == 0
    log = sidecar.log()
    # API logging and debug output were on, and the calls with the token are in them.
    for line in (
        r'msg="HTTP API Called" app_id=tk-quiet code=200 .* method="POST /v1.0/invoke/tk-quiet/method/quiet"',
        r'msg="HTTP API Called" app_id=tk-quiet code=200 .* method="POST /quiet-header" ',
        r'msg="gRPC API Called" app_id=tk-quiet code=0 .* method=/dapr.proto.runtime.v1.Dapr/InvokeService ',
        r"level=debug",
    ):
        assert re.search(line, log), line
    leaked = [t for t in (DAPR_TOKEN, APP_TOKEN, WRONG_TOKEN) if t in log]
    assert leaked == [], "a token value is in the sidecar's output"
