"""The Configuration's ``spec.workflow`` as daprd applies it, with workers written with the official
Python SDK (tests/e2e/workflow_apps/worker.py):

- ``maxConcurrentWorkflowInvocations`` / ``maxConcurrentActivityInvocations``: the sidecar hands
  its workers at most that many workflow turns / activities at once; the rest wait and all finish
  (an app without the limits runs them side by side, so the check can fail).
- ``stateRetentionPolicy``: a finished instance is purged once its status's TTL (else
  ``anyTerminal``'s) has passed, even when the sidecar was killed and restarted meanwhile (the
  reminder is on the scheduler); a status the policy does not cover is kept; a purge by the user
  first is fine.

The mesh: ``pydapr placement``, ``pydapr scheduler``, a Redis actor state store; each test has an
app of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus

from tests.e2e.workflow_mesh import WorkflowHost, WorkflowMesh, read_records, wait_port_free, workflow_mesh

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RUN = "wfconf" + uuid.uuid4().hex[:8]
WAIT = 30


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowMesh]:
    with workflow_mesh(tmp_path_factory, "wf-config", RUN) as mesh:
        yield mesh


def config_file(mesh: WorkflowMesh, name: str, workflow: str) -> Path:
    path = mesh.procs.workdir / f"{name}-config.yaml"
    body = "\n".join("  " + line for line in workflow.strip().splitlines())
    path.write_text(
        f"apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: {name}\nspec:\n{body}\n"
    )
    return path


def most_at_once(spans: Path, kind: str) -> int:
    """The most ``kind`` runs between their start and end lines at any one point of the file."""
    running = most = 0
    for line in read_records(spans):
        if line["kind"] != kind:
            continue
        running += 1 if line["phase"] == "start" else -1
        most = max(most, running)
    return most


def wait_gone(client: DaprWorkflowClient, instance_id: str) -> None:
    deadline = time.monotonic() + WAIT
    while client.get_workflow_state(instance_id) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{instance_id} was not purged in {WAIT}s")
        time.sleep(0.1)


def finish(client: DaprWorkflowClient, workflow: str, instance_id: str, data: Any = None) -> Any:
    client.schedule_new_workflow(workflow=workflow, input=data, instance_id=instance_id)
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert state is not None, f"{instance_id} vanished before it was seen finished"
    return state


def concurrency_app(mesh: WorkflowMesh, name: str, workflow: str | None) -> tuple[WorkflowHost, Path]:
    spans = mesh.procs.workdir / f"{name}-spans.jsonl"
    config = config_file(mesh, name, workflow) if workflow is not None else None
    host = mesh.host(name, env={"SPANS": str(spans), "ACTIVITY_SECONDS": "0.3"}, config=config)
    return host, spans


def run_busy(host: WorkflowHost) -> None:
    """A fan-out of 4 busy activities and 3 busy workflow turns at once, all to completion."""
    client = host.client()
    try:
        fan = f"fan-{uuid.uuid4().hex[:8]}"
        turns = [f"turn-{i}-{uuid.uuid4().hex[:8]}" for i in range(3)]
        client.schedule_new_workflow(workflow="busy_fan_out", input=4, instance_id=fan)
        # A start answers once the first turn ran: started side by side, or they take turns anyway.
        with ThreadPoolExecutor(len(turns)) as pool:
            list(pool.map(lambda i: client.schedule_new_workflow(workflow="busy_turn", instance_id=i), turns))
        for instance_id in [fan, *turns]:
            state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
            assert state is not None and state.runtime_status == WorkflowStatus.COMPLETED, state
        assert client.get_workflow_state(fan).serialized_output == "6"
    finally:
        client.close()


def test_per_sidecar_limits_make_work_wait(mesh: WorkflowMesh) -> None:
    limited, limited_spans = concurrency_app(
        mesh,
        "limited",
        "workflow:\n  maxConcurrentWorkflowInvocations: 1\n  maxConcurrentActivityInvocations: 2",
    )
    free, free_spans = concurrency_app(mesh, "free", None)
    run_busy(limited)
    run_busy(free)
    assert most_at_once(limited_spans, "activity") == 2
    assert most_at_once(limited_spans, "workflow") == 1
    # Without the limits the same work overlaps: the counts above come from the limits.
    assert most_at_once(free_spans, "activity") > 2
    assert most_at_once(free_spans, "workflow") > 1


RETENTION = """
workflow:
  stateRetentionPolicy:
    anyTerminal: 0s
    failed: 1h
"""


def test_retention_purges_finished_instances_by_status(mesh: WorkflowMesh) -> None:
    host = mesh.host("retain", config=config_file(mesh, "retain", RETENTION))
    client = host.client()
    try:
        failed = f"failed-{uuid.uuid4().hex[:8]}"
        assert finish(client, "fails", failed, "boom").runtime_status == WorkflowStatus.FAILED

        done = f"done-{uuid.uuid4().hex[:8]}"
        client.schedule_new_workflow(workflow="greet", input="you", instance_id=done)
        # With 0s it may be gone before the wait reads it (as with daprd); seen, it is COMPLETED.
        state = client.wait_for_workflow_completion(done, timeout_in_seconds=WAIT)
        assert state is None or state.runtime_status == WorkflowStatus.COMPLETED
        wait_gone(client, done)

        terminated = f"terminated-{uuid.uuid4().hex[:8]}"
        client.schedule_new_workflow(workflow="await_approval", instance_id=terminated)
        client.wait_for_workflow_start(terminated, timeout_in_seconds=WAIT)
        client.terminate_workflow(terminated)
        wait_gone(client, terminated)

        # failed: 1h wins over anyTerminal: 0s, though it finished before the two purged ones.
        kept = client.get_workflow_state(failed)
        assert kept is not None and kept.runtime_status == WorkflowStatus.FAILED
    finally:
        client.close()


def test_retention_survives_a_sidecar_restart_and_a_purge_first(mesh: WorkflowMesh) -> None:
    host = mesh.host(
        "retain-later",
        config=config_file(mesh, "retain-later", "workflow:\n  stateRetentionPolicy:\n    completed: 3s"),
    )
    client = host.client()
    try:
        purged_first = f"first-{uuid.uuid4().hex[:8]}"
        finish(client, "greet", purged_first, "a")
        later = f"later-{uuid.uuid4().hex[:8]}"
        assert finish(client, "greet", later, "b").runtime_status == WorkflowStatus.COMPLETED
        client.purge_workflow(purged_first)
        assert client.get_workflow_state(purged_first) is None

        host.kill_sidecar()
        wait_port_free(host.grpc_port)
        host.start_sidecar()
    finally:
        client.close()
    client = host.client()
    try:
        wait_gone(client, later)
        # The first one's reminder found it gone: nothing else happened to the app.
        ok = f"after-{uuid.uuid4().hex[:8]}"
        assert finish(client, "greet", ok, "c").serialized_output == '"Hello c!"'
    finally:
        client.close()
