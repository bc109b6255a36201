"""``DaprWorkflowClient.rerun_workflow_from_event`` (durabletask ``RerunWorkflowFromEvent``) against a
pydapr sidecar, with a worker written with the official Python SDK: the behaviours and the errors
(gRPC codes and messages) daprd v1.18's integration tests assert
(tests/integration/suite/daprd/workflow/rerun).

The subject is ``rerun_me`` (tests/e2e/workflow_apps/worker.py): event 1 an ``echo`` activity of the
input, 2 a timer, 3 a child ``greet`` workflow, 4 an ``echo`` of the first result (the Python SDK
numbers a workflow's actions from 1; Go's from 0). Each ``echo``
run appends a line to a file, so a test sees which activities a rerun ran again and with what.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus
from dapr.ext.workflow.workflow_management import WorkflowHistoryEventType as Ev

from tests.e2e.workflow_mesh import WorkflowHost, WorkflowMesh, read_records, unique_id, workflow_mesh

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RUN = "wfrerun" + uuid.uuid4().hex[:8]
WAIT = 30


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowMesh]:
    with workflow_mesh(tmp_path_factory, "wf-rerun", RUN) as mesh:
        workdir = mesh.procs.workdir
        mesh.host("main", env={"RECORD": str(workdir / "echo.jsonl")})
        yield mesh


@pytest.fixture(scope="module")
def host(mesh: WorkflowMesh) -> WorkflowHost:
    return mesh.hosts[0]


@pytest.fixture(scope="module")
def client(host: WorkflowHost) -> Iterator[DaprWorkflowClient]:
    wf_client = host.client()
    try:
        yield wf_client
    finally:
        wf_client.close()


def finished(client: DaprWorkflowClient, instance_id: str) -> Any:
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert state is not None
    return state


def output(client: DaprWorkflowClient, instance_id: str) -> Any:
    state = finished(client, instance_id)
    assert state.runtime_status == WorkflowStatus.COMPLETED, state.failure_details
    return json.loads(state.serialized_output)


@pytest.fixture(scope="module")
def source(client: DaprWorkflowClient) -> str:
    """A finished ``rerun_me`` with input "Ann", the source of the reruns below."""
    instance_id = unique_id("src")
    client.schedule_new_workflow(workflow="rerun_me", input="Ann", instance_id=instance_id)
    assert output(client, instance_id) == {"greeting": "Ann", "child": "Hello Ann!", "last": "Ann"}
    return instance_id


def echoes(host: WorkflowHost, instance_id: str) -> list[tuple[int, Any]]:
    """(task id, input) of each echo run of the instance, in order."""
    path = host.mesh.procs.workdir / "echo.jsonl"
    return [(r["task"], r["item"]) for r in read_records(path) if r["instance"] == instance_id]


def rpc_error(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_rerun_from_the_first_activity_with_a_new_input(
    client: DaprWorkflowClient, host: WorkflowHost, source: str
) -> None:
    before = [(e.event_id, e.event_type) for e in client.get_workflow_history(source)]
    rerun = client.rerun_workflow_from_event(source, 1, new_instance_id=unique_id("new"), input="Bob")
    # The activity and everything after it run again; the workflow's own input is the source's.
    assert output(client, rerun) == {"greeting": "Bob", "child": "Hello Ann!", "last": "Bob"}
    assert echoes(host, rerun) == [(1, "Bob"), (4, "Bob")]
    history = client.get_workflow_history(rerun)
    scheduled = [e for e in history if e.event_type == Ev.TASK_SCHEDULED]
    assert [e.event_id for e in scheduled] == [1, 4]
    assert [e.event_id for e in history if e.is_rerunnable] == [1, 2, 3, 4]
    # The source is left as it was.
    assert [(e.event_id, e.event_type) for e in client.get_workflow_history(source)] == before
    assert output(client, source) == {"greeting": "Ann", "child": "Hello Ann!", "last": "Ann"}


def test_rerun_from_the_last_activity_replays_the_rest(
    client: DaprWorkflowClient, host: WorkflowHost, source: str
) -> None:
    rerun = client.rerun_workflow_from_event(source, 4, new_instance_id=unique_id("last"))
    assert output(client, rerun) == {"greeting": "Ann", "child": "Hello Ann!", "last": "Ann"}
    # Only event 4 ran: the first activity, the timer and the child were replayed from history.
    assert echoes(host, rerun) == [(4, "Ann")]
    assert client.get_workflow_state(f"{rerun}:0003") is None


def test_rerun_from_the_timer_starts_a_new_child(
    client: DaprWorkflowClient, host: WorkflowHost, source: str
) -> None:
    rerun = client.rerun_workflow_from_event(source, 2, new_instance_id=unique_id("timer"))
    assert output(client, rerun) == {"greeting": "Ann", "child": "Hello Ann!", "last": "Ann"}
    assert echoes(host, rerun) == [(4, "Ann")]
    child = client.get_workflow_state(f"{rerun}:0003")
    assert child is not None and child.runtime_status == WorkflowStatus.COMPLETED


def test_rerun_from_the_child_with_its_own_id_and_input(client: DaprWorkflowClient, source: str) -> None:
    rerun = unique_id("child")
    child_id = unique_id("kid")
    assert (
        client.rerun_workflow_from_event(
            source, 3, new_instance_id=rerun, input="Zed", new_child_workflow_instance_id=child_id
        )
        == rerun
    )
    assert output(client, rerun) == {"greeting": "Ann", "child": "Hello Zed!", "last": "Ann"}
    assert output(client, child_id) == "Hello Zed!"


def test_a_null_input_clears_the_events_input(
    client: DaprWorkflowClient, host: WorkflowHost, source: str
) -> None:
    rerun = client.rerun_workflow_from_event(source, 1, new_instance_id=unique_id("null"), input=None)
    assert output(client, rerun) == {"greeting": None, "child": "Hello Ann!", "last": None}
    assert echoes(host, rerun) == [(1, None), (4, None)]


def test_a_new_instance_id_is_made_when_none_is_given(client: DaprWorkflowClient, source: str) -> None:
    first = client.rerun_workflow_from_event(source, 4)
    second = client.rerun_workflow_from_event(source, 4)
    assert len({first, second, source}) == 3
    uuid.UUID(first)
    assert output(client, first) == output(client, second) == output(client, source)


def test_errors_are_daprds(client: DaprWorkflowClient, source: str) -> None:
    missing = unique_id("missing")
    assert rpc_error(lambda: client.rerun_workflow_from_event(missing, 1)) == (
        grpc.StatusCode.NOT_FOUND,
        f"workflow instance does not exist with ID '{missing}'",
    )
    assert rpc_error(lambda: client.rerun_workflow_from_event(source, 1, new_instance_id=source)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "rerun workflow instance ID must be different from the original instance ID",
    )
    assert rpc_error(lambda: client.rerun_workflow_from_event(source, 99)) == (
        grpc.StatusCode.NOT_FOUND,
        "does not have history event with ID '99'",
    )
    completed = next(e for e in client.get_workflow_history(source) if e.event_type == Ev.EXECUTION_COMPLETED)
    assert rpc_error(lambda: client.rerun_workflow_from_event(source, completed.event_id)) == (
        grpc.StatusCode.NOT_FOUND,
        f"target event '*protos.HistoryEvent_ExecutionCompleted' with ID '{completed.event_id}' "
        "is not an event that can be rerun",
    )
    assert rpc_error(lambda: client.rerun_workflow_from_event(source, 2, input="x")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "cannot write input to timer event '2'",
    )
    assert rpc_error(
        lambda: client.rerun_workflow_from_event(source, 1, new_child_workflow_instance_id="kid")
    ) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "cannot set new child workflow instance ID on activity event '1'",
    )
    # The source's child is a child workflow: not a rerun source.
    assert rpc_error(lambda: client.rerun_workflow_from_event(f"{source}:0003", 1)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"'{source}:0003': cannot rerun from child-workflows",
    )


def test_a_running_source_or_a_taken_target_is_refused(client: DaprWorkflowClient, source: str) -> None:
    running = unique_id("running")
    client.schedule_new_workflow(workflow="await_approval", instance_id=running)
    client.wait_for_workflow_start(running, timeout_in_seconds=WAIT)
    try:
        assert rpc_error(lambda: client.rerun_workflow_from_event(running, 1)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            f"'{running}' is not in a terminal state",
        )
        # A target id taken by any instance, running or not.
        assert rpc_error(lambda: client.rerun_workflow_from_event(source, 1, new_instance_id=running)) == (
            grpc.StatusCode.ALREADY_EXISTS,
            f"workflow '{running}' has already been created",
        )
    finally:
        client.terminate_workflow(running)
    state = client.get_workflow_state(running)
    assert state is not None and state.runtime_status == WorkflowStatus.TERMINATED
