"""Workflows with only the SDK API every supported release has (dapr-ext-workflow 1.16 through
dapr 1.19's bundled one): scheduling, activities in sequence and in parallel, waiting, external
events, terminate and purge. scripts/test.sh also runs this file in the lowest-versions venv."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dapr.ext.workflow import WorkflowStatus

from tests.e2e.workflow_mesh import WorkflowHost, workflow_mesh

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RUN = "wfsdk" + uuid.uuid4().hex[:8]


# The client names a workflow by its function (1.16 takes only a function): these stand for the
# worker's (tests/e2e/workflow_apps/worker.py), which run in the worker process.
def chain(ctx: Any, n: int) -> Any: ...


def fan_out(ctx: Any, n: int) -> Any: ...


def await_approval(ctx: Any, _: Any) -> Any: ...


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowHost]:
    with workflow_mesh(tmp_path_factory, "wf-sdk", RUN) as mesh:
        yield mesh.host("basics")


def test_activities_in_sequence_and_in_parallel(host: WorkflowHost) -> None:
    client = host.client()
    chain_id = client.schedule_new_workflow(workflow=chain, input=5, instance_id=f"{RUN}-chain")
    fan_id = client.schedule_new_workflow(workflow=fan_out, input=10, instance_id=f"{RUN}-fan")
    # record(i) returns 2 * i
    for instance_id, total in ((chain_id, 20), (fan_id, 90)):
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
        assert state is not None
        assert state.runtime_status == WorkflowStatus.COMPLETED
        assert state.serialized_output == str(total)


def test_an_external_event_then_terminate_and_purge(host: WorkflowHost) -> None:
    client = host.client()
    waiting = client.schedule_new_workflow(workflow=await_approval, input="-", instance_id=f"{RUN}-wait")
    client.wait_for_workflow_start(waiting, timeout_in_seconds=30)
    client.raise_workflow_event(waiting, "approval", data=True)
    state = client.wait_for_workflow_completion(waiting, timeout_in_seconds=30)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.COMPLETED, (
        state.failure_details and state.failure_details.message
    )

    stuck = client.schedule_new_workflow(workflow=await_approval, input="-", instance_id=f"{RUN}-stuck")
    client.wait_for_workflow_start(stuck, timeout_in_seconds=30)
    client.terminate_workflow(stuck)
    state = client.wait_for_workflow_completion(stuck, timeout_in_seconds=30)
    assert state is not None and state.runtime_status == WorkflowStatus.TERMINATED
    client.purge_workflow(stuck)
    assert client.get_workflow_state(stuck) is None
