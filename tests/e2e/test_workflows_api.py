"""The workflow APIs as users meet them, against pydapr sidecars with workers written with the
official Python SDK (tests/e2e/workflow_apps/worker.py): the SDK's ``DaprWorkflowClient`` (the
durabletask ``TaskHubSidecarService``), the Dapr HTTP API (``/v1.0/workflows/dapr/...``) and the
Dapr gRPC API (``StartWorkflowBeta1`` etc.; the 1.19 SDK's ``DaprClient`` has no workflow methods
any more, so the generated stub is called as any gRPC client would).

One mesh for the module: ``pydapr placement``, ``pydapr scheduler``, a Redis actor state store,
app ``main`` (most workflows) and app ``remote`` (the activity and child workflow ``main``'s
``cross_app`` calls by app id). Every test uses instance ids of its own.

Expected answers are daprd's (dapr/dapr pkg/api/universal/workflow.go, pkg/api/http/workflow.go,
pkg/messages/predefined.go; durabletask-go backend/executor.go): HTTP start 202
``{"instanceID"}``, the other mutations 202, an unknown instance 404 ``ERR_INSTANCE_ID_NOT_FOUND``,
a running instance's id started again ``ALREADY_EXISTS`` "an active workflow with ID 'x' already
exists", a workflow no worker registered FAILED with the worker's ``OrchestratorNotRegisteredError``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus
from dapr.ext.workflow.workflow_management import WorkflowHistoryEventType as Ev

from tests.e2e.workflow_mesh import (
    WorkflowHost,
    WorkflowMesh,
    http,
    unique_id,
    wait_http_status,
    workflow_mesh,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RUN = "wfapi" + uuid.uuid4().hex[:8]
WAIT = 30  # seconds any one workflow here may take


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowMesh]:
    with workflow_mesh(tmp_path_factory, "wf-api", RUN) as mesh:
        mesh.host("remote", env={"WORKER_ROLE": "remote"})
        mesh.host("main", env={"REMOTE_APP_ID": f"{RUN}-remote"})
        yield mesh


@pytest.fixture(scope="module")
def main(mesh: WorkflowMesh) -> WorkflowHost:
    return next(h for h in mesh.hosts if h.app_id.endswith("-main"))


@pytest.fixture(scope="module")
def client(main: WorkflowHost) -> Iterator[DaprWorkflowClient]:
    wf_client = main.client()
    try:
        yield wf_client
    finally:
        wf_client.close()


def wait_status(client: DaprWorkflowClient, instance_id: str, want: WorkflowStatus) -> Any:
    deadline = time.monotonic() + WAIT
    state = None
    while time.monotonic() < deadline:
        state = client.get_workflow_state(instance_id)
        if state is not None and state.runtime_status == want:
            return state
        time.sleep(0.1)
    raise AssertionError(f"{instance_id} not {want.name} in {WAIT}s: {state}")


# --- the SDK's client ------------------------------------------------------------------------------


def test_start_get_wait(client: DaprWorkflowClient) -> None:
    instance_id = unique_id("greet")
    assert client.schedule_new_workflow("greet", input="Ann", instance_id=instance_id) == instance_id
    started = client.wait_for_workflow_start(instance_id, timeout_in_seconds=WAIT)
    assert started is not None and started.runtime_status != WorkflowStatus.PENDING
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert done is not None
    assert done.runtime_status == WorkflowStatus.COMPLETED
    assert done.name == "greet"
    assert done.instance_id == instance_id
    assert json.loads(done.serialized_input) == "Ann"
    assert json.loads(done.serialized_output) == "Hello Ann!"
    assert done.failure_details is None
    assert done.created_at <= done.last_updated_at

    # fetch_payloads=False leaves the payloads out.
    bare = client.get_workflow_state(instance_id, fetch_payloads=False)
    assert bare is not None and bare.runtime_status == WorkflowStatus.COMPLETED
    assert not bare.serialized_input and not bare.serialized_output

    # No instance id: the sidecar makes one (a UUID, as daprd).
    generated = client.schedule_new_workflow("greet", input="Bo")
    assert uuid.UUID(generated)
    done = client.wait_for_workflow_completion(generated, timeout_in_seconds=WAIT)
    assert done is not None and json.loads(done.serialized_output) == "Hello Bo!"

    assert client.get_workflow_state(unique_id("nobody")) is None


def test_raise_event(client: DaprWorkflowClient) -> None:
    instance_id = client.schedule_new_workflow("await_approval", instance_id=unique_id("approval"))
    state = wait_status(client, instance_id, WorkflowStatus.RUNNING)
    deadline = time.monotonic() + WAIT
    while not state.serialized_custom_status and time.monotonic() < deadline:
        time.sleep(0.1)
        state = client.get_workflow_state(instance_id)
    assert state.serialized_custom_status == "waiting"  # a str goes as it is (the SDK encodes no str)
    client.raise_workflow_event(instance_id, "approval", data="Ann")
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(done.serialized_output) == {"approved_by": "Ann"}


def test_suspend_and_resume(client: DaprWorkflowClient) -> None:
    instance_id = client.schedule_new_workflow("await_approval", instance_id=unique_id("suspend"))
    wait_status(client, instance_id, WorkflowStatus.RUNNING)
    client.pause_workflow(instance_id)
    wait_status(client, instance_id, WorkflowStatus.SUSPENDED)
    # An event that arrives while suspended waits for the resume.
    client.raise_workflow_event(instance_id, "approval", data="Cy")
    time.sleep(1.0)
    state = client.get_workflow_state(instance_id)
    assert state is not None and state.runtime_status == WorkflowStatus.SUSPENDED
    client.resume_workflow(instance_id)
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(done.serialized_output) == {"approved_by": "Cy"}
    history = [e.event_type for e in client.get_workflow_history(instance_id)]
    assert Ev.EXECUTION_SUSPENDED in history and Ev.EXECUTION_RESUMED in history


def test_terminate_is_recursive(client: DaprWorkflowClient) -> None:
    parent = client.schedule_new_workflow("parent_of_waiter", instance_id=unique_id("term"))
    child = f"{parent}-child"
    wait_status(client, child, WorkflowStatus.RUNNING)
    client.terminate_workflow(parent, output="stopped")
    done = client.wait_for_workflow_completion(parent, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.TERMINATED
    assert json.loads(done.serialized_output) == "stopped"
    child_done = client.wait_for_workflow_completion(child, timeout_in_seconds=WAIT)
    assert child_done is not None and child_done.runtime_status == WorkflowStatus.TERMINATED
    # Terminating what already finished changes nothing.
    client.terminate_workflow(parent)
    again = client.get_workflow_state(parent)
    assert again is not None and again.runtime_status == WorkflowStatus.TERMINATED


def test_terminate_not_recursive_leaves_the_child(client: DaprWorkflowClient) -> None:
    parent = client.schedule_new_workflow("parent_of_waiter", instance_id=unique_id("termone"))
    child = f"{parent}-child"
    wait_status(client, child, WorkflowStatus.RUNNING)
    client.terminate_workflow(parent, recursive=False)
    wait_status(client, parent, WorkflowStatus.TERMINATED)
    time.sleep(0.5)
    state = client.get_workflow_state(child)
    assert state is not None and state.runtime_status == WorkflowStatus.RUNNING
    client.terminate_workflow(child)
    wait_status(client, child, WorkflowStatus.TERMINATED)


def test_purge_is_recursive(client: DaprWorkflowClient) -> None:
    parent = client.schedule_new_workflow("parent_of_greeter", input="Di", instance_id=unique_id("purge"))
    child = f"{parent}-child"
    done = client.wait_for_workflow_completion(parent, timeout_in_seconds=WAIT)
    assert done is not None and json.loads(done.serialized_output) == "Hello Di!"
    assert client.get_workflow_state(child) is not None
    client.purge_workflow(parent)
    assert client.get_workflow_state(parent) is None
    assert client.get_workflow_state(child) is None
    with pytest.raises(grpc.RpcError) as err:
        client.get_workflow_history(parent)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # The id is free again.
    client.schedule_new_workflow("greet", input="Ed", instance_id=parent)
    again = client.wait_for_workflow_completion(parent, timeout_in_seconds=WAIT)
    assert again is not None and json.loads(again.serialized_output) == "Hello Ed!"


def test_purge_of_a_running_instance_is_refused(client: DaprWorkflowClient) -> None:
    instance_id = client.schedule_new_workflow("await_approval", instance_id=unique_id("purgerun"))
    wait_status(client, instance_id, WorkflowStatus.RUNNING)
    with pytest.raises(grpc.RpcError):
        client.purge_workflow(instance_id)
    assert client.get_workflow_state(instance_id) is not None
    client.terminate_workflow(instance_id)
    wait_status(client, instance_id, WorkflowStatus.TERMINATED)
    client.purge_workflow(instance_id)
    assert client.get_workflow_state(instance_id) is None


def test_continue_as_new(client: DaprWorkflowClient) -> None:
    instance_id = client.schedule_new_workflow("count_up", input=0, instance_id=unique_id("can"))
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(done.serialized_output) == 3
    assert json.loads(done.serialized_input) == 3  # the last generation's input
    # The history is the last generation's alone.
    history = client.get_workflow_history(instance_id)
    assert [e.event_type for e in history].count(Ev.EXECUTION_STARTED) == 1


def test_activity_retry_policy(client: DaprWorkflowClient) -> None:
    ok = client.schedule_new_workflow(
        "retry_activity", input={"succeed_on": 3, "max_attempts": 3}, instance_id=unique_id("retry")
    )
    done = client.wait_for_workflow_completion(ok, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(done.serialized_output) == 3
    history = [e.event_type for e in client.get_workflow_history(ok)]
    assert history.count(Ev.TASK_FAILED) == 2 and history.count(Ev.TASK_COMPLETED) == 1

    exhausted = client.schedule_new_workflow(
        "retry_activity", input={"succeed_on": 5, "max_attempts": 2}, instance_id=unique_id("retryx")
    )
    failed = client.wait_for_workflow_completion(exhausted, timeout_in_seconds=WAIT)
    assert failed is not None and failed.runtime_status == WorkflowStatus.FAILED
    assert failed.failure_details is not None
    assert "attempt 2 fails" in failed.failure_details.message


def test_child_workflow_retry_policy(client: DaprWorkflowClient) -> None:
    instance_id = client.schedule_new_workflow(
        "retry_child", input={"succeed_on": 3, "max_attempts": 3}, instance_id=unique_id("childretry")
    )
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED, done
    assert json.loads(done.serialized_output) == 3
    history = [e.event_type for e in client.get_workflow_history(instance_id)]
    assert history.count(Ev.CHILD_WORKFLOW_INSTANCE_FAILED) == 2
    assert history.count(Ev.CHILD_WORKFLOW_INSTANCE_COMPLETED) == 1


def test_failed_workflow(client: DaprWorkflowClient) -> None:
    instance_id = client.schedule_new_workflow("fails", input="boom", instance_id=unique_id("fails"))
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.FAILED
    assert done.failure_details.error_type == "ValueError"
    assert done.failure_details.message == "boom"


def test_cross_app_activity_and_child_workflow(mesh: WorkflowMesh, client: DaprWorkflowClient) -> None:
    remote_app = f"{RUN}-remote"
    instance_id = client.schedule_new_workflow("cross_app", input="x1", instance_id=unique_id("cross"))
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED, done
    assert json.loads(done.serialized_output) == {
        "activity": f"remote activity got x1 on {remote_app}",
        "child": {"child_of": "x1", "answer": f"remote activity got child x1 on {remote_app}"},
    }


def test_unknown_workflow_name_fails_the_instance(client: DaprWorkflowClient) -> None:
    """daprd schedules any name; the app's worker is what does not know it, and fails it."""
    instance_id = client.schedule_new_workflow("no_such_workflow", instance_id=unique_id("unknown"))
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert done is not None and done.runtime_status == WorkflowStatus.FAILED
    assert done.failure_details.error_type == "OrchestratorNotRegisteredError"
    assert done.failure_details.message == "A 'no_such_workflow' orchestrator was not registered."


