"""The sidecar as a user meets it: startup errors, readiness, API tokens, limits, shutdown."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Processes, free_port, http_status, wait_port
from tests.e2e.test_invoke import as_json, call

pytestmark = pytest.mark.e2e


def _sidecar_argv(app_id: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pydapr",
        "sidecar",
        "--app-id",
        app_id,
        "--dapr-http-port",
        str(free_port()),
        "--dapr-grpc-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        *extra,
    ]


def _run_to_exit(argv: list[str], procs: Processes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, check=False, env=procs.env(), capture_output=True, text=True, timeout=30, cwd=procs.workdir
    )


def test_port_taken_is_one_clear_line_and_exit_1(procs: Processes) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _run_to_exit(
            [
                sys.executable,
                "-m",
                "pydapr",
                "sidecar",
                "--app-id",
                "a",
                "--dapr-http-port",
                str(port),
                "--dapr-grpc-port",
                str(free_port()),
                "--metrics-port",
                str(free_port()),
            ],
            procs,
        )
    assert out.returncode == 1
    assert f"cannot listen on port {port} for the Dapr HTTP API: address already in use" in out.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _run_to_exit([*_sidecar_argv("a")[:-2], "--dapr-grpc-port", str(port)], procs)
    assert out.returncode == 1
    assert f"cannot listen on port {port} for the Dapr gRPC API" in out.stderr


def test_bad_resource_names_file_resource_and_field(procs: Processes, tmp_path: Path) -> None:
    res = tmp_path / "res"
    res.mkdir()
    (res / "store.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: mystore\nspec:\n  version: v1\n"
    )
    out = _run_to_exit(_sidecar_argv("a", "--resources-path", str(res)), procs)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f'pydapr sidecar: fatal: {res / "store.yaml"}: Component "mystore": spec.type: field required'
    )


def test_unknown_component_type_stops_startup_unless_ignore_errors(procs: Processes, tmp_path: Path) -> None:
    res = tmp_path / "res"
    res.mkdir()
    doc = (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: odd\n"
        "spec:\n  type: state.nosuch\n  version: v1\n"
    )
    (res / "odd.yaml").write_text(doc)
    out = _run_to_exit(_sidecar_argv("a", "--resources-path", str(res)), procs)
    assert out.returncode == 1
    assert 'Component "odd": unknown component type state.nosuch/v1' in out.stderr
    (res / "odd.yaml").write_text(doc + "  ignoreErrors: true\n")
    sidecar = procs.sidecar("a", resources=res)
    assert call(f"{sidecar.url}/v1.0/healthz")[0] == 204
    assert as_json(call(f"{sidecar.url}/v1.0/metadata")[2]).get("components", []) == []


def test_bad_flag_is_a_usage_error(procs: Processes) -> None:
    out = _run_to_exit(_sidecar_argv("a", "--max-body-size", "4Qi"), procs)
    assert out.returncode == 2
    assert "'4Qi' has an unknown unit" in out.stderr


def test_not_ready_until_app_is_reachable(procs: Processes) -> None:
    app_port = free_port()
    sidecar = procs.sidecar("late", app_port=app_port)
    assert http_status(sidecar.url + "/v1.0/healthz/outbound") == 204
    status, _, body = call(sidecar.url + "/v1.0/healthz")
    assert status == 500
    assert as_json(body)["errorCode"] == "ERR_HEALTH_NOT_READY"
    app = procs.app("late", APPS / "http_app.py", env={"APP_ID": "late", "APP_PORT": str(app_port)})
    wait_port(app_port, proc=app)
    procs.wait_healthy(sidecar)


def test_api_token_required_on_http_and_grpc(procs: Processes) -> None:
    sidecar = procs.sidecar("secure", env={"DAPR_API_TOKEN": "s3cret"})
    # Health probes need no token (Kubernetes probes can't send one).
    assert http_status(sidecar.url + "/v1.0/healthz") == 204
    status, headers, body = call(sidecar.url + "/v1.0/metadata")
    assert status == 401
    assert body == b"invalid api token\n"  # daprd's answer, plain text
    assert headers["content-type"].startswith("text/plain")
    assert call(sidecar.url + "/v1.0/metadata", headers={"dapr-api-token": "wrong"})[0] == 401
    assert call(sidecar.url + "/v1.0/metadata", headers={"dapr-api-token": "s3cret"})[0] == 200

    from dapr.proto.runtime.v1 import dapr_pb2_grpc

    from pydapr.api.grpc.wire import runtime  # GetMetadataRequest in either SDK layout

    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.GetMetadata(runtime.GetMetadataRequest(), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        meta = stub.GetMetadata(
            runtime.GetMetadataRequest(), metadata=(("dapr-api-token", "s3cret"),), timeout=5
        )
        assert meta.id == "secure"


def test_body_over_max_body_size_is_refused(procs: Processes) -> None:
    sidecar = procs.sidecar("small", args=["--max-body-size", "1Ki"])
    status, _, body = call(sidecar.url + "/v1.0/invoke/small/method/x", "POST", b"x" * 2048)
    assert status == 413
    assert as_json(body)["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert sidecar.alive


def test_workflow_api_without_placement_answers_cleanly(procs: Processes) -> None:
    # Workflows stand on the actor runtime, as in daprd: with no placement every workflow call
    # answers the API's error naming the cause, and the sidecar stays up.
    sidecar = procs.sidecar("plain")
    for method, path, code in (
        ("GET", "/v1.0-beta1/workflows/dapr/abc", "ERR_GET_WORKFLOW"),
        ("GET", "/v1.0/workflows/dapr/abc", "ERR_GET_WORKFLOW"),
        ("POST", "/v1.0/workflows/dapr/wf/start", "ERR_START_WORKFLOW"),
        ("POST", "/v1.0-alpha1/workflows/dapr/abc/terminate", "ERR_TERMINATE_WORKFLOW"),
    ):
        status, _, body = call(sidecar.url + path, method)
        assert status == 500, path
        assert as_json(body)["errorCode"] == code, path
        assert "placement service is not configured" in as_json(body)["message"], path
    from dapr.proto.runtime.v1 import dapr_pb2_grpc

    from pydapr.api.grpc.wire import runtime

    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            dapr_pb2_grpc.DaprStub(channel).GetWorkflowBeta1(
                runtime.GetWorkflowRequest(instance_id="x", workflow_component="dapr"), timeout=5
            )
        assert info.value.code() == grpc.StatusCode.INTERNAL
        assert "placement service is not configured" in (info.value.details() or "")
    assert sidecar.alive


def test_app_max_concurrency_limits_calls_in_flight(procs: Processes) -> None:
    app_port = free_port()
    sidecar = procs.sidecar("limited", app_port=app_port, args=["--app-max-concurrency", "2"])
    app = procs.app("limited", APPS / "http_app.py", env={"APP_ID": "limited", "APP_PORT": str(app_port)})
    wait_port(app_port, proc=app)
    procs.wait_healthy(sidecar)
    threads = [
        threading.Thread(target=call, args=(sidecar.url + "/v1.0/invoke/limited/method/slow?seconds=0.3",))
        for _ in range(6)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert as_json(call(f"http://127.0.0.1:{app_port}/peak")[2])["peak"] == 2
    assert elapsed >= 0.85  # three waves of 0.3 s


def test_graceful_shutdown_lets_in_flight_requests_finish(procs: Processes) -> None:
    app_port = free_port()
    sidecar = procs.sidecar("graceful", app_port=app_port)
    app = procs.app("graceful", APPS / "http_app.py", env={"APP_ID": "graceful", "APP_PORT": str(app_port)})
    wait_port(app_port, proc=app)
    procs.wait_healthy(sidecar)
    result: dict[str, object] = {}

    def slow_call() -> None:
        result["reply"] = call(sidecar.url + "/v1.0/invoke/graceful/method/slow?seconds=1")

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.3)
    sidecar.signal(15)
    t.join(10)
    status, _, body = result["reply"]  # type: ignore[misc]
    assert status == 200
    assert json.loads(body) == {"slept": 1.0}
    assert sidecar.popen.wait(10) == 0


def test_shutdown_api_stops_the_sidecar(procs: Processes) -> None:
    sidecar = procs.sidecar("stopme")
    assert call(sidecar.url + "/v1.0/shutdown", "POST")[0] == 204
    assert sidecar.popen.wait(10) == 0


def test_http_endpoint_resource_and_full_url(procs: Processes, tmp_path: Path) -> None:
    app_port = free_port()
    app = procs.app("external", APPS / "http_app.py", env={"APP_ID": "external", "APP_PORT": str(app_port)})
    wait_port(app_port, proc=app)
    res = tmp_path / "res"
    res.mkdir()
    (res / "endpoint.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata:\n  name: legacy\nspec:\n"
        f"  baseUrl: http://127.0.0.1:{app_port}\n  headers:\n  - name: x-api-key\n    value: k123\n"
    )
    sidecar = procs.sidecar("caller", resources=res)
    status, _, body = call(sidecar.url + "/v1.0/invoke/legacy/method/echo/v1/users?page=2", "POST", b"hi")
    assert status == 200
    seen = as_json(body)
    assert (seen["path"], seen["query"], seen["body"]) == ("v1/users", "page=2", "hi")
    assert seen["headers"]["x-api-key"] == "k123"
    url = f"http%3A%2F%2F127.0.0.1%3A{app_port}"
    status, _, body = call(sidecar.url + f"/v1.0/invoke/{url}/method/echo/direct")
    assert status == 200
    assert as_json(body)["path"] == "direct"
    assert as_json(call(sidecar.url + "/v1.0/metadata")[2])["httpEndpoints"] == [{"name": "legacy"}]


def test_app_health_check_reported_in_metadata(procs: Processes) -> None:
    app_port = free_port()
    sidecar = procs.sidecar(
        "probed",
        app_port=app_port,
        args=[
            "--enable-app-health-check",
            "--app-health-probe-interval",
            "0.2",
            "--app-health-threshold",
            "1",
        ],
    )
    app = procs.app("probed", APPS / "http_app.py", env={"APP_ID": "probed", "APP_PORT": str(app_port)})
    wait_port(app_port, proc=app)
    procs.wait_healthy(sidecar)
    health = as_json(call(sidecar.url + "/v1.0/metadata")[2])["appConnectionProperties"]["health"]
    assert health["healthCheckPath"] == "/healthz"
    assert health["healthThreshold"] == 1
    assert call(sidecar.url + "/v1.0/invoke/probed/method/neworder", "POST", b"{}")[0] == 200
    assert call(f"http://127.0.0.1:{app_port}/sick", "POST")[0] == 204
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status, _, body = call(sidecar.url + "/v1.0/invoke/probed/method/neworder", "POST", b"{}")
        if status != 200:
            break
        time.sleep(0.1)
    assert status == 500
    assert as_json(body) == {
        "errorCode": "ERR_DIRECT_INVOKE",
        "message": "failed to invoke, id: probed, err: app is not in a healthy state",
    }


def test_unix_domain_socket(procs: Processes, tmp_path: Path) -> None:
    import http.client

    sockets = tmp_path / "sock"
    sockets.mkdir()
    proc = procs.sidecar("uds", args=["--unix-domain-socket", str(sockets)], wait=False)
    path = sockets / "dapr-http-uds.socket"
    deadline = time.monotonic() + 20
    while not path.exists() and time.monotonic() < deadline:
        assert proc.alive, proc.log()
        time.sleep(0.05)

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(path))

    conn = UnixConnection("localhost")
    conn.request("GET", "/v1.0/metadata")
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read())["id"] == "uds"
    conn.close()
    assert (sockets / "dapr-grpc-uds.socket").exists()


def test_http_endpoint_secret_header_and_client_tls(procs: Processes, tmp_path: Path) -> None:
    """An HTTPS endpoint trusted through clientTLS.rootCA, with a header whose value is a secret."""
    import http.server
    import ssl

    import trustme

    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    seen: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.update({k.lower(): v for k, v in self.headers.items()})
            seen["path"] = self.path
            body = b"secure hello"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(ctx)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        res = tmp_path / "res"
        res.mkdir()
        (tmp_path / "secrets.json").write_text(json.dumps({"partner-api-key": "k-9f2"}))
        (res / "secrets.yaml").write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: localsecrets\nspec:\n"
            "  type: secretstores.local.file\n  version: v1\n  metadata:\n"
            f"  - name: secretsFile\n    value: {tmp_path / 'secrets.json'}\n"
        )
        root_ca = ca.cert_pem.bytes().decode().strip().replace("\n", "\n        ")
        (res / "endpoint.yaml").write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata:\n  name: partner\nspec:\n"
            f"  baseUrl: https://127.0.0.1:{port}\n"
            "  headers:\n  - name: x-api-key\n    secretKeyRef:\n      name: partner-api-key\n"
            f"  clientTLS:\n    rootCA:\n      value: |\n        {root_ca}\n"
        )
        sidecar = procs.sidecar("caller", resources=res)
        status, _, body = call(sidecar.url + "/v1.0/invoke/partner/method/orders?id=3")
        assert (status, body) == (200, b"secure hello")
        assert seen["x-api-key"] == "k-9f2"
        assert seen["path"] == "/orders?id=3"
        # The secret never shows in the sidecar's log.
        assert "k-9f2" not in sidecar.log()
    finally:
        server.shutdown()
        server.server_close()


def test_http_endpoint_with_missing_secret_stops_startup(procs: Processes, tmp_path: Path) -> None:
    res = tmp_path / "res"
    res.mkdir()
    (res / "endpoint.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata:\n  name: partner\nspec:\n"
        "  baseUrl: https://example.invalid\n"
        "  headers:\n  - name: x-api-key\n    secretKeyRef:\n      name: partner\n      key: apiKey\n"
    )
    out = _run_to_exit(_sidecar_argv("a", "--resources-path", str(res)), procs)
    assert out.returncode == 1
    assert (
        f"{res / 'endpoint.yaml'}: HTTPEndpoint \"partner\": spec.headers: header 'x-api-key' uses "
        "secretKeyRef but auth.secretStore is not set (secret stores: none loaded)"
    ) in out.stderr


def test_head_is_answered_wherever_get_is(procs: Processes) -> None:
    sidecar = procs.sidecar("probed")
    for path in ("/v1.0/healthz", "/v1.0/healthz/outbound", "/v1.0/metadata"):
        status, _, body = call(sidecar.url + path, "HEAD")
        assert status == (200 if path.endswith("metadata") else 204), path
        assert body == b""
    status, _, _ = call(sidecar.url + "/v1.0/metadata")
    assert status == 200


def _preflight(url: str, origin: str, method: str = "PUT") -> tuple[int, dict[str, str], bytes]:
    return call(
        url,
        "OPTIONS",
        None,
        {"origin": origin, "access-control-request-method": method, "access-control-request-headers": "x-a"},
    )


def test_cors_with_allowed_origins(procs: Processes) -> None:
    sidecar = procs.sidecar(
        "browser",
        args=["--allowed-origins", "https://app.example.com,https://*.corp.example"],
        env={"DAPR_API_TOKEN": "s3cret"},
    )
    state = sidecar.url + "/v1.0/state/nostore/k"
    # A preflight needs no token and never reaches the API.
    status, headers, body = _preflight(state, "https://app.example.com")
    assert (status, body) == (200, b"")
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-methods"] == "PUT"
    assert headers["access-control-allow-headers"] == "x-a"
    status, headers, _ = _preflight(state, "https://team.corp.example")
    assert headers["access-control-allow-origin"] == "https://team.corp.example"
    for origin, method in (("https://evil.example", "PUT"), ("https://app.example.com", "OPTIONS")):
        status, headers, _ = _preflight(state, origin, method)
        assert status == 200
        assert "access-control-allow-origin" not in headers
    # Actual requests, errors included, carry the header for an allowed origin only.
    status, headers, body = call(
        sidecar.url + "/v1.0/metadata",
        headers={"origin": "https://app.example.com", "dapr-api-token": "s3cret"},
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    status, headers, body = call(state, headers={"origin": "https://app.example.com"})
    assert status == 401
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    status, headers, _ = call(sidecar.url + "/v1.0/healthz", headers={"origin": "https://evil.example"})
    assert status == 204
    assert "access-control-allow-origin" not in headers


def test_no_cors_headers_by_default(procs: Processes) -> None:
    sidecar = procs.sidecar("plainbrowser")
    status, headers, _ = call(sidecar.url + "/v1.0/metadata", headers={"origin": "https://app.example.com"})
    assert status == 200
    assert "access-control-allow-origin" not in headers


def test_config_is_repeatable_and_api_logging_follows_it(procs: Processes, tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    first.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: first\nspec:\n"
        "  api:\n    denied:\n    - name: state\n      version: v1.0\n"
    )
    second = tmp_path / "second.yaml"
    second.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: second\nspec:\n"
        "  logging:\n    apiLogging:\n      enabled: true\n      omitHealthChecks: true\n"
    )
    sidecar = procs.sidecar("twoconfigs", args=["--config", str(first), "--config", str(second)])
    assert call(sidecar.url + "/v1.0/healthz")[0] == 204
    assert call(sidecar.url + "/v1.0/metadata")[0] == 200
    deadline = time.monotonic() + 5
    while "/v1.0/metadata" not in sidecar.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = sidecar.log()
    # Both files were read (the first's setting is named, from the combined configuration) ...
    named = [line for line in log.splitlines() if "names no protocol and applies to neither" in line]
    assert len(named) == 1 and "second.yaml" in named[0], log
    # ... and the second's API logging is on, without the health probes.
    assert "code=200 " in log and 'method="GET /v1.0/metadata" scope=dapr.runtime.http-info ' in log
    assert 'method="GET /v1.0/healthz' not in log
