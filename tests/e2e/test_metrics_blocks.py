"""The building blocks' metrics as a Prometheus scrape of a real sidecar sees them: an actor app
written with the official SDK (tests/e2e/apps/actor_http_app.py), ``pydapr placement``, a Redis
actor state store and a Resiliency resource with an actor target; a workflow app written with the
SDK (tests/e2e/workflow_apps/worker.py) on ``pydapr scheduler`` too. ``GET /metrics`` on the
sidecar's ``--metrics-port``, with daprd's metric names, labels and counts."""

from __future__ import annotations

import asyncio
import re
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from dapr.actor import ActorId, ActorInterface, ActorProxy, actormethod

from tests.e2e.actor_mesh import APPS, read_jsonl, redis_actor_store, start_host, start_placement
from tests.e2e.harness import Processes, Sidecar, free_port
from tests.e2e.workflow_mesh import WORKER, WorkflowMesh, wait_line

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RESILIENCY = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: metrics-resiliency
spec:
  policies:
    timeouts:
      turn: 10s
    retries:
      twice:
        policy: constant
        duration: 10ms
        maxRetries: 2
  targets:
    actors:
      CounterActor:
        timeout: turn
        retry: twice
"""

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class CounterActorInterface(ActorInterface):
    @actormethod(name="Add")
    async def add(self, n: int) -> int: ...

    @actormethod(name="StartTimer")
    async def start_timer(self) -> None: ...

    @actormethod(name="Ticks")
    async def ticks(self) -> int: ...


class IdleActorInterface(ActorInterface):
    @actormethod(name="Ping")
    async def ping(self) -> str: ...


class Scrape:
    """One ``GET /metrics``: its samples by name and label set, and its ``# TYPE`` lines."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.types: dict[str, str] = {}
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
                continue
            m = _SAMPLE.match(line)
            if m is None:
                continue
            labels = dict(_LABEL.findall(m.group("labels") or ""))
            self.samples.append((m.group("name"), labels, float(m.group("value"))))

    def value(self, metric: str, **labels: str) -> float | None:
        for sample, have, value in self.samples:
            if sample == metric and have == labels:
                return value
        return None


def scrape(port: int) -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return Scrape(resp.read().decode())


@pytest.fixture
def app_id() -> Iterator[str]:
    name = f"metrics-blocks-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(f"{name}||*"))
    if keys:
        client.delete(*keys)


async def _eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not seen in time")
        await asyncio.sleep(0.2)