def test_duplicate_instance_id_of_a_running_instance(client: DaprWorkflowClient) -> None:
    instance_id = client.schedule_new_workflow("await_approval", instance_id=unique_id("dup"))
    wait_status(client, instance_id, WorkflowStatus.RUNNING)
    with pytest.raises(grpc.RpcError) as err:
        client.schedule_new_workflow("await_approval", instance_id=instance_id)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert f"an active workflow with ID '{instance_id}' already exists" in str(err.value.details())
    client.raise_workflow_event(instance_id, "approval", data="Fay")
    client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    # A finished instance's id may be used again: a new instance replaces it.
    client.schedule_new_workflow("greet", input="Gus", instance_id=instance_id)
    again = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert again is not None and again.name == "greet"
    assert json.loads(again.serialized_output) == "Hello Gus!"


def test_list_instance_ids(client: DaprWorkflowClient) -> None:
    instance_id = client.schedule_new_workflow("greet", input="Hal", instance_id=unique_id("list"))
    client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT)
    assert instance_id in set(client.iter_workflow_instance_ids(page_size=5))


# --- the Dapr HTTP API -----------------------------------------------------------------------------


def test_http_api(main: WorkflowHost) -> None:
    base = f"{main.url}/v1.0/workflows/dapr"
    instance_id = unique_id("http")
    reply = http("POST", f"{base}/await_approval/start?instanceID={instance_id}", {"any": "input"})
    assert (reply.status, reply.body) == (202, {"instanceID": instance_id})
    got = wait_http_status(f"{base}/{instance_id}", "RUNNING")
    assert got["instanceID"] == instance_id
    assert got["workflowName"] == "await_approval"
    assert got["createdAt"] and got["lastUpdatedAt"]
    assert json.loads(got["properties"]["dapr.workflow.input"]) == {"any": "input"}

    assert http("POST", f"{base}/{instance_id}/pause").status == 202
    wait_http_status(f"{base}/{instance_id}", "SUSPENDED")
    assert http("POST", f"{base}/{instance_id}/resume").status == 202
    wait_http_status(f"{base}/{instance_id}", "RUNNING")
    assert http("POST", f"{base}/{instance_id}/raiseEvent/approval", "Ivy").status == 202
    done = wait_http_status(f"{base}/{instance_id}", "COMPLETED")
    assert json.loads(done["properties"]["dapr.workflow.output"]) == {"approved_by": "Ivy"}
    assert http("POST", f"{base}/{instance_id}/purge").status == 202
    gone = http("GET", f"{base}/{instance_id}")
    assert gone.status == 404
    assert gone.error == (
        "ERR_INSTANCE_ID_NOT_FOUND",
        f"unable to find workflow with the provided instance ID: {instance_id}",
    )

    # Without instanceID the sidecar makes one; terminate ends it.
    reply = http("POST", f"{base}/await_approval/start")
    assert reply.status == 202
    generated = reply.body["instanceID"]
    assert uuid.UUID(generated)
    wait_http_status(f"{base}/{generated}", "RUNNING")
    assert http("POST", f"{base}/{generated}/terminate").status == 202
    wait_http_status(f"{base}/{generated}", "TERMINATED")

    # The beta1 routes are the same API.
    beta = f"{main.url}/v1.0-beta1/workflows/dapr"
    other = unique_id("beta")
    assert http("POST", f"{beta}/greet/start?instanceID={other}", "Jo").status == 202
    done = wait_http_status(f"{beta}/{other}", "COMPLETED")
    assert json.loads(done["properties"]["dapr.workflow.output"]) == "Hello Jo!"


