"""Cross-app workflow operations (dapr master's "Workflow: cross-app operations", #10293, which the dapr
1.19 SDK speaks): a client of app ``caller``'s sidecar starts, reads, pauses, resumes, raises events
to, terminates, purges and reruns instances of app ``target`` with ``app_id=``, over durabletask
(the SDK's ``DaprWorkflowClient``: a ``router`` with ``targetAppID`` on each request), the Dapr
gRPC API (``app_id``) and the HTTP API (``?appID=``). Each reaches the target app's workflow actor
through placement, never an instance of the caller's own; an app id that would change the actor
type's name is refused as daprd refuses it (tests/integration/suite/daprd/workflow/crossapp/ops).

The mesh: ``pydapr placement``, ``pydapr scheduler``, a Redis actor state store; ``caller`` and
``target`` each a sidecar and a worker written with the official Python SDK
(tests/e2e/workflow_apps/worker.py), both registering the same workflows, so an operation that
went to the wrong app would find or start an instance there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus

from tests.e2e.workflow_mesh import (
    COMPONENT,
    WorkflowHost,
    WorkflowMesh,
    http,
    read_records,
    unique_id,
    workflow_mesh,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RUN = "wfxops" + uuid.uuid4().hex[:8]
WAIT = 30


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowMesh]:
    with workflow_mesh(tmp_path_factory, "wf-xops", RUN) as mesh:
        workdir = mesh.procs.workdir
        mesh.host("target", env={"RECORD": str(workdir / "target.jsonl")})
        mesh.host("caller", env={"RECORD": str(workdir / "caller.jsonl")})
        yield mesh


def host_of(mesh: WorkflowMesh, name: str) -> WorkflowHost:
    return next(h for h in mesh.hosts if h.app_id.endswith(f"-{name}"))


@pytest.fixture(scope="module")
def target(mesh: WorkflowMesh) -> WorkflowHost:
    return host_of(mesh, "target")


@pytest.fixture(scope="module")
def caller(mesh: WorkflowMesh) -> WorkflowHost:
    return host_of(mesh, "caller")


@pytest.fixture(scope="module")
def clients(
    caller: WorkflowHost, target: WorkflowHost
) -> Iterator[tuple[DaprWorkflowClient, DaprWorkflowClient]]:
    pair = (caller.client(), target.client())
    try:
        yield pair
    finally:
        for c in pair:
            c.close()


def wait_status(client: DaprWorkflowClient, instance_id: str, want: WorkflowStatus, **kw: Any) -> Any:
    deadline = time.monotonic() + WAIT
    state = None
    while time.monotonic() < deadline:
        state = client.get_workflow_state(instance_id, **kw)
        if state is not None and state.runtime_status == want:
            return state
        time.sleep(0.1)
    raise TimeoutError(f"{instance_id} not {want} in {WAIT}s: {state}")


def test_sdk_operations_reach_the_target_app(
    clients: tuple[DaprWorkflowClient, DaprWorkflowClient], target: WorkflowHost
) -> None:
    client, at_target = clients
    app = target.app_id
    instance_id = unique_id("ops")
    assert client.schedule_new_workflow("await_approval", instance_id=instance_id, app_id=app) == instance_id
    state = client.wait_for_workflow_start(instance_id, timeout_in_seconds=WAIT, app_id=app)
    assert state is not None and state.runtime_status == WorkflowStatus.RUNNING
    # The instance is the target's, and only the target's.
    assert at_target.get_workflow_state(instance_id) is not None
    assert client.get_workflow_state(instance_id) is None

    client.pause_workflow(instance_id, app_id=app)
    assert (
        wait_status(at_target, instance_id, WorkflowStatus.SUSPENDED).runtime_status
        == WorkflowStatus.SUSPENDED
    )
    client.resume_workflow(instance_id, app_id=app)
    wait_status(client, instance_id, WorkflowStatus.RUNNING, app_id=app)
    client.raise_workflow_event(instance_id, "approval", data="Ann", app_id=app)
    done = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=WAIT, app_id=app)
    assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED
    assert json.loads(done.serialized_output) == {"approved_by": "Ann"}

    client.purge_workflow(instance_id, app_id=app)
    assert at_target.get_workflow_state(instance_id) is None

    doomed = client.schedule_new_workflow("await_approval", instance_id=unique_id("doomed"), app_id=app)
    client.terminate_workflow(doomed, output="stop", app_id=app)
    ended = at_target.get_workflow_state(doomed)
    assert ended is not None and ended.runtime_status == WorkflowStatus.TERMINATED
    assert client.get_workflow_state(doomed) is None


def test_rerun_on_the_target_app(
    clients: tuple[DaprWorkflowClient, DaprWorkflowClient], target: WorkflowHost, mesh: WorkflowMesh
) -> None:
    client, at_target = clients
    app = target.app_id
    source = client.schedule_new_workflow("rerun_me", input="Xi", instance_id=unique_id("src"), app_id=app)
    first = client.wait_for_workflow_completion(source, timeout_in_seconds=WAIT, app_id=app)
    assert first is not None and first.runtime_status == WorkflowStatus.COMPLETED
    rerun = client.rerun_workflow_from_event(source, 4, app_id=app)
    again = client.wait_for_workflow_completion(rerun, timeout_in_seconds=WAIT, app_id=app)
    assert again is not None and again.serialized_output == first.serialized_output
    assert at_target.get_workflow_state(rerun) is not None
    # The rerun's activity ran on the target's worker, once; the caller's ran nothing of it.
    ran = [r for r in read_records(mesh.procs.workdir / "target.jsonl") if r["instance"] == rerun]
    assert [r["task"] for r in ran] == [4]
    assert not [
        r for r in read_records(mesh.procs.workdir / "caller.jsonl") if r["instance"] in (source, rerun)
    ]


INVALID = ("target.workflow", "app with spaces", "app/slash", "app:colon", "..")


def test_invalid_app_ids_are_refused_over_durabletask(
    clients: tuple[DaprWorkflowClient, DaprWorkflowClient], target: WorkflowHost
) -> None:
    client, _ = clients
    running = client.schedule_new_workflow(
        "await_approval", instance_id=unique_id("valid"), app_id=target.app_id
    )
    client.wait_for_workflow_start(running, timeout_in_seconds=WAIT, app_id=target.app_id)
    bad = target.app_id + ".workflow"
    operations: dict[str, Callable[[], Any]] = {
        "schedule": lambda: client.schedule_new_workflow("greet", instance_id=unique_id("bad"), app_id=bad),
        "get": lambda: client.get_workflow_state(running, app_id=bad),
        "wait": lambda: client.wait_for_workflow_start(running, timeout_in_seconds=WAIT, app_id=bad),
        "raise": lambda: client.raise_workflow_event(running, "approval", data="x", app_id=bad),
        "pause": lambda: client.pause_workflow(running, app_id=bad),
        "resume": lambda: client.resume_workflow(running, app_id=bad),
        "terminate": lambda: client.terminate_workflow(running, app_id=bad),
        "purge": lambda: client.purge_workflow(running, app_id=bad),
        "rerun": lambda: client.rerun_workflow_from_event(running, 1, app_id=bad),
    }
    for name, operation in operations.items():
        with pytest.raises(grpc.RpcError) as info:
            operation()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        assert info.value.details() == (
            f"workflow app ID '{bad}' is invalid: "
            "only alphanumeric, dash and underscore characters are allowed"
        ), name
    for app in INVALID:
        with pytest.raises(grpc.RpcError) as info:
            client.schedule_new_workflow("greet", instance_id=unique_id("charset"), app_id=app)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, app
    # Nothing of it reached the instance.
    state = client.get_workflow_state(running, app_id=target.app_id)
    assert state is not None and state.runtime_status == WorkflowStatus.RUNNING
    client.terminate_workflow(running, app_id=target.app_id)


def test_an_unknown_instance_of_the_target_is_not_found(
    clients: tuple[DaprWorkflowClient, DaprWorkflowClient], target: WorkflowHost
) -> None:
    client, _ = clients
    assert client.get_workflow_state(unique_id("nobody"), app_id=target.app_id) is None
    with pytest.raises(grpc.RpcError) as info:
        client.raise_workflow_event(unique_id("nobody"), "approval", app_id=target.app_id)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.NOT_FOUND, "no such instance exists")


def test_an_app_nobody_hosts_is_an_error_naming_its_actor(
    clients: tuple[DaprWorkflowClient, DaprWorkflowClient],
) -> None:
    # As daprd: placement knows no host of that app's workflow type (after the actor runtime's
    # wait for one to appear); the start is refused, not done locally.
    client, _ = clients
    lost = unique_id("lost")
    with pytest.raises(grpc.RpcError) as info:
        client.schedule_new_workflow("greet", instance_id=lost, app_id="no-such-app")
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert f"did not find address for actor 'dapr.internal.default.no-such-app.workflow||{lost}'" in (
        info.value.details() or ""
    )
    assert client.get_workflow_state(lost) is None


def test_http_api_operations_with_app_id(
    caller: WorkflowHost, target: WorkflowHost, clients: tuple[DaprWorkflowClient, DaprWorkflowClient]
) -> None:
    _, at_target = clients
    base = f"{caller.url}/v1.0-beta1/workflows/{COMPONENT}"
    query = f"?appID={target.app_id}"
    instance_id = unique_id("http")
    started = http("POST", f"{base}/await_approval/start{query}&instanceID={instance_id}", b"{}")
    assert (started.status, started.body) == (202, {"instanceID": instance_id})
    wait_status(at_target, instance_id, WorkflowStatus.RUNNING)
    got = http("GET", f"{base}/{instance_id}{query}")
    assert (got.status, got.body["runtimeStatus"], got.body["workflowName"]) == (
        200,
        "RUNNING",
        "await_approval",
    )
    assert http("GET", f"{base}/{instance_id}").status == 404  # the caller has no such instance

    assert http("POST", f"{base}/{instance_id}/pause{query}").status == 202
    wait_status(at_target, instance_id, WorkflowStatus.SUSPENDED)
    assert http("POST", f"{base}/{instance_id}/resume{query}").status == 202
    wait_status(at_target, instance_id, WorkflowStatus.RUNNING)
    assert http("POST", f"{base}/{instance_id}/raiseEvent/approval{query}", b'"Bo"').status == 202
    done = wait_status(at_target, instance_id, WorkflowStatus.COMPLETED)
    assert json.loads(done.serialized_output) == {"approved_by": "Bo"}
    assert http("POST", f"{base}/{instance_id}/purge{query}").status == 202
    assert at_target.get_workflow_state(instance_id) is None

    doomed = unique_id("http-doomed")
    assert http("POST", f"{base}/await_approval/start{query}&instanceID={doomed}", b"{}").status == 202
    wait_status(at_target, doomed, WorkflowStatus.RUNNING)
    assert http("POST", f"{base}/{doomed}/terminate{query}").status == 202
    wait_status(at_target, doomed, WorkflowStatus.TERMINATED)

    bad = "?appID=" + target.app_id + ".workflow"
    for path in ("/greet/start" + bad + "&instanceID=x", f"/{doomed}/pause{bad}", f"/{doomed}/purge{bad}"):
        refused = http("POST", base + path)
        assert (refused.status, refused.error[0]) == (400, "ERR_WORKFLOW_APP_ID_INVALID"), path
    assert http("GET", f"{base}/{doomed}{bad}").error[0] == "ERR_WORKFLOW_APP_ID_INVALID"


def test_grpc_api_operations_with_app_id(
    caller: WorkflowHost, target: WorkflowHost, clients: tuple[DaprWorkflowClient, DaprWorkflowClient]
) -> None:
    from dapr.proto.runtime.v1 import dapr_pb2_grpc
    from dapr.proto.runtime.v1 import workflow_pb2 as wpb

    _, at_target = clients
    instance_id = unique_id("grpc")
    ref = {"instance_id": instance_id, "workflow_component": COMPONENT, "app_id": target.app_id}
    with grpc.insecure_channel(f"127.0.0.1:{caller.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        stub.StartWorkflowBeta1(
            wpb.StartWorkflowRequest(workflow_name="await_approval", input=b"{}", **ref), timeout=WAIT
        )
        wait_status(at_target, instance_id, WorkflowStatus.RUNNING)
        got = stub.GetWorkflowBeta1(wpb.GetWorkflowRequest(**ref), timeout=WAIT)
        assert (got.workflow_name, got.runtime_status) == ("await_approval", "RUNNING")
        stub.PauseWorkflowBeta1(wpb.PauseWorkflowRequest(**ref), timeout=WAIT)
        wait_status(at_target, instance_id, WorkflowStatus.SUSPENDED)
        stub.ResumeWorkflowBeta1(wpb.ResumeWorkflowRequest(**ref), timeout=WAIT)
        stub.RaiseEventWorkflowBeta1(
            wpb.RaiseEventWorkflowRequest(event_name="approval", event_data=b'"Cy"', **ref), timeout=WAIT
        )
        done = wait_status(at_target, instance_id, WorkflowStatus.COMPLETED)
        assert json.loads(done.serialized_output) == {"approved_by": "Cy"}
        stub.PurgeWorkflowBeta1(wpb.PurgeWorkflowRequest(**ref), timeout=WAIT)
        assert at_target.get_workflow_state(instance_id) is None
        with pytest.raises(grpc.RpcError) as info:
            stub.TerminateWorkflowBeta1(
                wpb.TerminateWorkflowRequest(**{**ref, "app_id": "a.b"}), timeout=WAIT
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