async def test_actor_and_resiliency_metrics_on_the_metrics_port(  # type: ignore[no-untyped-def]
    procs: Processes, app_id: str, dapr_settings
) -> None:
    _, placement = start_placement(procs, "p0", f"sqlite://{procs.workdir}/placement.db")
    resources = procs.workdir / "resources"
    redis_actor_store(resources)
    (resources / "resiliency.yaml").write_text(RESILIENCY)
    metrics_port = free_port()
    host = start_host(
        procs,
        name="h1",
        app_id=app_id,
        script=APPS / "actor_http_app.py",
        placement=[placement],
        resources=resources,
        actor_type="CounterActor",
        sidecar_args=["--metrics-port", str(metrics_port)],
    )
    dapr_settings(host.sidecar)
    counter = ActorProxy.create("CounterActor", ActorId("c1"), CounterActorInterface)
    idle = ActorProxy.create("IdleActor", ActorId("i1"), IdleActorInterface)

    assert await counter.Add(2) == 2
    assert await counter.Add(3) == 5
    await counter.StartTimer()  # every 200 ms
    assert await idle.Ping() == "pong"  # IdleActor's idle timeout is 2 s
    await _eventually(lambda: any(e["ev"] == "deactivate" for e in read_jsonl(host.log)))
    await asyncio.sleep(0.5)  # a few more ticks

    seen = scrape(metrics_port)
    actor = {"app_id": app_id, "actor_type": "CounterActor"}
    idle_type = {"app_id": app_id, "actor_type": "IdleActor"}
    # Timers: one active, its firings taken by the app; no call is waiting for a turn now.
    assert seen.value("dapr_runtime_actor_timers", **actor) == 1.0
    fired = seen.value("dapr_runtime_actor_timers_fired_total", **actor, success="true")
    assert fired is not None and fired >= 2
    assert seen.value("dapr_runtime_actor_timers_fired_total", **actor, success="false") is None
    assert seen.value("dapr_runtime_actor_pending_actor_calls", **actor) == 0.0
    # The idle actor: halted once (daprd counts every halt as a rebalance) and deactivated once.
    assert seen.value("dapr_runtime_actor_rebalanced_total", **idle_type) == 1.0
    assert seen.value("dapr_runtime_actor_deactivated_total", **idle_type) == 1.0
    assert seen.value("dapr_runtime_actor_deactivated_failed_total", **idle_type) is None
    assert seen.value("dapr_runtime_actor_deactivated_total", **actor) is None

    # Resiliency: the resource, and the actor target's policies per call (retry before the turn,
    # for the three API calls; the timeout inside each turn, timer firings included).
    assert seen.value("dapr_resiliency_loaded", app_id=app_id, name="metrics-resiliency", namespace="") == 1.0
    policy = {
        "app_id": app_id,
        "name": "metrics-resiliency",
        "namespace": "",
        "flow_direction": "outbound",
        "target": "actor_CounterActor",
        "status": "",
    }
    assert seen.value("dapr_resiliency_count", **policy, policy="retry") == 3.0
    turns = seen.value("dapr_resiliency_count", **policy, policy="timeout")
    assert turns is not None and turns >= 3 + fired
    assert seen.value("dapr_resiliency_activations_total", **policy, policy="retry") is None
    # No policy for IdleActor: nothing counted for it.
    assert not [s for s in seen.samples if s[1].get("target") == "actor_IdleActor"]

    # daprd's exposition: counters keep their names, "_total" or not.
    assert seen.types["dapr_resiliency_count"] == "counter"
    assert seen.types["dapr_runtime_actor_deactivated_total"] == "counter"
    assert seen.types["dapr_runtime_actor_timers"] == "gauge"


async def test_metrics_disabled_serve_no_block_metrics(  # type: ignore[no-untyped-def]
    procs: Processes, app_id: str, dapr_settings, tmp_path: Path
) -> None:
    _, placement = start_placement(procs, "p0", f"sqlite://{procs.workdir}/placement.db")
    resources = procs.workdir / "resources"
    redis_actor_store(resources)
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: off\n"
        "spec:\n  metric:\n    enabled: false\n"
    )
    metrics_port = free_port()
    host = start_host(
        procs,
        name="h1",
        app_id=app_id,
        script=APPS / "actor_http_app.py",
        placement=[placement],
        resources=resources,
        actor_type="CounterActor",
        sidecar_args=["--metrics-port", str(metrics_port), "--config", str(config)],
    )
    dapr_settings(host.sidecar)
    counter = ActorProxy.create("CounterActor", ActorId("c1"), CounterActorInterface)
    assert await counter.Add(1) == 1
    with pytest.raises(OSError):
        scrape(metrics_port)  # no metrics server at all


# The client names a workflow by its function: these stand for the worker's, which run there.
def chain(ctx: Any, n: int) -> Any: ...


def fails(ctx: Any, message: str) -> Any: ...


def await_approval(ctx: Any, _: Any) -> Any: ...


