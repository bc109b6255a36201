"""Service invocation end to end: two apps, each under its own real sidecar, called over HTTP and
gRPC with the official Dapr Python SDK (sync and asyncio), plus gRPC proxying and the error cases."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Proc, Processes, Sidecar, free_port, wait_port

pytestmark = pytest.mark.e2e


@dataclass
class Mesh:
    orders: Sidecar  # sidecar of the FastAPI app "orders"
    greeter: Sidecar  # sidecar of the gRPC app "greeter"
    orders_app: Proc
    greeter_app: Proc
    procs: Processes


def _start_app(procs: Processes, app_id: str, script: str, protocol: str) -> tuple[Sidecar, Proc]:
    app_port = free_port()
    sidecar = procs.sidecar(app_id, app_port=app_port, app_protocol=protocol)
    env = {
        "APP_ID": app_id,
        "APP_PORT": str(app_port),
        "DAPR_HTTP_PORT": str(sidecar.http_port),
        "DAPR_GRPC_PORT": str(sidecar.grpc_port),
    }
    app = procs.app(app_id, APPS / script, env=env)
    wait_port(app_port, proc=app)
    procs.wait_healthy(sidecar)
    return sidecar, app


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("invoke")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    try:
        orders, orders_app = _start_app(procs, "orders", "http_app.py", "http")
        greeter, greeter_app = _start_app(procs, "greeter", "grpc_app.py", "grpc")
        yield Mesh(orders, greeter, orders_app, greeter_app, procs)
    finally:
        procs.stop_all()


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def as_json(body: bytes) -> Any:
    return json.loads(body)


# --- plain HTTP, as curl would -------------------------------------------------------------------
def test_http_invoke_own_app(mesh: Mesh) -> None:
    status, _, body = call(
        f"{mesh.orders.url}/v1.0/invoke/orders/method/neworder",
        "POST",
        b'{"id": 1}',
        {"content-type": "application/json"},
    )
    assert status == 200
    assert as_json(body) == {"accepted": {"id": 1}, "by": "orders"}


def test_http_invoke_other_app_passes_verb_path_query_headers(mesh: Mesh) -> None:
    for verb in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        status, headers, body = call(
            f"{mesh.greeter.url}/v1.0/invoke/orders/method/echo/a/b%20c?x=1&y=two",
            verb,
            b"payload" if verb in ("POST", "PUT", "PATCH") else None,
            {"x-custom": "yes", "content-type": "text/plain"},
        )
        assert status == 200, body
        seen = as_json(body)
        assert seen["app"] == "orders"
        assert seen["method"] == verb
        assert seen["path"] == "a/b c"
        assert seen["query"] == "x=1&y=two"
        assert seen["headers"]["x-custom"] == "yes"
        assert seen["headers"]["dapr-caller-app-id"] == "greeter"
        assert seen["headers"]["dapr-callee-app-id"] == "orders"
        assert "dapr-api-token" not in seen["headers"]
        assert headers["x-echo-app"] == "orders"
        if verb in ("POST", "PUT", "PATCH"):
            assert seen["body"] == "payload"


def test_http_invoke_with_dapr_app_id_header(mesh: Mesh) -> None:
    status, _, body = call(f"{mesh.greeter.url}/echo/hello?q=1", "POST", b"hi", {"dapr-app-id": "orders"})
    assert status == 200
    seen = as_json(body)
    assert (seen["path"], seen["query"], seen["body"]) == ("hello", "q=1", "hi")
    assert "dapr-app-id" not in seen["headers"]


def test_dapr_app_id_header_takes_precedence_over_the_path(mesh: Mesh) -> None:
    # As in daprd: with the header, the whole path is the method of the app the header names.
    status, _, body = call(
        f"{mesh.greeter.url}/v1.0/invoke/nobody/method/echo", "GET", None, {"dapr-app-id": "orders"}
    )
    assert status == 404
    assert as_json(body) == {"detail": "Not Found"}  # FastAPI's answer: the orders app was reached
    status, _, body = call(
        f"{mesh.greeter.url}/echo/v1.0/invoke/nobody/method/x", "GET", None, {"dapr-app-id": "orders"}
    )
    assert status == 200
    assert as_json(body)["path"] == "v1.0/invoke/nobody/method/x"


def test_http_invoke_with_basic_auth_app_id(mesh: Mesh) -> None:
    credentials = base64.b64encode(b"dapr-app-id:orders").decode()
    auth = {"authorization": f"Basic {credentials}"}
    status, _, body = call(f"{mesh.greeter.url}/echo/basic/../auth//x/?q=2", "PUT", b"b", auth)
    assert status == 200, body
    seen = as_json(body)
    assert (seen["app"], seen["method"], seen["path"], seen["query"]) == ("orders", "PUT", "auth/x/", "q=2")
    # Any other Basic credentials are not an app id: the path is not an API route, so 404.
    other = base64.b64encode(b"user:orders").decode()
    status, _, body = call(f"{mesh.greeter.url}/echo/x", "GET", None, {"authorization": f"Basic {other}"})
    assert status == 404
    assert as_json(body)["errorCode"] == "ERR_NOT_FOUND"


def test_http_invoke_grpc_app(mesh: Mesh) -> None:
    status, headers, body = call(
        f"{mesh.orders.url}/v1.0/invoke/greeter/method/echo?k=v",
        "POST",
        b'{"n": 2}',
        {"content-type": "application/json", "x-trace-me": "1"},
    )
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    seen = as_json(body)
    assert seen["app"] == "greeter"
    assert seen["data"] == '{"n": 2}'
    assert seen["content_type"] == "application/json"
    assert seen["metadata"]["x-trace-me"] == "1"


def test_large_body_round_trips(mesh: Mesh) -> None:
    payload = b"x" * (1024 * 1024)
    status, _, body = call(f"{mesh.greeter.url}/v1.0/invoke/orders/method/echo/big", "POST", payload)
    assert status == 200
    assert len(as_json(body)["body"]) == len(payload)


# --- the official SDK -----------------------------------------------------------------------------
def test_sdk_sync_http_invocation(mesh: Mesh) -> None:
    # In its own process: the SDK's sync HTTP invoker leaves an event loop open per call, which
    # this test process (warnings as errors) would report as a leak of ours.
    script = (
        "from dapr.clients import DaprClient\n"
        "import json\n"
        "with DaprClient() as c:\n"
        "    r = c.invoke_method('orders', 'neworder', data='{\"id\": 7}', http_verb='POST',"
        " content_type='application/json')\n"
        "    print(json.dumps({'status': r.status_code, 'body': r.json()}))\n"
    )
    env = {
        **os.environ,
        "DAPR_HTTP_PORT": str(mesh.greeter.http_port),
        "DAPR_GRPC_PORT": str(mesh.greeter.grpc_port),
    }
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60, check=True)
    assert json.loads(out.stdout) == {"status": 200, "body": {"accepted": {"id": 7}, "by": "orders"}}


def test_sdk_sync_grpc_invocation_of_http_and_grpc_apps(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient

    dapr_settings(mesh.orders, "grpc")
    with DaprClient(address=f"127.0.0.1:{mesh.orders.grpc_port}") as client:
        resp = client.invoke_method(
            "greeter", "echo", data=b"ping", content_type="text/plain", http_verb="POST"
        )
        seen = json.loads(resp.data)
        assert (seen["app"], seen["data"], seen["content_type"]) == ("greeter", "ping", "text/plain")
        resp = client.invoke_method(
            "orders", "neworder", data=b'{"id": 3}', content_type="application/json", http_verb="POST"
        )
        assert json.loads(resp.data) == {"accepted": {"id": 3}, "by": "orders"}


async def test_sdk_async_grpc_invocation(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.aio.clients import DaprClient

    dapr_settings(mesh.orders, "grpc")
    async with DaprClient(address=f"127.0.0.1:{mesh.orders.grpc_port}") as client:
        resp = await client.invoke_method("greeter", "echo", data=b"async", http_verb="POST")
        assert json.loads(resp.data)["data"] == "async"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_app_calls_app_with_sdk_inside(mesh: Mesh, protocol: str) -> None:
    """The orders app itself calls the greeter app through its own sidecar with the SDK."""
    status, _, body = call(
        f"{mesh.orders.url}/v1.0/invoke/orders/method/relay?target=greeter&method=echo&protocol={protocol}"
    )
    assert status == 200, body
    relayed = as_json(body)
    assert json.loads(relayed["body"])["data"] == '{"from": "relay"}'


def test_app_calls_app_with_async_sdk_inside(mesh: Mesh) -> None:
    status, _, body = call(
        f"{mesh.greeter.url}/v1.0/invoke/orders/method/relay-async?target=greeter&method=echo"
    )
    assert status == 200, body
    assert json.loads(as_json(body)["body"])["data"] == '{"from": "relay-async"}'


# --- gRPC proxying ---------------------------------------------------------------------------------
def test_grpc_proxy_unary_and_streaming(mesh: Mesh) -> None:
    ident = lambda b: b  # noqa: E731 - raw bytes both ways
    with grpc.insecure_channel(f"127.0.0.1:{mesh.orders.grpc_port}") as channel:
        say = channel.unary_unary("/test.Greeter/Say", request_serializer=ident, response_deserializer=ident)
        assert say(b"bob", metadata=(("dapr-app-id", "greeter"),), timeout=10) == b"hello bob from greeter"
        count = channel.unary_stream(
            "/test.Greeter/Count", request_serializer=ident, response_deserializer=ident
        )
        assert list(count(b"5", metadata=(("dapr-app-id", "greeter"),), timeout=10)) == [
            b"0",
            b"1",
            b"2",
            b"3",
            b"4",
        ]
    # Proxying from the greeter's own sidecar goes straight to its app.
    with grpc.insecure_channel(f"127.0.0.1:{mesh.greeter.grpc_port}") as channel:
        say = channel.unary_unary("/test.Greeter/Say", request_serializer=ident, response_deserializer=ident)
        assert say(b"amy", metadata=(("dapr-app-id", "greeter"),), timeout=10) == b"hello amy from greeter"


def test_grpc_proxy_unknown_app(mesh: Mesh) -> None:
    ident = lambda b: b  # noqa: E731
    with grpc.insecure_channel(f"127.0.0.1:{mesh.orders.grpc_port}") as channel:
        say = channel.unary_unary("/test.Greeter/Say", request_serializer=ident, response_deserializer=ident)
        with pytest.raises(grpc.RpcError) as info:
            say(b"x", metadata=(("dapr-app-id", "nobody"),), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


# --- errors ----------------------------------------------------------------------------------------
def test_unknown_app_id(mesh: Mesh) -> None:
    status, _, body = call(f"{mesh.orders.url}/v1.0/invoke/nobody/method/x", "POST", b"{}")
    assert status == 500
    err = as_json(body)
    assert err["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "nobody" in err["message"]


def test_missing_method(mesh: Mesh) -> None:
    status, _, body = call(f"{mesh.orders.url}/v1.0/invoke/orders/method/", "POST", b"{}")
    assert status == 404
    assert as_json(body)["errorCode"] == "ERR_DIRECT_INVOKE"


def test_app_error_status_and_body_pass_through(mesh: Mesh) -> None:
    status, _, body = call(f"{mesh.greeter.url}/v1.0/invoke/orders/method/fail")
    assert (status, body) == (500, b"the app failed on purpose")
    status, _, body = call(f"{mesh.greeter.url}/v1.0/invoke/orders/method/teapot")
    assert (status, body) == (418, b"short and stout")


def test_sdk_grpc_sees_app_errors(mesh: Mesh, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    dapr_settings(mesh.greeter, "grpc")
    with DaprClient(address=f"127.0.0.1:{mesh.greeter.grpc_port}") as client:
        # An HTTP app's 500 becomes Dapr's mapping of the status (Unknown) with the HTTP code attached.
        with pytest.raises(grpc.RpcError) as info:
            client.invoke_method("orders", "fail", http_verb="GET")
        assert info.value.code() == grpc.StatusCode.UNKNOWN
        status = rpc_status.from_call(info.value)
        assert status is not None
        detail = error_details_pb2.ErrorInfo()
        status.details[0].Unpack(detail)
        assert detail.metadata["http.code"] == "500"
        # A gRPC app's own error status comes back as it was.
        with pytest.raises(grpc.RpcError) as info:
            client.invoke_method("greeter", "fail", data=b"x")
        assert "failed on purpose" in (info.value.details() or "")
        # An unknown app is the sidecar's own catalog error.
        with pytest.raises(grpc.RpcError) as info:
            client.invoke_method("nobody", "x", data=b"x")
        assert info.value.code() == grpc.StatusCode.INTERNAL
        status = rpc_status.from_call(info.value)
        assert status is not None
        status.details[0].Unpack(detail)
        assert detail.reason == "ERR_DIRECT_INVOKE"


def test_metadata_and_health(mesh: Mesh) -> None:
    assert call(f"{mesh.orders.url}/v1.0/healthz")[0] == 204
    assert call(f"{mesh.orders.url}/v1.0/healthz/outbound")[0] == 204
    status, _, body = call(f"{mesh.orders.url}/v1.0/metadata")
    assert status == 200
    meta = as_json(body)
    assert meta["id"] == "orders"
    assert meta["appConnectionProperties"]["protocol"] == "http"
    assert call(f"{mesh.orders.url}/v1.0/metadata/team", "PUT", b"payments")[0] == 204
    assert as_json(call(f"{mesh.orders.url}/v1.0/metadata")[2])["extended"]["team"] == "payments"


def test_app_down_gives_direct_invoke_error(tmp_path: Any, procs: Processes) -> None:
    sidecar, app = _start_app(procs, "fragile", "http_app.py", "http")
    caller = procs.sidecar("caller")
    assert call(f"{caller.url}/v1.0/invoke/fragile/method/neworder", "POST", b"{}")[0] == 200
    app.stop()
    status, _, body = call(f"{caller.url}/v1.0/invoke/fragile/method/neworder", "POST", b"{}")
    assert status == 500
    assert as_json(body)["errorCode"] == "ERR_DIRECT_INVOKE"
    assert sidecar.alive
