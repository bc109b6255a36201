"""Tracing end to end: two real sidecars exporting to a real Zipkin collector (and OTLP ones), an
app written with the official SDK's gRPC ``App``, callers using the SDK and plain HTTP.

One trace must span both apps: an invocation A→B (A's ``CallLocal`` CLIENT span, B's SERVER span
its child, B's app called with B's span as parent), a publish on A consumed by B's app (B's
``pubsub/<topic>`` span a child of A's publish span), an output binding (its HTTP request carries
the binding span's context). A caller's traceparent is continued; sampling 0 exports nothing.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.collectors import OtlpCollector, Span, ZipkinCollector, running
from tests.e2e.harness import Processes, Sidecar, free_port, records, wait_port

pytestmark = pytest.mark.e2e

RUN = "trace" + uuid.uuid4().hex[:8]
TOPIC = f"{RUN}-orders"
CALLER, RECEIVER = f"{RUN}-caller", f"{RUN}-receiver"
# Spans reach the collectors within a fraction of a second (the SDK's batch delay, 5 s by default).
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}

CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: tracing
spec:
  tracing:
    samplingRate: "{rate}"
{exporter}
"""
ZIPKIN = """\
    zipkin:
      endpointAddress: "{endpoint}"
"""
OTEL = """\
    otel:
      endpointAddress: "{endpoint}"
      protocol: {protocol}
      isSecure: false
      headers:
      - name: x-collector-key
        value: {key}
"""

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: broker
spec:
  type: pubsub.pydapr-sqlite
  version: v1
  metadata:
  - name: path
    value: {db}
  - name: pollInterval
    value: 50ms
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: recorder
spec:
  type: bindings.http
  version: v1
  metadata:
  - name: url
    value: http://127.0.0.1:{recorder_port}/hook
"""

RECEIVER_APP = '''\
"""B: the official SDK's gRPC App; it answers the traceparent it saw and records deliveries."""
import json
import os
import sys

from dapr.ext.grpc import App, InvokeMethodRequest, InvokeMethodResponse, SubscriptionMessage

app = App()
RECORD = os.environ["RECORD"]


def first(value):
    return value[0] if isinstance(value, (list, tuple)) else value


@app.method(name="hello")
def hello(request: InvokeMethodRequest) -> InvokeMethodResponse:
    md = request.metadata
    body = {"traceparent": first(md.get("traceparent", "")), "tracestate": first(md.get("tracestate", ""))}
    return InvokeMethodResponse(json.dumps(body).encode(), "application/json")


@app.subscribe(pubsub_name="broker", topic=os.environ["TOPIC"])
def on_order(event: SubscriptionMessage) -> None:
    line = {"metadata": dict(event.metadata()), "extensions": event.extensions(), "id": event.id()}
    with open(RECORD, "a") as out:
        out.write(json.dumps(line) + "\\n")


def probe(request, context):
    md = dict(context.invocation_metadata())
    return json.dumps({"traceparent": md.get("traceparent", "")}).encode()


def add_probe(servicer, server):
    import grpc

    handler = grpc.unary_unary_rpc_method_handler(probe)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("trace.Probe", {"Echo": handler}),))


