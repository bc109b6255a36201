"""Prometheus metrics end to end: real sidecars, a known workload (HTTP and gRPC API calls, an
invocation from one sidecar to another's app, state on Redis, a publish to Redis), then a scrape of
``/metrics`` checked for daprd's names, labels and exact counts; metrics off; a taken port; and
thousands of distinct paths that leave the label values bounded."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Processes, Sidecar, free_port, wait_port

pytestmark = pytest.mark.e2e

RESOURCES = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mstate
spec:
  type: state.redis
  version: v1
  metadata:
  - {{name: redisHost, value: "127.0.0.1:6379"}}
  - {{name: keyPrefix, value: "{prefix}"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mbus
spec:
  type: pubsub.redis
  version: v1
  metadata:
  - {{name: redisHost, value: "127.0.0.1:6379"}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mfiles
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - {{name: rootPath, value: "{root}"}}
"""

_SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    # Read as the wire says (prometheus_client's parser would rename counters to ..._total).
    samples: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.fullmatch(line)
        assert match is not None, line
        labels = frozenset(_LABEL.findall(match.group("labels") or ""))
        samples[(match.group("name"), labels)] = float(match.group("value"))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample with exactly these labels (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include these."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


@dataclass
class Mesh:
    caller: Sidecar
    callee: Sidecar
    caller_metrics: int
    callee_metrics: int


def _request(sidecar: Sidecar, method: str, path: str, body: bytes | None = None) -> int:
    req = urllib.request.Request(sidecar.url + path, data=body, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as refused:
        with refused:  # an error answer holds its connection until closed
            return int(refused.code)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("metrics")
    home = workdir / "home"
    home.mkdir()
    resources = workdir / "resources"
    resources.mkdir()
    (resources / "components.yaml").write_text(
        RESOURCES.format(prefix=f"metrics-{uuid.uuid4().hex}", root=workdir / "files")
    )
    procs = Processes(home=home, workdir=workdir)
    suffix = uuid.uuid4().hex[:6]
    try:
        app_port, callee_metrics, caller_metrics = free_port(), free_port(), free_port()
        callee = procs.sidecar(
            f"mcallee-{suffix}", app_port=app_port, args=["--metrics-port", str(callee_metrics)]
        )
        env = {"APP_ID": callee.app_id, "APP_PORT": str(app_port), "DAPR_HTTP_PORT": str(callee.http_port)}
        app = procs.app(callee.app_id, APPS / "http_app.py", env=env)
        wait_port(app_port, proc=app)
        procs.wait_healthy(callee)
        caller = procs.sidecar(
            f"mcaller-{suffix}", resources=resources, args=["--metrics-port", str(caller_metrics)]
        )
        yield Mesh(caller, callee, caller_metrics, callee_metrics)
    finally:
        procs.stop_all()


def test_a_known_workload_is_counted_with_daprs_names_and_labels(mesh: Mesh, dapr_settings) -> None:  # type: ignore[no-untyped-def]
    caller, callee = mesh.caller, mesh.callee
    dapr_settings(caller)
    before = scrape(mesh.caller_metrics)
    for i in range(3):
        item = json.dumps([{"key": f"k{i}", "value": i}]).encode()
        assert _request(caller, "POST", "/v1.0/state/mstate", item) == 204
    for i in range(2):
        assert _request(caller, "GET", f"/v1.0/state/mstate/k{i}") == 200
    assert _request(caller, "POST", "/v1.0/publish/mbus/orders", b'{"id": 1}') == 204
    for i in range(4):
        assert _request(caller, "POST", f"/v1.0/invoke/{callee.app_id}/method/echo/item{i}", b"{}") == 200
    from dapr.clients import DaprClient

    with DaprClient() as client:  # the SDK's client speaks gRPC
        assert client.get_state("mstate", "k0").data == b"0"
        with pytest.raises(Exception, match="nostore"):
            client.get_state("nostore", "k0")

    a, b = caller.app_id, callee.app_id
    rpc = "/dapr.proto.runtime.v1.Dapr/GetState"
    grpc_done = "dapr_grpc_io_server_completed_rpcs"
    by_rpc = {"app_id": a, "grpc_server_method": rpc}
    # Seen once in a loaded parallel run: the refused GetState not yet in the first scrape. The
    # scrape is retried for a few seconds; a count that never comes (or a wrong code) still fails.
    deadline = time.monotonic() + 5
    after = scrape(mesh.caller_metrics)
    while value(after, grpc_done, grpc_server_status="InvalidArgument", **by_rpc) < 1:
        assert time.monotonic() < deadline, "the refused GetState was never counted"
        time.sleep(0.05)
        after = scrape(mesh.caller_metrics)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # The gRPC API: both GetState requests' sizes, the answered one's answer size.
    from dapr.proto import api_v1

    asked = [api_v1.GetStateRequest(store_name=s, key="k0").ByteSize() for s in ("mstate", "nostore")]
    received = "dapr_grpc_io_server_received_bytes_per_rpc"
    assert value(after, received + "_count", **by_rpc) == 2
    assert value(after, received + "_sum", **by_rpc) == sum(asked)
    answer = api_v1.GetStateResponse(data=b"0", etag="1").ByteSize()
    assert value(after, "dapr_grpc_io_server_sent_bytes_per_rpc_count", **by_rpc) == 1
    assert value(after, "dapr_grpc_io_server_sent_bytes_per_rpc_sum", **by_rpc) == answer

    # The public HTTP API: no path label by default (Dapr 1.14+), the verb and the status.
    count = "dapr_http_server_request_count"
    assert delta(count, app_id=a, method="POST", path="", status="204") == 4  # 3 saves, 1 publish
    assert delta(count, app_id=a, method="GET", path="", status="200") == 2
    assert delta(count, app_id=a, method="POST", path="", status="200") == 4  # the invocations
    assert delta("dapr_http_server_latency_count", app_id=a, method="GET", path="", status="200") == 2
    # Body sizes, request and response: the 3 saves, the publish and the 4 invocations sent bodies.
    saves = sum(len(json.dumps([{"key": f"k{i}", "value": i}]).encode()) for i in range(3))
    sent = saves + len(b'{"id": 1}') + 4 * len(b"{}")
    assert delta("dapr_http_server_request_bytes_sum", app_id=a) == sent
    # One observation per request to the HTTP API (the SDK client's readiness probes included).
    requests = total(after, count, app_id=a) - total(before, count, app_id=a)
    assert delta("dapr_http_server_request_bytes_count", app_id=a) == requests
    assert delta("dapr_http_server_response_bytes_count", app_id=a) == requests
    assert not [k for k in after if k[0] == count and dict(k[1]).get("path")]
    # The public gRPC API, Go's code names.
    assert value(after, grpc_done, grpc_server_status="OK", **by_rpc) == 1
    assert value(after, grpc_done, grpc_server_status="InvalidArgument", **by_rpc) == 1
    # State on Redis: one "set" per saved item, one "get" per read (HTTP and gRPC alike).
    state = "dapr_component_state_count"
    labels = {"app_id": a, "component": "mstate", "namespace": "default", "success": "true"}
    assert delta(state, operation="set", **labels) == 3
    assert delta(state, operation="get", **labels) == 3
    assert total(after, "dapr_component_state_latencies_count", component="mstate") == total(
        after, state, component="mstate"
    )
    # The publish, labelled with its topic as daprd's.
    egress = "dapr_component_pubsub_egress_count"
    assert total(after, egress, app_id=a, component="mbus", success="true", topic="orders") == 1
    # Service invocation, seen from the caller ...
    req_sent = "dapr_runtime_service_invocation_req_sent_total"
    assert value(after, req_sent, app_id=a, dst_app_id=b, type="unary") == 4
    res_recv = "dapr_runtime_service_invocation_res_recv_total"
    assert value(after, res_recv, app_id=a, src_app_id=b, status="200", type="unary") == 4
    latency = "dapr_runtime_service_invocation_res_recv_latency_ms_count"
    assert value(after, latency, app_id=a, src_app_id=b, status="200") == 4
    # ... and from the callee, which also called its app four times.
    seen = scrape(mesh.callee_metrics)
    assert value(seen, "dapr_runtime_service_invocation_req_recv_total", app_id=b, src_app_id=a) == 4
    res_sent = "dapr_runtime_service_invocation_res_sent_total"
    assert value(seen, res_sent, app_id=b, dst_app_id=a, status="200") == 4
    client = "dapr_http_client_completed_count"
    assert value(seen, client, app_id=b, method="POST", path="", status="200") == 4
    assert total(seen, client, app_id=b, method="GET", path="/dapr/config") == 1
    # The bodies it sent its app: the four invocations' b"{}", and GET /dapr/config's none.
    assert total(seen, "dapr_http_client_sent_bytes_sum", app_id=b, path="", status="200") == 8
    assert total(seen, "dapr_http_client_sent_bytes_count", app_id=b, path="", status="200") == 4
    # The runtime, at startup: both components loaded.
    assert value(after, "dapr_runtime_component_loaded", app_id=a) == 3
    init = "dapr_runtime_component_init_total"
    assert value(after, init, app_id=a, component="state.redis") == 1
    assert value(after, init, app_id=a, component="pubsub.redis") == 1
    assert value(after, init, app_id=a, component="bindings.localstorage") == 1
    # Every series carries app_id.
    assert all(dict(labels_).get("app_id") for (_, labels_) in after)


def test_buckets_are_daprs_milliseconds(mesh: Mesh) -> None:
    samples = scrape(mesh.caller_metrics)
    bounds = sorted(
        float(dict(ls)["le"])
        for (name, ls), _ in samples.items()
        if name == "dapr_http_server_latency_bucket"
        and dict(ls)["method"] == "GET"
        and dict(ls)["status"] == "204"
    )
    assert bounds[:5] == [1, 2, 3, 4, 5] and bounds[-2:] == [100000, float("inf")]


def test_thousands_of_distinct_paths_leave_the_labels_bounded(mesh: Mesh) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", mesh.caller.http_port, timeout=10)
    try:
        for i in range(3000):  # distinct keys (missing: 204) and distinct fallback invoke paths
            path = f"/v1.0/state/mstate/missing-{i}" if i % 2 else f"/orders/{i}"
            headers = {} if i % 2 else {"dapr-app-id": mesh.callee.app_id}
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            assert resp.status in (200, 204, 404)
    finally:
        conn.close()
    samples = scrape(mesh.caller_metrics)
    series = [labels for (name, labels) in samples if name == "dapr_http_server_request_count"]
    assert len(series) < 10
    every_label_value = {v for (_, labels) in samples for (_, v) in labels}
    assert not [v for v in every_label_value if "missing-" in v or "/orders/" in v]


def _free_metrics_port_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: off\n"
        "spec:\n  metric:\n    enabled: false\n"
    )
    return config


def test_metrics_off_by_configuration_listen_on_nothing(procs: Processes, tmp_path: Path) -> None:
    port = free_port()
    sidecar = procs.sidecar(
        "metrics-off", config=_free_metrics_port_config(tmp_path), args=["--metrics-port", str(port)]
    )
    assert _request(sidecar, "GET", "/v1.0/metadata") == 200
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert "spec.metric" not in sidecar.log()  # applied, so no "not applied" warning


def test_a_taken_metrics_port_fails_startup_at_once(procs: Processes) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [
            sys.executable, "-m", "pydapr", "sidecar", "--app-id", "metrics-taken",
            "--dapr-http-port", str(free_port()), "--dapr-grpc-port", str(free_port()),
            "--metrics-port", str(port),
        ]  # fmt: skip
        out = subprocess.run(
            argv, check=False, env=procs.env(), capture_output=True, text=True, timeout=30, cwd=procs.workdir
        )
    assert out.returncode == 1
    assert f"cannot listen on 0.0.0.0 port {port} for metrics" in out.stderr
    assert "address already in use" in out.stderr


def test_path_matching_buckets_and_rules_from_the_configuration(procs: Processes, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        """apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: shaped
spec:
  metric:
    latencyDistributionBuckets: [5, 50]
    http:
      pathMatching: ["/v1.0/metadata", "/v1.0/state/{store}/{key}"]
    rules:
      - name: dapr_http_server_request_count
        labels:
          - name: status
            regex:
              "5xx": "^5..$"
"""
    )
    port = free_port()
    sidecar = procs.sidecar("metrics-shaped", config=config, args=["--metrics-port", str(port)])
    assert _request(sidecar, "GET", "/v1.0/metadata") == 200
    for key in ("a", "b", "c"):
        assert _request(sidecar, "GET", f"/v1.0/state/nostore/{key}") == 500  # no state store configured
    samples = scrape(port)
    count = "dapr_http_server_request_count"
    app = sidecar.app_id
    assert value(samples, count, app_id=app, method="GET", path="/v1.0/metadata", status="200") == 1
    state = "/v1.0/state/{store}/{key}"
    assert value(samples, count, app_id=app, method="GET", path=state, status="5xx") == 3
    assert not [ls for (name, ls) in samples if name == count and dict(ls)["status"] == "500"]
    # paths no pattern matches (the health probes) keep no path label
    assert total(samples, count, path="") >= 1
    bounds = {dict(ls)["le"] for (name, ls) in samples if name == "dapr_http_server_latency_bucket"}
    assert bounds == {"5", "50", "+Inf"}


def test_record_error_codes_counts_each_answered_error_by_code_and_category(
    procs: Processes, tmp_path: Path, dapr_settings
) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: codes\n"
        "spec:\n  metric:\n    recordErrorCodes: true\n"
    )
    port = free_port()
    sidecar = procs.sidecar("metrics-codes", config=config, args=["--metrics-port", str(port)])
    assert "recordErrorCodes" not in sidecar.log()  # applied: no startup warning
    req = urllib.request.Request(sidecar.url + "/v1.0/state/nostore/a")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    with refused.value as answer:
        code = json.loads(answer.read())["errorCode"]
    assert _request(sidecar, "GET", "/v1.0/state/nostore/b") == refused.value.code
    assert _request(sidecar, "GET", "/v1.0/metadata") == 200  # no error, nothing counted
    from dapr.clients import DaprClient

    dapr_settings(sidecar)
    with DaprClient() as client, pytest.raises(Exception, match="nostore"):  # the gRPC API
        client.get_state("nostore", "c")
    samples = scrape(port)
    counted = {tuple(sorted(ls)): v for (name, ls), v in samples.items() if name == "dapr_error_code_total"}
    labels = (("app_id", sidecar.app_id), ("category", "state"), ("error_code", code))
    # The harness's readiness polls may have met ERR_OUTBOUND_HEALTH_NOT_READY (category health)
    # before the sidecar was up; daprd counts those too. Every other count is the test's.
    assert {k: v for k, v in counted.items() if ("category", "health") not in k} == {labels: 3.0}
    assert all(("error_code", "ERR_OUTBOUND_HEALTH_NOT_READY") in k for k in counted if k != labels)


