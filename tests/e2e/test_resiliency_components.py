"""Resiliency policies on component calls (``targets.components.<name>.outbound`` and the
``Default...Component...`` defaults), as a user sees them through a sidecar: a circuit breaker over a
Redis that goes away and comes back, a timeout on a slow HTTP output binding, default retries."""

from __future__ import annotations

import json
import textwrap
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.harness import Proc, Processes, Sidecar, free_port, wait_port
from tests.e2e.test_invoke import call

pytestmark = pytest.mark.e2e

POLICIES = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Resiliency
    metadata:
      name: component-policies
    spec:
      policies:
        timeouts:
          quick: 300ms
          storeCall: 1s
        retries:
          once:
            policy: constant
            duration: 10ms
            maxRetries: 1
        circuitBreakers:
          redisBreaker:
            maxRequests: 1
            timeout: 2s
            trip: consecutiveFailures > 2
      targets:
        components:
          guarded:
            outbound:
              timeout: storeCall
              circuitBreaker: redisBreaker
          slowhttp:
            outbound:
              timeout: quick
              retry: once
    """
)

DEFAULTS = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Resiliency
    metadata:
      name: component-defaults
    spec:
      policies:
        retries:
          DefaultStatestoreComponentOutboundRetryPolicy:
            policy: constant
            duration: 300ms
            maxRetries: 20
          DefaultComponentOutboundRetryPolicy:
            policy: constant
            duration: 10ms
            maxRetries: 3
    """
)


def _redis_component(name: str, port: int) -> str:
    return textwrap.dedent(
        f"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: {name}
        spec:
          type: state.redis
          version: v1
          metadata:
            - name: redisHost
              value: 127.0.0.1:{port}
            - name: dialTimeout
              value: 500ms
        """
    )


def _http_binding(name: str, port: int) -> str:
    return textwrap.dedent(
        f"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: {name}
        spec:
          type: bindings.http
          version: v1
          metadata:
            - name: url
              value: http://127.0.0.1:{port}
        """
    )


class _Upstream(BaseHTTPRequestHandler):
    """``/slow?seconds=S`` answers after S seconds; ``/flaky/<key>?fail=N`` answers 503 N times."""

    hits: dict[str, int] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        with self.lock:
            self.hits[url.path] = count = self.hits.get(url.path, 0) + 1
        if url.path.startswith("/slow"):
            time.sleep(float(query.get("seconds", "0")))
            status = 200
        else:
            status = 503 if count <= int(query.get("fail", "0")) else 200
        body = json.dumps({"hits": count}).encode()
        try:
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the sidecar gave up on the call

    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass
class Env:
    guarded: Sidecar  # the Resiliency with targets
    defaults: Sidecar  # only Default... policies
    restart_redis: Callable[[str], None]  # "stop" / "start" the breaker's Redis
    restart_default_redis: Callable[[str], None]
    hits: dict[str, int]


