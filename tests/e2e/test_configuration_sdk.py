"""Configuration end to end: the official SDK (get, streaming subscribe, unsubscribe) and an HTTP app
receiving updates, against a sidecar with the embedded SQLite store edited by another process."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from dapr.clients import DaprClient

from tests.e2e.harness import Processes, Sidecar, free_port, records, wait_port

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: configstore
spec:
  type: configuration.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: {db}
  - name: pollInterval
    value: 20ms
"""

APP = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    out = open(sys.argv[2], "a")

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            out.write(json.dumps({"path": self.path, "body": json.loads(body)}) + "\\n")
            out.flush()
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def _write(db: Path, key: str, value: str, version: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO configuration (key, value, version) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version",
            (key, value, version),
        )


def _get(sidecar: Sidecar, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(sidecar.url + path, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _start(procs: Processes, app_port: int | None = None) -> tuple[Sidecar, Path]:
    resources = procs.workdir / "resources"
    resources.mkdir(exist_ok=True)
    db = procs.workdir / "configuration.db"
    (resources / "config.yaml").write_text(COMPONENT.format(db=db))
    sidecar = procs.sidecar("config-app", resources=resources, app_port=app_port)
    return sidecar, db


def _wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_sdk_get_subscribe_unsubscribe(procs: Processes, dapr_settings: Any) -> None:
    sidecar, db = _start(procs)
    _write(db, "color", "blue", "1")
    _write(db, "size", "10", "1")
    dapr_settings(sidecar)
    seen: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def handler(sub_id: str, response: Any) -> None:
        with lock:
            for key, item in response.items.items():
                seen.append((key, item.value, item.version))

    with DaprClient() as client:
        got = client.get_configuration("configstore", ["color", "nokey"])
        assert {k: (v.value, v.version) for k, v in got.items.items()} == {"color": ("blue", "1")}
        everything = client.get_configuration("configstore", [])
        assert set(everything.items) == {"color", "size"}
        sub_id = client.subscribe_configuration("configstore", ["color"], handler)
        assert sub_id
        for i in range(2, 7):
            _write(db, "color", f"c{i}", str(i))
        _write(db, "size", "11", "2")  # not subscribed
        _wait(lambda: len(seen) >= 5)
        time.sleep(0.2)
        assert seen == [("color", f"c{i}", str(i)) for i in range(2, 7)]
        assert client.unsubscribe_configuration("configstore", sub_id) is True
        _write(db, "color", "after", "9")
        time.sleep(0.3)
        assert len(seen) == 5
        assert client.unsubscribe_configuration("configstore", sub_id) is False

    status, body = _get(sidecar, "/v1.0/configuration/configstore?key=color&key=size")
    assert status == 200
    assert body == {
        "color": {"value": "after", "version": "9", "metadata": {}},
        "size": {"value": "11", "version": "2", "metadata": {}},
    }
    assert _get(sidecar, "/v1.0-alpha1/configuration/configstore?key=nokey") == (204, None)
    status, body = _get(sidecar, "/v1.0/configuration/nostore")
    assert (status, body["errorCode"]) == (400, "ERR_CONFIGURATION_STORE_NOT_FOUND")
    # No app: an HTTP subscription has nowhere to send updates.
    status, body = _get(sidecar, "/v1.0/configuration/configstore/subscribe?key=color")
    assert (status, body["errorCode"]) == (500, "ERR_APP_CHANNEL_NIL")


def test_http_subscription_posts_updates_to_the_app(procs: Processes) -> None:
    app_port = free_port()
    received = procs.workdir / "received.jsonl"
    script = procs.workdir / "app.py"
    script.write_text(APP)
    app = procs.app("receiver", script, args=[str(app_port), str(received)])
    wait_port(app_port, proc=app)
    sidecar, db = _start(procs, app_port)
    procs.wait_healthy(sidecar)
    status, body = _get(sidecar, "/v1.0/configuration/configstore/subscribe?key=flag")
    assert status == 200
    sub_id = body["id"]
    for i in range(3):
        _write(db, "flag", f"on-{i}", str(i))
    _write(db, "other", "x", "1")

    def lines() -> list[Any]:
        return records(received)

    _wait(lambda: len(lines()) >= 3)
    time.sleep(0.2)
    got = lines()
    assert [g["path"] for g in got] == ["/configuration/configstore/flag"] * 3
    assert [g["body"] for g in got] == [
        {"id": sub_id, "items": {"flag": {"value": f"on-{i}", "version": str(i), "metadata": {}}}}
        for i in range(3)
    ]
    assert _get(sidecar, f"/v1.0/configuration/configstore/{sub_id}/unsubscribe") == (200, {"ok": True})
    status, body = _get(sidecar, f"/v1.0/configuration/configstore/{sub_id}/unsubscribe")
    assert status == 500 and body["ok"] is False and sub_id in body["message"]
    _write(db, "flag", "late", "9")
    time.sleep(0.3)
    assert len(lines()) == 3


def test_no_configuration_store(procs: Processes) -> None:
    sidecar = procs.sidecar("noconfig", resources=procs.workdir)
    status, body = _get(sidecar, "/v1.0/configuration/configstore?key=a")
    assert (status, body["errorCode"]) == (500, "ERR_CONFIGURATION_STORE_NOT_CONFIGURED")