def test_http_failed_workflow_properties(main: WorkflowHost) -> None:
    base = f"{main.url}/v1.0/workflows/dapr"
    instance_id = unique_id("httpfail")
    assert http("POST", f"{base}/fails/start?instanceID={instance_id}", "bad").status == 202
    done = wait_http_status(f"{base}/{instance_id}", "FAILED")
    props = done["properties"]
    assert props["dapr.workflow.failure.error_type"] == "ValueError"
    assert props["dapr.workflow.failure.error_message"] == "bad"
    assert "dapr.workflow.output" not in props  # daprd leaves a failed workflow's output out


def test_http_errors(main: WorkflowHost) -> None:
    base = f"{main.url}/v1.0/workflows/dapr"
    unknown = unique_id("nobody")
    reply = http("GET", f"{base}/{unknown}")
    assert reply.status == 404
    assert reply.error == (
        "ERR_INSTANCE_ID_NOT_FOUND",
        f"unable to find workflow with the provided instance ID: {unknown}",
    )

    too_long = "x" * 65
    reply = http("POST", f"{base}/greet/start?instanceID={too_long}")
    assert reply.status == 400
    assert reply.error == (
        "ERR_INSTANCE_ID_TOO_LONG",
        "workflow instance ID exceeds the max length of 64 characters",
    )
    reply = http("POST", f"{base}/greet/start?instanceID=bad.id")
    assert reply.status == 400
    assert reply.error == (
        "ERR_INSTANCE_ID_INVALID",
        "workflow instance ID 'bad.id' is invalid: only alphanumeric and underscore characters are allowed",
    )

    # A running instance's id again: the engine's ALREADY_EXISTS inside daprd's ERR_START_WORKFLOW.
    running = unique_id("httpdup")
    assert http("POST", f"{base}/await_approval/start?instanceID={running}").status == 202
    wait_http_status(f"{base}/{running}", "RUNNING")
    reply = http("POST", f"{base}/await_approval/start?instanceID={running}")
    assert reply.status == 500
    code, message = reply.error
    assert code == "ERR_START_WORKFLOW"
    assert message.startswith("error starting workflow 'await_approval': ")
    assert f"an active workflow with ID '{running}' already exists" in message

    # Events to a finished instance are accepted and dropped; to a purged one, refused.
    assert http("POST", f"{base}/{running}/terminate").status == 202
    wait_http_status(f"{base}/{running}", "TERMINATED")
    assert http("POST", f"{base}/{running}/raiseEvent/approval", "late").status == 202
    assert http("GET", f"{base}/{running}").body["runtimeStatus"] == "TERMINATED"
    assert http("POST", f"{base}/{running}/purge").status == 202
    reply = http("POST", f"{base}/{running}/raiseEvent/approval", "later")
    assert reply.status == 500
    code, message = reply.error
    assert code == "ERR_RAISE_EVENT_WORKFLOW"
    assert message.startswith(f"error raising event on workflow '{running}': ")
    assert "no such instance exists" in message

    # Purge of an instance nobody knows: durabletask-go's purge looks it up first (not found, 404).
    reply = http("POST", f"{base}/{unknown}/purge")
    assert reply.status == 404, reply
    assert reply.error == (
        "ERR_INSTANCE_ID_NOT_FOUND",
        f"unable to find workflow with the provided instance ID: {unknown}",
    )
    # Terminate sends the event to the instance's actor, which refuses it: an error naming it.
    reply = http("POST", f"{base}/{unknown}/terminate")
    assert reply.status in (404, 500), reply
    assert unknown in reply.error[1]


