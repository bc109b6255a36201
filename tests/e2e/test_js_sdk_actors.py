"""An actor written with the JavaScript SDK (``@dapr/dapr``'s ``AbstractActor``) hosted behind pydapr,
called with the JS ``ActorProxyBuilder`` (over HTTP and gRPC) and with the Python ``ActorProxy``.

The mesh: ``pydapr placement``, ``pydapr scheduler`` (reminders), a Redis actor state store, a
sidecar hosting ``node tests/e2e/js/actor_server.js`` (a ``DaprServer`` with ``CounterActor``), and a
sidecar without an app that the callers talk to, so every call goes caller sidecar -> host sidecar
-> JS app. The app records timer and reminder callbacks to a file the test reads.

.NET and Java SDK actors are not tested here: neither NuGet nor Maven is reachable from this
machine, so neither SDK can be installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from dapr.actor import ActorId, ActorInterface, ActorProxy, ActorProxyFactory, actormethod

from tests.e2e.actor_mesh import (
    read_jsonl,
    redis_actor_store,
    start_placement,
    start_scheduler,
    wait_hosting,
    wait_placement,
)
from tests.e2e.harness import Processes, Sidecar, free_port, wait_port

pytestmark = pytest.mark.e2e

JS_DIR = Path(__file__).parent / "js"
ROOT = Path(__file__).parents[2]
RUN = "jsact" + uuid.uuid4().hex[:8]
TYPE = "CounterActor"  # the JS class's name


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "node (20+) must be on PATH for the JavaScript SDK tests"
    return node


@dataclass
class Mesh:
    procs: Processes
    host: Sidecar
    caller: Sidecar
    record: Path

    def js(self, scenario: str, protocol: str, actor_id: str) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_"))}
        env.update(
            DAPR_HTTP_PORT=str(self.caller.http_port),
            DAPR_GRPC_PORT=str(self.caller.grpc_port),
            JS_CONFIG=json.dumps({"id": actor_id}),
        )
        out = subprocess.run(
            [_node(), str(JS_DIR / "actor_client.js"), scenario, protocol],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                return dict(json.loads(line[len("RESULT ") :]))
        raise AssertionError(f"actor_client.js {scenario} {protocol}:\n{out.stdout}\n{out.stderr}")

    def seen(self, kind: str, actor_id: str) -> list[dict[str, Any]]:
        return [r for r in read_jsonl(self.record) if r["kind"] == kind and r.get("id") == actor_id]

    def wait_seen(self, kind: str, actor_id: str, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(got := self.seen(kind, actor_id)) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        return got

    def actor_state(self, actor_id: str, key: str) -> tuple[int, bytes]:
        url = f"{self.host.url}/v1.0/actors/{TYPE}/{actor_id}/state/{key}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status), resp.read()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    subprocess.run(["bash", str(ROOT / "scripts" / "js-sdk.sh")], check=True, timeout=300)
    workdir = tmp_path_factory.mktemp("js-actors")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    resources = workdir / "resources"
    redis_actor_store(resources)
    record = workdir / "record.jsonl"
    try:
        scheduler = start_scheduler(procs)
        _, placement = start_placement(procs, "p0", f"sqlite://{workdir}/placement.db")
        args = ["--placement-host-address", placement, "--scheduler-host-address", scheduler]
        app_port = free_port()
        host = procs.sidecar(f"{RUN}-host", app_port=app_port, resources=resources, args=args, wait=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_"))}
        env.update(APP_PORT=str(app_port), DAPR_HTTP_PORT=str(host.http_port), RECORD=str(record))
        app = procs.spawn("js-actor-app", [_node(), str(JS_DIR / "actor_server.js")], env, cwd=JS_DIR)
        wait_port(app_port, proc=app)
        procs.wait_healthy(host, "/v1.0/healthz")
        wait_hosting(host, TYPE)
        caller = procs.sidecar(f"{RUN}-caller", resources=resources, args=args)
        wait_placement(caller)
        yield Mesh(procs, host, caller, record)
    finally:
        procs.stop_all()
        r = redis.Redis(host="127.0.0.1", port=6379)
        for key in r.scan_iter(match=f"*{RUN}*"):
            r.delete(key)
        r.close()


def ok(result: dict[str, Any]) -> Any:
    assert "ok" in result, f"the call failed: {result}"
    return result["ok"]


def test_js_proxy_calls_a_js_actor_method_with_state(mesh: Mesh) -> None:
    actor_id = f"{RUN}-calls"
    out = mesh.js("calls", "http", actor_id)
    assert ok(out["first"]) == 2
    assert ok(out["second"]) == 5
    assert ok(out["get"]) == 5
    assert ok(out["whoami"]) == {"type": TYPE, "id": actor_id}
    assert "err" in out["fail"], out["fail"]
    # The SDK saved the counter through the actor state API; any caller can read it there.
    assert mesh.actor_state(actor_id, "count") == (200, b"5")
    assert len(mesh.seen("activate", actor_id)) == 1  # one activation served every call


def test_js_grpc_proxy_reaches_the_same_actor(mesh: Mesh) -> None:
    """The JS proxy over the gRPC API (InvokeActor): methods without arguments (see
    actor_client.js ``reads`` for why arguments do not reach an HTTP DaprServer actor, as with daprd)."""
    actor_id = f"{RUN}-grpc"
    assert ok(mesh.js("calls", "http", actor_id)["second"]) == 5
    out = mesh.js("reads", "grpc", actor_id)
    assert ok(out["get"]) == 5
    assert ok(out["whoami"]) == {"type": TYPE, "id": actor_id}
    assert "err" in out["fail"], out["fail"]


class CounterActorInterface(ActorInterface):
    # @dapr/dapr's express server parses application/json strictly (objects and arrays only), and
    # an array is spread into the method's arguments: a JS actor's arguments go as a list.
    @actormethod(name="add")
    async def add(self, amount: list[int]) -> int: ...

    @actormethod(name="get")
    async def get(self) -> int: ...

    @actormethod(name="remindMe")
    async def remind_me(self, data: list[str]) -> dict[str, str]: ...

    @actormethod(name="forget")
    async def forget(self) -> dict[str, str]: ...


def test_python_proxy_calls_a_js_actor(mesh: Mesh, dapr_settings) -> None:  # type: ignore[no-untyped-def]
    dapr_settings(mesh.caller)
    actor_id = f"{RUN}-python"

    async def calls() -> tuple[int, int, int]:
        proxy = ActorProxy.create(TYPE, ActorId(actor_id), CounterActorInterface, ActorProxyFactory())
        return await proxy.add([4]), await proxy.add([6]), await proxy.get()

    assert asyncio.run(calls()) == (4, 10, 10)
    assert mesh.actor_state(actor_id, "count") == (200, b"10")
    # The JS proxy sees the same actor and state.
    out = mesh.js("calls", "http", actor_id)
    assert ok(out["first"]) == 12


def test_js_actor_timer_fires_until_unregistered(mesh: Mesh) -> None:
    actor_id = f"{RUN}-timer"
    assert ok(mesh.js("startTicking", "http", actor_id)["start"]) == {"status": "ticking"}
    ticks = mesh.wait_seen("timer", actor_id, 3, timeout=10)
    assert len(ticks) >= 3, ticks
    assert {t["data"] for t in ticks} == {"tick-http"}
    assert ok(mesh.js("stopTicking", "http", actor_id)["stop"]) == {"status": "stopped"}
    time.sleep(0.6)  # a tick already on its way may still land
    settled = len(mesh.seen("timer", actor_id))
    time.sleep(1.5)
    assert len(mesh.seen("timer", actor_id)) == settled


def test_js_actor_reminder_fires_until_unregistered(mesh: Mesh, dapr_settings) -> None:  # type: ignore[no-untyped-def]
    """Registered by the JS actor (asked through the Python proxy), delivered by the scheduler."""
    dapr_settings(mesh.caller)
    actor_id = f"{RUN}-reminder"

    async def call(method: str, *args: list[str]) -> object:
        proxy = ActorProxy.create(TYPE, ActorId(actor_id), CounterActorInterface, ActorProxyFactory())
        return await getattr(proxy, method)(*args)

    assert asyncio.run(call("remindMe", ["nudge-python"])) == {"status": "reminding"}
    fired = mesh.wait_seen("reminder", actor_id, 2, timeout=15)
    assert len(fired) >= 2, fired
    assert {f["data"] for f in fired} == {"nudge-python"}
    assert asyncio.run(call("forget")) == {"status": "forgotten"}
    time.sleep(1.2)
    settled = len(mesh.seen("reminder", actor_id))
    time.sleep(2.5)
    assert len(mesh.seen("reminder", actor_id)) == settled
