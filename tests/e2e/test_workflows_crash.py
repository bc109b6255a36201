"""Nothing is lost when a workflow app's sidecar or worker dies mid-run: a fan-out of 100 activities
(each run appends a line to a file, so the test sees how far it got and what ran twice), SIGKILLed
when about half have completed and restarted on the same ports and app id. The workflow completes,
and its history holds every activity's result exactly once: one TaskCompleted per TaskScheduled id,
whatever ran again after the crash.

The mesh: ``pydapr placement``, ``pydapr scheduler``, a Redis actor state store; each test has an
app (sidecar and tests/e2e/workflow_apps/worker.py) of its own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dapr.ext.workflow import WorkflowStatus
from dapr.ext.workflow.workflow_management import WorkflowHistoryEventType as Ev

from tests.e2e.workflow_mesh import WorkflowHost, WorkflowMesh, read_records, wait_port_free, workflow_mesh

pytestmark = [pytest.mark.e2e, pytest.mark.serial, pytest.mark.timeout(120)]

RUN = "wfcrash" + uuid.uuid4().hex[:8]
FAN_OUT = 100
BOUND = 60.0


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowMesh]:
    with workflow_mesh(tmp_path_factory, "wf-crash", RUN) as mesh:
        yield mesh


def completed_items(record: Path, instance_id: str) -> set[int]:
    return {r["item"] for r in read_records(record) if r["instance"] == instance_id}


def crash_midway(mesh: WorkflowMesh, name: str, crash: Callable[[WorkflowHost], None]) -> None:
    record = mesh.procs.workdir / f"{name}.jsonl"
    # 0.2 s per activity on the SDK worker's few threads: the fan-out takes seconds, so the test
    # can catch it at half.
    host = mesh.host(name, env={"RECORD": str(record), "ACTIVITY_SECONDS": "0.2"})
    instance_id = f"fan-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    client = host.client()
    try:
        client.schedule_new_workflow("fan_out", input=FAN_OUT, instance_id=instance_id)
    finally:
        client.close()
    while len(completed_items(record, instance_id)) < FAN_OUT // 2:
        assert time.monotonic() - started < BOUND, f"{len(completed_items(record, instance_id))} done"
        time.sleep(0.02)
    at_crash = len(completed_items(record, instance_id))
    crash(host)
    assert at_crash < FAN_OUT, "the fan-out finished before the crash: nothing was tested"

    client = host.client()
    try:
        remaining = max(1.0, BOUND - (time.monotonic() - started))
        done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=int(remaining))
        assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED, done
        assert json.loads(done.serialized_output) == sum(2 * i for i in range(FAN_OUT))
        history = client.get_workflow_history(instance_id)
    finally:
        client.close()

    scheduled = [e.event_id for e in history if e.event_type == Ev.TASK_SCHEDULED]
    completed = Counter(e.task_scheduled_id for e in history if e.event_type == Ev.TASK_COMPLETED)
    assert len(scheduled) == FAN_OUT and len(set(scheduled)) == FAN_OUT, scheduled
    assert set(completed) == set(scheduled), set(scheduled) ^ set(completed)
    assert all(n == 1 for n in completed.values()), [k for k, n in completed.items() if n > 1]
    assert not [e for e in history if e.event_type == Ev.TASK_FAILED]
    # Every activity ran; some may have run twice (those in flight at the crash), none is lost.
    assert completed_items(record, instance_id) == set(range(FAN_OUT))
    runs = Counter(r["item"] for r in read_records(record) if r["instance"] == instance_id)
    print(f"{name}: {at_crash} done at the crash; {sum(runs.values()) - FAN_OUT} activities ran again")


def test_sidecar_sigkilled_midway(mesh: WorkflowMesh) -> None:
    def kill_and_restart_sidecar(host: WorkflowHost) -> None:
        host.kill_sidecar()
        wait_port_free(host.http_port)
        wait_port_free(host.grpc_port)
        host.start_sidecar()

    crash_midway(mesh, "sidecar", kill_and_restart_sidecar)


def test_worker_sigkilled_midway(mesh: WorkflowMesh) -> None:
    def kill_and_restart_worker(host: WorkflowHost) -> None:
        host.kill_worker()
        host.start_worker()

    crash_midway(mesh, "worker", kill_and_restart_worker)