app.add_external_service(add_probe, None)  # reached through the sidecars' gRPC proxy
app.run(int(sys.argv[1]))
'''


class Recorder:
    """The output binding's target: an HTTP server keeping each request's headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                recorder.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@dataclass
class Mesh:
    caller: Sidecar
    receiver: Sidecar
    zipkin: ZipkinCollector
    recorder: Recorder
    record: Path
    procs: Processes
    workdir: Path


def write_config(path: Path, rate: str, exporter: str) -> Path:
    path.write_text(CONFIG.format(rate=rate, exporter=exporter))
    return path


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("tracing")
    home = workdir / "home"
    home.mkdir()
    resources = workdir / "resources"
    resources.mkdir()
    recorder = Recorder()
    recorder.thread.start()
    (resources / "components.yaml").write_text(
        COMPONENTS.format(db=workdir / "broker.db", recorder_port=recorder.port)
    )
    record = workdir / "deliveries.jsonl"
    record.touch()
    app_script = workdir / "receiver_app.py"
    app_script.write_text(RECEIVER_APP)
    procs = Processes(home=home, workdir=workdir)
    try:
        with running(ZipkinCollector()) as zipkin:
            config = write_config(workdir / "config.yaml", "1", ZIPKIN.format(endpoint=zipkin.endpoint))
            app_port = free_port()
            app = procs.app(
                "receiver", app_script, args=[str(app_port)], env={"RECORD": str(record), "TOPIC": TOPIC}
            )
            wait_port(app_port, proc=app)
            receiver = procs.sidecar(
                RECEIVER,
                app_port=app_port,
                app_protocol="grpc",
                resources=resources,
                config=config,
                env=FAST_EXPORT,
            )
            procs.wait_healthy(receiver)
            caller = procs.sidecar(CALLER, resources=resources, config=config, env=FAST_EXPORT)
            yield Mesh(caller, receiver, zipkin, recorder, record, procs, workdir)
    finally:
        procs.stop_all()
        recorder.server.shutdown()
        recorder.server.server_close()


def http(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def parts(traceparent: str) -> tuple[str, str]:
    """(trace id, parent id) of a traceparent."""
    version, trace_id, parent_id, flags = traceparent.split("-")
    assert version == "00" and len(trace_id) == 32 and len(parent_id) == 16 and len(flags) == 2, traceparent
    return trace_id, parent_id


def in_trace(spans: list[Span], trace_id: str) -> list[Span]:
    return [s for s in spans if s.trace_id == trace_id]


def one(spans: list[Span], *, service: str, name: str) -> Span:
    found = [s for s in spans if s.service == service and s.name == name]
    assert len(found) == 1, f"{service} {name}: {found}"
    return found[0]


# --- service invocation A → B ---------------------------------------------------------------------
def test_invocation_is_one_trace_across_both_sidecars(mesh: Mesh) -> None:
    status, headers, body = http(f"{mesh.caller.url}/v1.0/invoke/{RECEIVER}/method/hello", "POST", b"{}")
    assert status == 200, body
    seen = json.loads(body)
    # daprd answers with the trace context of its span for the call.
    trace_id, caller_span_id = parts(headers["traceparent"])
    name = f"CallLocal/{RECEIVER}/hello"

    def complete(spans: list[Span]) -> bool:
        return len([s for s in in_trace(spans, trace_id) if s.name == name]) >= 2

    spans = in_trace(mesh.zipkin.wait_for(complete), trace_id)
    client = one(spans, service=CALLER, name=name)
    server = one(spans, service=RECEIVER, name=name)
    assert (client.kind, server.kind) == ("CLIENT", "SERVER")
    assert client.span_id == caller_span_id and client.parent_id == ""  # a new trace, started by A
    assert server.parent_id == client.span_id
    assert client.attributes["rpc.service"] == "ServiceInvocation"
    assert client.attributes["net.peer.name"] == RECEIVER
    assert client.attributes["dapr.protocol"] == "http"
    assert client.attributes["dapr.status_code"] == "200"
    # B's app was called as a child of B's span (trace id and parent id on its gRPC metadata).
    assert parts(seen["traceparent"]) == (trace_id, server.span_id)


def test_a_callers_traceparent_is_continued(mesh: Mesh) -> None:
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    given = {"traceparent": f"00-{trace_id}-{parent_id}-01", "tracestate": "vendor=abc"}
    status, headers, body = http(
        f"{mesh.caller.url}/v1.0/invoke/{RECEIVER}/method/hello", "POST", b"{}", given
    )
    assert status == 200, body
    assert parts(headers["traceparent"])[0] == trace_id
    seen = json.loads(body)
    assert parts(seen["traceparent"])[0] == trace_id
    assert seen["tracestate"] == "vendor=abc"
    spans = mesh.zipkin.wait_for(lambda spans: len(in_trace(spans, trace_id)) >= 2)
    client = one(in_trace(spans, trace_id), service=CALLER, name=f"CallLocal/{RECEIVER}/hello")
    assert client.parent_id == parent_id


def test_an_unsampled_callers_trace_is_propagated_not_exported(mesh: Mesh) -> None:
    trace_id = uuid.uuid4().hex
    given = {"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-00"}
    status, _, body = http(f"{mesh.caller.url}/v1.0/invoke/{RECEIVER}/method/hello", "POST", b"{}", given)
    assert status == 200, body
    seen = json.loads(body)
    assert parts(seen["traceparent"])[0] == trace_id and seen["traceparent"].endswith("-00")
    # A sampled marker call after it: once its spans are in, the unsampled ones would be too.
    status, marker, _ = http(f"{mesh.caller.url}/v1.0/invoke/{RECEIVER}/method/hello", "POST", b"{}")
    marker_id = parts(marker["traceparent"])[0]
    spans = mesh.zipkin.wait_for(lambda spans: len(in_trace(spans, marker_id)) >= 2)
    assert in_trace(spans, trace_id) == []


# --- publish on A, delivered to B's app ----------------------------------------------------------
def test_publish_and_delivery_are_one_trace(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    dapr_settings(mesh.caller)
    order_id = uuid.uuid4().hex
    with DaprClient() as client:
        client.publish_event(
            "broker", TOPIC, json.dumps({"order": order_id}), data_content_type="application/json"
        )
    publish_name = "/dapr.proto.runtime.v1.Dapr/PublishEvent"
    spans = mesh.zipkin.wait_for(
        lambda spans: (
            any(s.name == f"pubsub/{TOPIC}" for s in spans)
            and any(s.name == publish_name and s.service == CALLER for s in spans)
        )
    )
    publish = one(spans, service=CALLER, name=publish_name)
    delivery = one(spans, service=RECEIVER, name=f"pubsub/{TOPIC}")
    assert publish.kind == "CLIENT" and publish.attributes["messaging.system"] == "pubsub"
    assert publish.attributes["messaging.destination.name"] == TOPIC  # read from the request, as daprd
    assert delivery.trace_id == publish.trace_id
    assert delivery.parent_id == publish.span_id
    assert delivery.attributes["messaging.destination.name"] == TOPIC
    deadline = time.monotonic() + 10
    lines: list[dict[str, Any]] = []
    while not lines and time.monotonic() < deadline:
        lines = records(mesh.record)
        time.sleep(0.05)
    assert lines, "the app never got the event"
    # The CloudEvent carries the publisher's context; the app's call is a child of the delivery span.
    assert parts(lines[-1]["extensions"]["traceparent"]) == (publish.trace_id, publish.span_id)
    assert parts(lines[-1]["metadata"]["traceparent"]) == (publish.trace_id, delivery.span_id)


def test_a_streaming_subscriptions_delivery_is_a_child_of_the_publish(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    topic = f"{RUN}-stream"
    dapr_settings(mesh.caller)
    with DaprClient() as client:
        sub: Any = client.subscribe("broker", topic)
        try:
            client.publish_event("broker", topic, json.dumps({"n": 1}), data_content_type="application/json")
            msg = sub.next_message()
            assert msg.data() == {"n": 1}
            sub.respond_success(msg)
        finally:
            sub.close()
    publish_name = "/dapr.proto.runtime.v1.Dapr/PublishEvent"

    def both(spans: list[Span]) -> bool:
        delivered = [s for s in spans if s.name == f"pubsub/{topic}"]
        return bool(delivered) and any(s.span_id == delivered[0].parent_id for s in spans)

    spans = mesh.zipkin.wait_for(both)
    delivery = one(spans, service=CALLER, name=f"pubsub/{topic}")
    publish = next(s for s in spans if s.span_id == delivery.parent_id)
    assert publish.name == publish_name and publish.trace_id == delivery.trace_id
    assert delivery.attributes["messaging.destination.name"] == topic


BULK_APP = """\
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        with open(os.environ["RECORD"], "a") as out:
            out.write(json.dumps({"traceparent": self.headers.get("traceparent")}) + "\\n")
        statuses = [{"entryId": e["entryId"], "status": "SUCCESS"} for e in body["entries"]]
        answer = json.dumps({"statuses": statuses}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

BULK_SUBSCRIPTION = """\
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: bulk-traced
spec:
  pubsubname: broker
  topic: {topic}
  routes:
    default: /bulk
  bulkSubscribe:
    enabled: true
    maxMessagesCount: 10
    maxAwaitDurationMs: 500
scopes:
- {app_id}
"""


def test_a_bulk_delivery_has_a_span_per_entry_each_a_child_of_its_publish(mesh: Mesh) -> None:
    topic, app_id = f"{RUN}-bulk", f"{RUN}-bulk-receiver"
    resources = mesh.workdir / "bulk-resources"
    resources.mkdir()
    (resources / "components.yaml").write_text((mesh.workdir / "resources" / "components.yaml").read_text())
    (resources / "subscription.yaml").write_text(BULK_SUBSCRIPTION.format(topic=topic, app_id=app_id))
    record = mesh.workdir / "bulk.jsonl"
    record.touch()
    script = mesh.workdir / "bulk_app.py"
    script.write_text(BULK_APP)
    app_port = free_port()
    app = mesh.procs.app("bulk", script, args=[str(app_port)], env={"RECORD": str(record)})
    wait_port(app_port, proc=app)
    receiver = mesh.procs.sidecar(
        app_id, app_port=app_port, resources=resources, config=mesh.workdir / "config.yaml", env=FAST_EXPORT
    )
    try:
        mesh.procs.wait_healthy(receiver)
        published: list[tuple[str, str]] = []
        for n in range(3):
            trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
            given = {"traceparent": f"00-{trace_id}-{parent}-01", "content-type": "application/json"}
            url = f"{mesh.caller.url}/v1.0/publish/broker/{topic}"
            status, _, _ = http(url, "POST", b'{"n": %d}' % n, given)
            assert status == 204
            published.append((trace_id, parent))
        ids = {trace_id for trace_id, _ in published}

        def delivered(spans: list[Span]) -> bool:
            return {s.trace_id for s in spans if s.name == f"pubsub/{topic}"} >= ids

        spans = mesh.zipkin.wait_for(delivered)
        for trace_id, _ in published:
            publish = one(in_trace(spans, trace_id), service=CALLER, name=f"/v1.0/publish/broker/{topic}")
            delivery = one(in_trace(spans, trace_id), service=app_id, name=f"pubsub/{topic}")
            assert delivery.parent_id == publish.span_id and delivery.kind == "CLIENT"
        # The app's request of each batch is a child of one of its entries' delivery spans.
        deliveries = {s.span_id for s in spans if s.name == f"pubsub/{topic}"}
        lines = records(record)
        assert lines and all(parts(line["traceparent"])[1] in deliveries for line in lines)
    finally:
        receiver.stop()
        app.stop()


# --- output binding ------------------------------------------------------------------------------
def test_output_binding_passes_its_span_on(mesh: Mesh) -> None:
    before = len(mesh.recorder.requests)
    status, headers, body = http(
        f"{mesh.caller.url}/v1.0/bindings/recorder",
        "POST",
        json.dumps({"operation": "post", "data": "x"}).encode(),
    )
    assert status == 200, body
    trace_id, span_id = parts(headers["traceparent"])
    spans = mesh.zipkin.wait_for(lambda spans: any(s.trace_id == trace_id for s in spans))
    span = one(in_trace(spans, trace_id), service=CALLER, name="/v1.0/bindings/recorder")
    assert span.span_id == span_id and span.kind == "CLIENT"
    assert span.attributes["db.system"] == "bindings" and span.attributes["db.name"] == "recorder"
    sent = mesh.recorder.requests[before:]
    assert len(sent) == 1
    assert parts(sent[0]["traceparent"]) == (trace_id, span_id)


def test_state_api_span_names_the_store(mesh: Mesh) -> None:
    status, headers, _ = http(f"{mesh.caller.url}/v1.0/metadata")
    assert status == 200
    trace_id, _ = parts(headers["traceparent"])
    spans = mesh.zipkin.wait_for(lambda spans: any(s.trace_id == trace_id for s in spans))
    span = one(in_trace(spans, trace_id), service=CALLER, name="/v1.0/metadata")
    assert span.attributes["dapr.api"] == "GET /v1.0/metadata"


def test_a_grpc_state_call_names_its_store_even_when_refused(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    store = f"{RUN}-grpc-nostore"
    dapr_settings(mesh.caller)
    with DaprClient() as client, pytest.raises(Exception, match=store):
        client.get_state(store, "k")
    rpc = "/dapr.proto.runtime.v1.Dapr/GetState"

    def refused(spans: list[Span]) -> bool:
        return any(s.name == rpc and s.attributes.get("db.name") == store for s in spans)

    span = next(s for s in mesh.zipkin.wait_for(refused) if s.attributes.get("db.name") == store)
    assert span.attributes["db.system"] == "state" and span.attributes["db.statement"] == rpc


def test_dapr_prefixed_headers_and_metadata_become_span_attributes_but_not_the_token(mesh: Mesh) -> None:
    import grpc

    tenant = uuid.uuid4().hex
    given = {"dapr-tenant": tenant, "dapr-api-token": "not-for-traces", "x-other": "no"}
    status, headers, _ = http(f"{mesh.caller.url}/v1.0/metadata", headers=given)
    assert status == 200
    http_trace, _ = parts(headers["traceparent"])
    ident: Any = lambda b: b  # noqa: E731 - raw bytes both ways
    rpc = "/dapr.proto.runtime.v1.Dapr/GetMetadata"
    with grpc.insecure_channel(f"127.0.0.1:{mesh.caller.grpc_port}") as channel:
        get = channel.unary_unary(rpc, request_serializer=ident, response_deserializer=ident)
        get(b"", metadata=(("dapr-tenant", tenant), ("dapr-api-token", "not-for-traces")), timeout=10)

    def both(spans: list[Span]) -> bool:
        return len([s for s in spans if s.attributes.get("dapr-tenant") == tenant]) >= 2

    tagged = [s for s in mesh.zipkin.wait_for(both) if s.attributes.get("dapr-tenant") == tenant]
    assert sorted(s.name for s in tagged) == sorted(["/v1.0/metadata", rpc])
    assert any(s.trace_id == http_trace for s in tagged)
    for span in tagged:
        assert "dapr-api-token" not in span.attributes and "x-other" not in span.attributes


def test_health_checks_are_not_traced(mesh: Mesh) -> None:
    status, headers, _ = http(f"{mesh.caller.url}/v1.0/healthz")
    assert status == 204
    assert "traceparent" not in headers


# --- sampling 0, OTLP exporters: a sidecar of their own each -------------------------------------
def test_sampling_zero_exports_nothing_and_answers_no_traceparent(mesh: Mesh) -> None:
    with running(ZipkinCollector()) as silent:
        config = write_config(mesh.workdir / "off.yaml", "0", ZIPKIN.format(endpoint=silent.endpoint))
        off = mesh.procs.sidecar(
            f"{RUN}-off", resources=mesh.workdir / "resources", config=config, env=FAST_EXPORT
        )
        try:
            status, headers, body = http(f"{off.url}/v1.0/invoke/{RECEIVER}/method/hello", "POST", b"{}")
            assert status == 200, body
            assert "traceparent" not in headers
            trace_id = uuid.uuid4().hex
            given = {"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
            status, _, body = http(f"{off.url}/v1.0/invoke/{RECEIVER}/method/hello", "POST", b"{}", given)
            # Tracing off still passes the caller's context on (the receiver traces it).
            assert parts(json.loads(body)["traceparent"])[0] == trace_id
            mesh.zipkin.wait_for(lambda spans: any(s.trace_id == trace_id for s in spans))
            time.sleep(0.5)  # several of its export periods
            assert silent.spans == [] and silent.batches == 0
        finally:
            off.stop()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_otlp_exporters(mesh: Mesh, protocol: str) -> None:
    with running(OtlpCollector()) as otlp:
        port = otlp.grpc_port if protocol == "grpc" else otlp.http_port
        key = uuid.uuid4().hex
        exporter = OTEL.format(endpoint=f"127.0.0.1:{port}", protocol=protocol, key=key)
        config = write_config(mesh.workdir / f"otel-{protocol}.yaml", "1", exporter)
        app_id = f"{RUN}-otel-{protocol}"
        side = mesh.procs.sidecar(
            app_id, resources=mesh.workdir / "resources", config=config, env=FAST_EXPORT
        )
        try:
            status, headers, _ = http(f"{side.url}/v1.0/metadata")
            assert status == 200
            trace_id, span_id = parts(headers["traceparent"])
            spans = otlp.wait_for(lambda spans: any(s.trace_id == trace_id for s in spans))
            span = one(spans, service=app_id, name="/v1.0/metadata")
            assert span.span_id == span_id and span.kind == "CLIENT"
            assert span.headers.get("x-collector-key") == key
        finally:
            side.stop()


def test_otlp_exporter_from_the_opentelemetry_environment(mesh: Mesh) -> None:
    """No Configuration at all: OTEL_EXPORTER_OTLP_* alone exports every trace, as daprd."""
    with running(OtlpCollector()) as otlp:
        key = uuid.uuid4().hex
        env = {
            **FAST_EXPORT,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.http_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-collector-key={key}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",  # daprd too exports over TLS unless told
        }
        app_id = f"{RUN}-otel-env"
        side = mesh.procs.sidecar(app_id, resources=mesh.workdir / "resources", env=env)
        try:
            status, headers, _ = http(f"{side.url}/v1.0/metadata")
            assert status == 200
            trace_id, span_id = parts(headers["traceparent"])  # sampled: the rate is 1
            spans = otlp.wait_for(lambda spans: any(s.trace_id == trace_id for s in spans))
            span = one(spans, service=app_id, name="/v1.0/metadata")
            assert span.span_id == span_id and span.headers.get("x-collector-key") == key
        finally:
            side.stop()


def test_an_api_error_answer_names_its_span_too(mesh: Mesh) -> None:
    status, headers, body = http(f"{mesh.caller.url}/v1.0/state/{RUN}-nostore/k")
    assert status >= 400 and json.loads(body)["errorCode"].startswith("ERR_")
    trace_id, span_id = parts(headers["traceparent"])
    spans = mesh.zipkin.wait_for(lambda spans: any(s.trace_id == trace_id for s in spans))
    span = one(in_trace(spans, trace_id), service=CALLER, name=f"/v1.0/state/{RUN}-nostore/k")
    assert span.span_id == span_id and span.attributes["dapr.status_code"] == str(status)
    assert span.attributes["db.system"] == "state" and span.attributes["db.name"] == f"{RUN}-nostore"


def test_grpc_proxy_call_is_one_trace(mesh: Mesh) -> None:
    import grpc

    ident: Any = lambda b: b  # noqa: E731 - raw bytes both ways
    with grpc.insecure_channel(f"127.0.0.1:{mesh.caller.grpc_port}") as channel:
        echo = channel.unary_unary("/trace.Probe/Echo", request_serializer=ident, response_deserializer=ident)
        seen = json.loads(echo(b"x", metadata=(("dapr-app-id", RECEIVER),), timeout=10))
    trace_id, parent_id = parts(seen["traceparent"])
    spans = mesh.zipkin.wait_for(lambda spans: len([s for s in in_trace(spans, trace_id)]) >= 2)
    spans = in_trace(spans, trace_id)
    client = one(spans, service=CALLER, name="/trace.Probe/Echo")
    server = one(spans, service=RECEIVER, name="/trace.Probe/Echo")
    assert client.parent_id == "" and server.parent_id == client.span_id
    assert parent_id == server.span_id  # the app's call is a child of the receiving sidecar's span


def test_grpc_invocation_span_is_named_as_daprd(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    dapr_settings(mesh.caller, "grpc")
    with DaprClient() as client:
        resp = client.invoke_method(RECEIVER, "hello", data=b"{}")
    trace_id, parent_id = parts(json.loads(resp.data)["traceparent"])
    name = f"CallLocal/{RECEIVER}/hello"
    spans = mesh.zipkin.wait_for(
        lambda spans: len([s for s in in_trace(spans, trace_id) if s.name == name]) >= 2
    )
    client_span = one(in_trace(spans, trace_id), service=CALLER, name=name)
    server_span = one(in_trace(spans, trace_id), service=RECEIVER, name=name)
    assert client_span.kind == "CLIENT" and client_span.attributes["dapr.protocol"] == "grpc"
    assert client_span.attributes["net.peer.name"] == RECEIVER
    assert server_span.parent_id == client_span.span_id and parent_id == server_span.span_id
