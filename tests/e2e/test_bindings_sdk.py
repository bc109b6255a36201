"""Bindings end to end: the SDK invokes an output binding; an HTTP app receives cron events, and an
event the app first refuses is delivered again rather than dropped."""

from __future__ import annotations

import json
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.clients import DaprClient

from tests.e2e.harness import Processes, free_port, records, wait_port

pytestmark = pytest.mark.e2e

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: files
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - name: rootPath
    value: data
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: tick
spec:
  type: bindings.cron
  version: v1
  metadata:
  - name: schedule
    value: "@every 1s"
"""

APP = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    out = open(sys.argv[2], "a")
    calls = {"n": 0}

    class H(BaseHTTPRequestHandler):
        def do_OPTIONS(self):
            self.send_response(200 if self.path == "/tick" else 404)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            calls["n"] += 1
            # The first event is refused: the sidecar must deliver it again.
            status = 500 if calls["n"] == 1 else 200
            record = {
                "path": self.path,
                "status": status,
                "tz": self.headers.get("timeZone"),
                "ct": self.headers.get("content-type"),
            }
            out.write(json.dumps(record) + "\\n")
            out.flush()
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def _setup(procs: Processes) -> Path:
    resources = procs.workdir / "resources"
    resources.mkdir(exist_ok=True)
    (procs.workdir / "data").mkdir(exist_ok=True)
    (resources / "bindings.yaml").write_text(COMPONENTS)
    return resources


def test_sdk_invoke_binding_and_errors(procs: Processes, dapr_settings: Any) -> None:
    sidecar = procs.sidecar("binding-app", resources=_setup(procs))
    dapr_settings(sidecar)
    with DaprClient() as client:
        created = client.invoke_binding("files", "create", "hello", binding_metadata={"fileName": "a.txt"})
        assert json.loads(created.data) == {"fileName": "a.txt"}
        got = client.invoke_binding("files", "get", binding_metadata={"fileName": "a.txt"})
        assert got.data == b"hello"
        with pytest.raises(grpc.RpcError) as err:
            client.invoke_binding("files", "get", binding_metadata={"fileName": "../secrets.json"})
        assert "outside rootPath" in err.value.details()  # type: ignore[attr-defined]
    assert (procs.workdir / "data" / "a.txt").read_bytes() == b"hello"

    def post(name: str, body: Any) -> tuple[int, bytes]:
        req = urllib.request.Request(f"{sidecar.url}/v1.0/bindings/{name}", data=json.dumps(body).encode())
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    assert post("files", {"operation": "get", "metadata": {"fileName": "a.txt"}}) == (200, b"hello")
    assert post("files", {"operation": "delete", "metadata": {"fileName": "a.txt"}})[0] == 204
    status, body = post("nobinding", {"operation": "get"})
    assert status == 500 and json.loads(body)["errorCode"] == "ERR_INVOKE_OUTPUT_BINDING"
    status, body = post("files", {"operation": "exec"})
    assert status == 500 and "supported operations:create get list delete" in json.loads(body)["message"]
    status, body = post("files", {"operation": 5})
    assert status == 400 and json.loads(body)["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_cron_events_reach_the_app_and_refused_ones_are_retried(procs: Processes) -> None:
    app_port = free_port()
    received = procs.workdir / "received.jsonl"
    script = procs.workdir / "app.py"
    script.write_text(APP)
    app = procs.app("cron-receiver", script, args=[str(app_port), str(received)])
    wait_port(app_port, proc=app)
    procs.sidecar("cron-app", resources=_setup(procs), app_port=app_port)
    deadline = time.monotonic() + 15
    lines: list[Any] = []
    while time.monotonic() < deadline:
        lines = records(received)
        if len([x for x in lines if x["status"] == 200]) >= 2:
            break
        time.sleep(0.1)
    assert lines[0]["status"] == 500
    assert [x["status"] for x in lines[1:3]] == [200, 200]
    assert all(x["path"] == "/tick" and x["tz"] for x in lines)
    # daprd sends every input binding event as application/json, whatever the data.
    assert {x["ct"] for x in lines} == {"application/json"}