def test_workflow_metrics_on_the_metrics_port(procs: Processes, tmp_path: Path) -> None:
    from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus

    run = "wfmetrics" + uuid.uuid4().hex[:8]
    mesh = WorkflowMesh(procs, run)
    app_id, http_port, grpc_port, metrics_port = f"{run}-app", free_port(), free_port(), free_port()
    config = tmp_path / "buckets.yaml"
    config.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: buckets\n"
        "spec:\n  metric:\n    latencyDistributionBuckets: [50, 60000]\n"
        "    rules:\n    - name: dapr_runtime_workflow_execution_count\n      labels:\n"
        '      - name: workflow_name\n        regex:\n          "waiter": "await_.+"\n'
    )
    argv = [
        "pydapr", "sidecar", "--app-id", app_id, "--dapr-http-port", str(http_port),
        "--dapr-grpc-port", str(grpc_port), "--metrics-port", str(metrics_port),
        "--resources-path", str(mesh.resources), "--config", str(config),
        "--placement-host-address", mesh.placement, "--scheduler-host-address", mesh.scheduler,
    ]  # fmt: skip
    base = procs.spawn(f"sidecar-{app_id}", [sys.executable, "-m", *argv])
    procs.procs.pop()
    sidecar = Sidecar(base.name, base.popen, base.log_path, app_id, http_port, grpc_port)
    procs.procs.append(sidecar)
    try:
        procs.wait_healthy(sidecar, "/v1.0/healthz")
        env = {"APP_ID": app_id, "DAPR_HTTP_PORT": str(http_port), "DAPR_GRPC_PORT": str(grpc_port)}
        wait_line(procs.app(app_id, WORKER, env=env), "worker ready", 30)
        client = DaprWorkflowClient(host="127.0.0.1", port=str(grpc_port))
        done = client.schedule_new_workflow(workflow=chain, input=3, instance_id=f"{run}-chain")
        failed = client.schedule_new_workflow(workflow=fails, input="no", instance_id=f"{run}-fails")
        stuck = client.schedule_new_workflow(workflow=await_approval, input="-", instance_id=f"{run}-wait")
        client.wait_for_workflow_start(stuck, timeout_in_seconds=30)
        client.terminate_workflow(stuck)
        states = {
            i: client.wait_for_workflow_completion(i, timeout_in_seconds=60) for i in (done, failed, stuck)
        }
        assert states[done] is not None and states[done].runtime_status == WorkflowStatus.COMPLETED
        assert states[failed] is not None and states[failed].runtime_status == WorkflowStatus.FAILED
        assert states[stuck] is not None and states[stuck].runtime_status == WorkflowStatus.TERMINATED
        client.purge_workflow(stuck)
        time.sleep(0.5)  # the runs' last bookkeeping after the state the client read was stored

        seen = scrape(metrics_port)
    finally:
        mesh.cleanup()
    base_labels = {"app_id": app_id, "namespace": "default"}
    ops = {
        op: seen.value("dapr_runtime_workflow_operation_count", **base_labels, operation=op, status="success")
        for op in ("create_workflow", "add_event", "purge_workflow")
    }
    assert ops == {"create_workflow": 3.0, "add_event": 1.0, "purge_workflow": 1.0}
    executions = {
        (name, status): seen.value(
            "dapr_runtime_workflow_execution_count", **base_labels, workflow_name=name, status=status
        )
        for name, status in (("chain", "success"), ("fails", "failed"), ("waiter", "terminated"))
    }
    # spec.metric.rules rewrote await_approval's name on this one metric, as daprd's rules do.
    assert executions == {("chain", "success"): 1.0, ("fails", "failed"): 1.0, ("waiter", "terminated"): 1.0}
    terminated = {**base_labels, "workflow_name": "await_approval", "status": "terminated"}
    assert seen.value("dapr_runtime_workflow_execution_count", **terminated) is None
    assert seen.value("dapr_runtime_workflow_execution_latency_count", **terminated) == 1.0
    activity = {**base_labels, "activity_name": "record", "status": "success"}
    assert seen.value("dapr_runtime_workflow_activity_execution_count", **activity) == 3.0
    # The Configuration's latencyDistributionBuckets: 50 ms and 60 s, and each activity sleeps 100 ms.
    assert seen.value("dapr_runtime_workflow_activity_execution_latency_bucket", **activity, le="50") == 0.0
    assert (
        seen.value("dapr_runtime_workflow_activity_execution_latency_bucket", **activity, le="60000") == 3.0
    )
    assert seen.value("dapr_runtime_workflow_activity_execution_latency_bucket", **activity, le="+Inf") == 3.0
    for name in ("chain", "fails", "await_approval"):
        labels = {**base_labels, "workflow_name": name}
        assert seen.value("dapr_runtime_workflow_scheduling_latency_count", **labels) == 1.0
    chain_done = {**base_labels, "workflow_name": "chain", "status": "success"}
    assert seen.value("dapr_runtime_workflow_execution_latency_count", **chain_done) == 1.0
    assert (seen.value("dapr_runtime_workflow_execution_latency_sum", **chain_done) or 0) >= 300  # 3 x 100 ms
    assert seen.types["dapr_runtime_workflow_operation_count"] == "counter"
    assert seen.types["dapr_runtime_workflow_execution_latency"] == "histogram"