def test_a_component_that_fails_with_ignore_errors_is_counted(procs: Processes, tmp_path: Path) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    closed = free_port()  # nothing listens there: the store's init fails at once
    (resources / "broken.yaml").write_text(
        f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: broken
spec:
  type: state.redis
  version: v1
  ignoreErrors: true
  initTimeout: 5s
  metadata:
  - {{name: redisHost, value: "127.0.0.1:{closed}"}}
"""
    )
    port = free_port()
    sidecar = procs.sidecar("metrics-broken", resources=resources, args=["--metrics-port", str(port)])
    samples = scrape(port)
    app = sidecar.app_id
    fail = "dapr_runtime_component_init_fail_total"
    failed = {"component": "state.redis", "reason": "init", "componentName": "broken"}
    assert value(samples, fail, app_id=app, **failed) == 1
    assert value(samples, "dapr_runtime_component_loaded", app_id=app) == 0


def test_an_output_binding_is_counted_by_its_operation(mesh: Mesh) -> None:
    before = scrape(mesh.caller_metrics)
    for operation, status in (("create", 200), ("get", 200), ("delete", 204)):
        body = {"operation": operation, "data": "x", "metadata": {"fileName": "m1.txt"}}
        assert _request(mesh.caller, "POST", "/v1.0/bindings/mfiles", json.dumps(body).encode()) == status
    after = scrape(mesh.caller_metrics)
    name = "dapr_component_output_binding_count"
    labels = {"app_id": mesh.caller.app_id, "component": "mfiles", "namespace": "default", "success": "true"}
    for operation in ("create", "get", "delete"):
        got = value(after, name, operation=operation, **labels) - value(
            before, name, operation=operation, **labels
        )
        assert got == 1, operation