def test_http_component_name_is_not_checked(main: WorkflowHost) -> None:
    """daprd (1.18 and main) no longer looks the workflow component up: any name in the path
    reaches the one workflow engine."""
    instance_id = unique_id("comp")
    reply = http("POST", f"{main.url}/v1.0/workflows/other/greet/start?instanceID={instance_id}", "Kit")
    assert reply.status == 202, reply
    done = wait_http_status(f"{main.url}/v1.0/workflows/other/{instance_id}", "COMPLETED")
    assert json.loads(done["properties"]["dapr.workflow.output"]) == "Hello Kit!"


def test_metadata_counts_the_connected_worker(main: WorkflowHost) -> None:
    """daprd's metadata reports the workers connected over GetWorkItems (HTTP and gRPC)."""
    from dapr.proto.runtime.v1 import dapr_pb2_grpc, metadata_pb2

    assert http("GET", f"{main.url}/v1.0/metadata").body["workflows"] == {"connectedWorkers": 1}
    with grpc.insecure_channel(f"127.0.0.1:{main.grpc_port}") as channel:
        meta = dapr_pb2_grpc.DaprStub(channel).GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=5)
    assert meta.workflows.connected_workers == 1


# --- the Dapr gRPC API -----------------------------------------------------------------------------


def test_grpc_api(main: WorkflowHost) -> None:
    from dapr.proto.runtime.v1 import dapr_pb2_grpc
    from dapr.proto.runtime.v1 import workflow_pb2 as wpb

    with grpc.insecure_channel(f"127.0.0.1:{main.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        instance_id = unique_id("grpc")
        started = stub.StartWorkflowBeta1(
            wpb.StartWorkflowRequest(
                instance_id=instance_id,
                workflow_component="dapr",
                workflow_name="await_approval",
                input=b'"in"',
            ),
            timeout=WAIT,
        )
        assert started.instance_id == instance_id

        def status() -> Any:
            return stub.GetWorkflowBeta1(
                wpb.GetWorkflowRequest(instance_id=instance_id, workflow_component="dapr"), timeout=WAIT
            )

        def until(want: str) -> Any:
            deadline = time.monotonic() + WAIT
            got = status()
            while got.runtime_status != want and time.monotonic() < deadline:
                time.sleep(0.1)
                got = status()
            assert got.runtime_status == want, got
            return got

        got = until("RUNNING")
        assert got.workflow_name == "await_approval"
        assert got.properties["dapr.workflow.input"] == '"in"'
        ref = {"instance_id": instance_id, "workflow_component": "dapr"}
        stub.PauseWorkflowBeta1(wpb.PauseWorkflowRequest(**ref), timeout=WAIT)
        until("SUSPENDED")
        stub.ResumeWorkflowBeta1(wpb.ResumeWorkflowRequest(**ref), timeout=WAIT)
        until("RUNNING")
        stub.RaiseEventWorkflowBeta1(
            wpb.RaiseEventWorkflowRequest(**ref, event_name="approval", event_data=b'"Lu"'), timeout=WAIT
        )
        done = until("COMPLETED")
        assert json.loads(done.properties["dapr.workflow.output"]) == {"approved_by": "Lu"}
        stub.PurgeWorkflowBeta1(wpb.PurgeWorkflowRequest(**ref), timeout=WAIT)
        # daprd's gRPC GetWorkflow answers an unknown instance with an empty response, not an error.
        gone = status()
        assert gone.instance_id == instance_id and not gone.properties and not gone.runtime_status

        generated = stub.StartWorkflowBeta1(
            wpb.StartWorkflowRequest(workflow_component="dapr", workflow_name="await_approval"), timeout=WAIT
        ).instance_id
        assert uuid.UUID(generated)
        stub.TerminateWorkflowBeta1(
            wpb.TerminateWorkflowRequest(instance_id=generated, workflow_component="dapr"), timeout=WAIT
        )

        with pytest.raises(grpc.RpcError) as err:
            stub.StartWorkflowBeta1(
                wpb.StartWorkflowRequest(
                    instance_id="x" * 65, workflow_component="dapr", workflow_name="greet"
                ),
                timeout=WAIT,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == "workflow instance ID exceeds the max length of 64 characters"
        with pytest.raises(grpc.RpcError) as err:
            stub.StartWorkflowBeta1(
                wpb.StartWorkflowRequest(instance_id=unique_id("noname"), workflow_component="dapr"),
                timeout=WAIT,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == "workflow name is not configured"
        with pytest.raises(grpc.RpcError) as err:
            stub.TerminateWorkflowBeta1(wpb.TerminateWorkflowRequest(workflow_component="dapr"), timeout=WAIT)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == "no instance ID was provided"


def test_the_workflow_actor_types_are_not_reachable_through_the_actor_api(main: WorkflowHost) -> None:
    """As daprd: the runtime's own actor types refuse the generic actor APIs (403 / PermissionDenied
    ERR_ACTOR_TYPE_RESERVED), so no caller can corrupt an instance's history behind its back."""
    import grpc
    from dapr.proto.runtime.v1 import dapr_pb2_grpc

    from pydapr.api.grpc.wire import runtime  # the SDK's messages, wherever its release keeps them

    reserved = f"dapr.internal.default.{main.app_id}.workflow"
    base = f"http://127.0.0.1:{main.http_port}/v1.0/actors/{reserved}/some-instance"
    for verb, path, body in [
        ("PUT", "/method/AddWorkflowEvent", {}),
        ("GET", "/state/metadata", None),
        ("PUT", "/reminders/r", {"dueTime": "1s"}),
        ("GET", "/reminders/r", None),
        ("DELETE", "/reminders/r", None),
        ("PUT", "/timers/t", {"dueTime": "1s", "callback": "x"}),
    ]:
        got = http(verb, base + path, body)
        assert got.status == 403, (verb, path, got)
        assert got.body["errorCode"] == "ERR_ACTOR_TYPE_RESERVED", (verb, path, got)
    with grpc.insecure_channel(f"127.0.0.1:{main.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.InvokeActor(
                runtime.InvokeActorRequest(actor_type=reserved, actor_id="some-instance", method="x"),
                timeout=10,
            )
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "is reserved for the Dapr workflow runtime" in (info.value.details() or "")
