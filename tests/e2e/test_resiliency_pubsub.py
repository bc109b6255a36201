"""Resiliency on pub/sub delivery (``targets.components.<pubsub>.inbound``), as a user sees it through
a sidecar: an inbound retry policy decides how often the app gets an event it keeps failing, then
the dead-letter topic gets it; a pub/sub without a policy keeps pydapr's default (three attempts)."""

from __future__ import annotations

import json
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.harness import Processes, Sidecar, free_port, wait_port
from tests.e2e.test_invoke import call

pytestmark = pytest.mark.e2e


# An app that fails each event until it has seen it ``fail`` times, and records dead letters.
APP = textwrap.dedent(
    """
    import json, os, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    SUBSCRIPTIONS = []
    for pubsub in ("guarded", "plain"):
        SUBSCRIPTIONS += [
            {"pubsubname": pubsub, "topic": "orders", "route": "/flaky"},
            {"pubsubname": pubsub, "topic": "doomed", "route": "/flaky", "deadLetterTopic": "doomed-dlq"},
            {"pubsubname": pubsub, "topic": "doomed-dlq", "route": "/dead"},
        ]
    counts, dead, lock = {}, set(), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/dapr/subscribe":
                return self._answer(200, SUBSCRIPTIONS)
            key = self.path.rsplit("/", 1)[-1]
            with lock:
                return self._answer(200, {"count": counts.get(key, 0), "dead": key in dead})

        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
            data = event["data"]
            with lock:
                if self.path == "/dead":
                    dead.add(data["key"])
                    return self._answer(200, {"status": "SUCCESS"})
                counts[data["key"]] = seen = counts.get(data["key"], 0) + 1
            if seen <= data["fail"]:
                return self._answer(500, {"error": f"failing delivery {seen}"})
            return self._answer(200, {"status": "SUCCESS"})

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler).serve_forever()
    """
)

RESOURCES = {
    "resiliency.yaml": """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata:
          name: delivery-policies
        spec:
          policies:
            retries:
              fiveQuick:
                policy: constant
                duration: 50ms
                maxRetries: 5
          targets:
            components:
              guarded:
                inbound:
                  retry: fiveQuick
        """,
    "guarded.yaml": """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: guarded
        spec:
          type: pubsub.in-memory
          version: v1
        """,
    "plain.yaml": """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: plain
        spec:
          type: pubsub.in-memory
          version: v1
        """,
}


@dataclass
class Env:
    sidecar: Sidecar
    app_url: str


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("resiliency-pubsub")
    home = workdir / "home"
    home.mkdir()
    resources = workdir / "resources"
    resources.mkdir()
    for name, text in RESOURCES.items():
        (resources / name).write_text(textwrap.dedent(text))
    script = workdir / "flaky_app.py"
    script.write_text(APP)
    procs = Processes(home=home, workdir=workdir)
    try:
        app_port = free_port()
        app = procs.spawn("app", [sys.executable, str(script)], {"APP_PORT": str(app_port)})
        wait_port(app_port, proc=app)
        sidecar = procs.sidecar("res-pubsub", app_port=app_port, resources=resources)
        procs.wait_healthy(sidecar)
        yield Env(sidecar, f"http://127.0.0.1:{app_port}")
    finally:
        procs.stop_all()


def _publish(env: Env, pubsub: str, topic: str, fail: int) -> str:
    key = uuid.uuid4().hex[:8]
    body = json.dumps({"key": key, "fail": fail}).encode()
    status, _, answer = call(
        f"{env.sidecar.url}/v1.0/publish/{pubsub}/{topic}", "POST", body, {"content-type": "application/json"}
    )
    assert status == 204, answer
    return key


def _seen(env: Env, key: str) -> dict[str, Any]:
    return dict(json.loads(call(f"{env.app_url}/count/{key}")[2]))


def _wait(env: Env, key: str, done: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        seen = _seen(env, key)
        if done(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def test_an_inbound_retry_policy_delivers_until_the_app_succeeds(env: Env) -> None:
    # pydapr's default would give up after three attempts and dead-letter it.
    key = _publish(env, "guarded", "doomed", fail=4)
    seen = _wait(env, key, lambda s: s["count"] >= 5 or s["dead"])
    time.sleep(0.3)  # nothing more comes once the app succeeded
    assert _seen(env, key) == {"count": 5, "dead": False}, seen  # four failures, then success


def test_an_exhausted_inbound_policy_dead_letters_the_event(env: Env) -> None:
    key = _publish(env, "guarded", "doomed", fail=100)
    seen = _wait(env, key, lambda s: s["dead"])
    assert seen == {"count": 6, "dead": True}  # the first delivery and five retries


def test_without_a_policy_the_default_tries_three_times(env: Env) -> None:
    key = _publish(env, "plain", "orders", fail=2)
    _wait(env, key, lambda s: s["count"] >= 3)
    time.sleep(0.3)
    assert _seen(env, key) == {"count": 3, "dead": False}
    key = _publish(env, "plain", "doomed", fail=100)
    seen = _wait(env, key, lambda s: s["dead"])
    assert seen == {"count": 3, "dead": True}  # pydapr's default: three attempts, then the dead letter
