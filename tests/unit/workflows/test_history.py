"""``history.apply``: how a worker's answer becomes history and effects (the parts not covered end to
end with the Python SDK, which sends no detached workflows)."""

from __future__ import annotations

from pydapr.workflows._proto import durabletask_pb2 as pb
from pydapr.workflows.history import Instance, apply, event, target_app


def test_a_detached_workflow_keeps_the_app_its_router_names() -> None:
    instance = Instance("parent", inbox=[event(executionStarted=pb.ExecutionStartedEvent(name="p"))])
    response = pb.WorkflowResponse(instanceId="parent")
    remote = response.actions.add(id=1)
    remote.createDetachedWorkflow.instanceId = "there"
    remote.createDetachedWorkflow.name = "w"
    remote.router.targetAppID = "other-app"
    local = response.actions.add(id=2)
    local.createDetachedWorkflow.instanceId = "here"
    effects = apply(instance, [*instance.inbox], response, "mine")
    assert [(target_app(router, "mine"), d.instanceId) for router, d in effects.detached] == [
        ("other-app", "there"),
        ("mine", "here"),
    ]
    created = [e for e in instance.history if e.HasField("detachedWorkflowInstanceCreated")]
    assert [(e.router.sourceAppID, e.router.targetAppID) for e in created if e.HasField("router")] == [
        ("mine", "other-app")
    ]