def _redis(procs: Processes) -> tuple[int, Callable[[str], None]]:
    port = free_port()
    server: list[Proc] = []

    def control(action: str) -> None:
        if action == "stop":
            server.pop().stop()
            return
        proc = procs.spawn(
            "redis",
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        wait_port(port, proc=proc)
        server.append(proc)

    control("start")
    return port, control


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("resiliency-components")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    upstream.daemon_threads = True
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    http_port = upstream.server_address[1]
    try:
        redis_port, redis = _redis(procs)
        default_port, default_redis = _redis(procs)
        guarded_dir = workdir / "guarded"
        guarded_dir.mkdir()
        (guarded_dir / "resiliency.yaml").write_text(POLICIES)
        (guarded_dir / "redis.yaml").write_text(_redis_component("guarded", redis_port))
        (guarded_dir / "http.yaml").write_text(_http_binding("slowhttp", http_port))
        defaults_dir = workdir / "defaults"
        defaults_dir.mkdir()
        (defaults_dir / "resiliency.yaml").write_text(DEFAULTS)
        (defaults_dir / "redis.yaml").write_text(_redis_component("store", default_port))
        (defaults_dir / "http.yaml").write_text(_http_binding("upstream", http_port))
        guarded = procs.sidecar("res-components", resources=guarded_dir)
        defaults = procs.sidecar("res-defaults", resources=defaults_dir)
        yield Env(guarded, defaults, redis, default_redis, _Upstream.hits)
    finally:
        procs.stop_all()
        upstream.shutdown()
        upstream.server_close()


def _key() -> str:
    return uuid.uuid4().hex[:8]


def _get(sidecar: Sidecar, store: str, key: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    status, _, body = call(f"{sidecar.url}/v1.0/state/{store}/{key}")
    return status, body, time.monotonic() - started


def _invoke(sidecar: Sidecar, binding: str, path: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    payload = json.dumps({"operation": "get", "metadata": {"path": path}}).encode()
    status, _, body = call(f"{sidecar.url}/v1.0/bindings/{binding}", "POST", payload)
    return status, body, time.monotonic() - started


def test_a_breaker_opens_on_a_failing_store_and_closes_once_it_is_back(env: Env) -> None:
    key = _key()
    save = json.dumps([{"key": key, "value": "v1"}]).encode()
    assert call(f"{env.guarded.url}/v1.0/state/guarded", "POST", save)[0] == 204
    assert _get(env.guarded, "guarded", key)[:2] == (200, b'"v1"')
    env.restart_redis("stop")
    try:
        for _ in range(3):  # consecutiveFailures > 2: the third failure trips it
            status, body, _ = _get(env.guarded, "guarded", key)
            assert status == 500 and json.loads(body)["errorCode"] == "ERR_STATE_GET", body
            assert "circuit breaker is open" not in json.loads(body)["message"]
        status, body, elapsed = _get(env.guarded, "guarded", key)
        assert status == 500 and json.loads(body)["errorCode"] == "ERR_STATE_GET"
        assert "circuit breaker is open" in json.loads(body)["message"], body
        assert elapsed < 0.5  # refused at once, Redis is not even tried
        tripped = time.monotonic()
    finally:
        env.restart_redis("start")
    # Still open until its 2 s timeout, although Redis is back.
    if time.monotonic() - tripped < 1.5:
        assert "circuit breaker is open" in json.loads(_get(env.guarded, "guarded", key)[1])["message"]
    time.sleep(max(0.0, 2.1 - (time.monotonic() - tripped)))
    # Half-open: the trial call reaches the new (empty) Redis and succeeds; the breaker closes.
    deadline = time.monotonic() + 10
    while True:
        status, body, _ = _get(env.guarded, "guarded", key)
        if status == 204 or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # a trial that failed opened it again for another 2 s
    assert status == 204, body  # the restarted Redis has no data: not found
    assert call(f"{env.guarded.url}/v1.0/state/guarded", "POST", save)[0] == 204
    for _ in range(3):
        assert _get(env.guarded, "guarded", key)[:2] == (200, b'"v1"')


def test_a_slow_binding_call_times_out_and_is_retried(env: Env) -> None:
    path = f"/slow/{_key()}?seconds=2"
    status, body, elapsed = _invoke(env.guarded, "slowhttp", path)
    assert status == 500, body
    answer = json.loads(body)
    assert answer["errorCode"] == "ERR_INVOKE_OUTPUT_BINDING"
    assert "timeout after 0.3s (resiliency)" in answer["message"]
    assert elapsed < 1.5  # two attempts of 300 ms, not one of 2 s
    time.sleep(0.1)
    assert env.hits[path.split("?", maxsplit=1)[0]] == 2  # the first attempt and one retry
    fast = f"/slow/{_key()}?seconds=0"
    assert _invoke(env.guarded, "slowhttp", fast)[0] == 200


def test_default_component_retries_apply_to_a_binding_without_a_target(env: Env) -> None:
    path = f"/flaky/{_key()}"
    status, body, _ = _invoke(env.defaults, "upstream", f"{path}?fail=2")
    assert status == 200, body
    assert json.loads(body) == {"hits": 3}  # two 503s retried by DefaultComponentOutboundRetryPolicy
    path = f"/flaky/{_key()}"
    status, body, _ = _invoke(env.defaults, "upstream", f"{path}?fail=10")
    assert status == 500 and "received status code 503" in json.loads(body)["message"]
    assert env.hits[path] == 4  # the first attempt and three retries


def test_the_state_store_default_retries_over_an_outage(env: Env) -> None:
    key = _key()
    save = json.dumps([{"key": key, "value": "kept"}]).encode()
    assert call(f"{env.defaults.url}/v1.0/state/store", "POST", save)[0] == 204
    env.restart_default_redis("stop")
    back = threading.Timer(1.0, env.restart_default_redis, ("start",))
    back.start()
    try:
        # DefaultStatestoreComponentOutboundRetryPolicy (300 ms, 20 retries) outlasts the outage.
        status, body, elapsed = _get(env.defaults, "store", key)
    finally:
        back.join()
    assert status in (200, 204), body  # 204: the restarted Redis lost the value, but the call worked
    assert elapsed >= 0.9
