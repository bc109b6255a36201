"""The workflow history rules (pydapr.workflows.history): a worker's answer becomes history and
effects; results delivered twice are recorded once; status as the SDK's client reads it."""

from __future__ import annotations

from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2 as sdk_pb

from pydapr.workflows._proto import durabletask_pb2 as pb
from pydapr.workflows.history import Instance, apply, event, propagation, target_app

S = pb.OrchestrationStatus


def started(name: str = "wf", data: str = "42") -> Instance:
    start = pb.ExecutionStartedEvent(name=name)
    start.input.value = data
    start.workflowInstance.instanceId = "i1"
    start.workflowInstance.executionId.value = "e1"
    return Instance("i1", inbox=[event(executionStarted=start)])


def turn(instance: Instance, response: pb.WorkflowResponse):  # type: ignore[no-untyped-def]
    sent = [event(workflowStarted=pb.WorkflowStartedEvent()), *instance.inbox]
    instance.inbox = []
    return apply(instance, sent, response, "app-a")


def test_a_new_instance_is_pending_until_its_first_turn() -> None:
    instance = started()
    assert instance.status() == S.ORCHESTRATION_STATUS_PENDING
    assert instance.state(payloads=True).input.value == "42"
    assert not instance.state(payloads=False).HasField("input")


def test_an_activity_action_is_recorded_then_its_result_once() -> None:
    instance = started()
    response = pb.WorkflowResponse(instanceId="i1")
    action = response.actions.add(id=0)
    action.scheduleTask.name = "step1"
    action.scheduleTask.input.value = "42"
    effects = turn(instance, response)
    assert instance.status() == S.ORCHESTRATION_STATUS_RUNNING
    assert [e.eventId for e in effects.activities] == [0]
    assert [e.WhichOneof("eventType") for e in instance.history] == [
        "workflowStarted",
        "executionStarted",
        "taskScheduled",
    ]
    assert instance.pending_activities() == effects.activities

    done = event(taskCompleted=pb.TaskCompletedEvent(taskScheduledId=0))
    done.taskCompleted.result.value = "43"
    assert not instance.is_duplicate(done)
    instance.inbox.append(done)
    assert instance.is_duplicate(done)  # a second delivery of the same result
    assert instance.pending_activities() == []


def test_completion_and_the_output_the_client_reads() -> None:
    instance = started()
    response = pb.WorkflowResponse(instanceId="i1")
    action = response.actions.add(id=1)
    action.completeWorkflow.workflowStatus = S.ORCHESTRATION_STATUS_COMPLETED
    action.completeWorkflow.result.value = '"done"'
    response.customStatus.value = '"almost"'
    effects = turn(instance, response)
    assert effects.completed and instance.terminal
    state = instance.state(payloads=True)
    assert state.workflowStatus == S.ORCHESTRATION_STATUS_COMPLETED
    assert state.output.value == '"done"'
    assert state.customStatus.value == '"almost"'
    # The SDK's own message reads ours field for field (same numbers on the wire).
    read = sdk_pb.GetInstanceResponse(exists=True)
    read.MergeFromString(pb.GetInstanceResponse(exists=True, workflowState=state).SerializeToString())
    assert read.workflowState.output.value == '"done"'


def test_continue_as_new_starts_a_fresh_execution_with_the_carried_over_events() -> None:
    instance = started()
    carried = event(eventRaised=pb.EventRaisedEvent(name="poke"))
    response = pb.WorkflowResponse(instanceId="i1")
    action = response.actions.add(id=2)
    action.completeWorkflow.workflowStatus = S.ORCHESTRATION_STATUS_CONTINUED_AS_NEW
    action.completeWorkflow.result.value = "7"
    action.completeWorkflow.carryoverEvents.append(carried)
    effects = turn(instance, response)
    assert effects.continued and not effects.completed
    assert instance.history == [] and instance.generation == 1
    assert instance.inbox[0].executionStarted.input.value == "7"
    assert instance.inbox[0].executionStarted.workflowInstance.executionId.value != "e1"
    assert instance.inbox[1].eventRaised.name == "poke"


def test_a_pause_shows_at_once_and_a_resume_clears_it() -> None:
    instance = started()
    turn(instance, pb.WorkflowResponse(instanceId="i1"))
    instance.inbox.append(event(executionSuspended=pb.ExecutionSuspendedEvent()))
    assert instance.status() == S.ORCHESTRATION_STATUS_SUSPENDED
    instance.inbox.append(event(executionResumed=pb.ExecutionResumedEvent()))
    assert instance.status() == S.ORCHESTRATION_STATUS_RUNNING


def test_cross_app_targets_and_history_propagation() -> None:
    instance = started()
    response = pb.WorkflowResponse(instanceId="i1")
    action = response.actions.add(id=0)
    action.scheduleTask.name = "remote"
    action.scheduleTask.historyPropagationScope = pb.HISTORY_PROPAGATION_SCOPE_OWN_HISTORY
    action.router.targetAppID = "app-b"
    effects = turn(instance, response)
    scheduled = effects.activities[0]
    assert target_app(scheduled.router, "app-a") == "app-b"
    assert scheduled.router.sourceAppID == "app-a"
    shared = propagation(instance, scheduled.taskScheduled.historyPropagationScope, "app-a")
    assert shared is not None and shared.chunks[0].appId == "app-a"
    assert len(shared.chunks[0].rawEvents) == len(instance.history)
    assert propagation(instance, pb.HISTORY_PROPAGATION_SCOPE_NONE, "app-a") is None
