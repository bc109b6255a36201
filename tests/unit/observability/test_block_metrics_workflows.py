"""Dapr's workflow metrics after real workflows on the engine: the actor host and API, an in-memory
actor state store, the worker pool, and a worker that answers its work items as an SDK would
(one activity, then the workflow completes or fails; terminated when told)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from pydapr.actors.api import ActorsAPI
from pydapr.actors.contract import ActorKey, FireReminder, Reminder
from pydapr.actors.host import ActorHost
from pydapr.actors.state import ActorState
from pydapr.components.base import ComponentMetadata
from pydapr.observability.metrics.blocks.workflows import WorkflowMetrics
from pydapr.observability.metrics.registry import REGISTRY
from pydapr.state.memory import InMemoryStateStore
from pydapr.workflows._proto import durabletask_pb2 as pb
from pydapr.workflows.contract import StartRequest
from pydapr.workflows.engine import WorkflowEngine
from pydapr.workflows.workers import WorkerPool
from tests.unit.actors.conftest import TablePlacement


class KeptReminders:
    """Reminders kept in memory and never fired: the runs under test need none to fire (the
    keepalive is 10 s away), only to be registered and deleted."""

    def __init__(self) -> None:
        self.kept: dict[tuple[ActorKey, str], Reminder] = {}

    async def create(self, reminder: Reminder) -> None:
        self.kept[(reminder.key, reminder.name)] = reminder

    async def get(self, key: ActorKey, name: str) -> Reminder | None:
        return self.kept.get((key, name))

    async def delete(self, key: ActorKey, name: str) -> None:
        self.kept.pop((key, name), None)

    async def list(self, actor_type: str, actor_id: str | None = None) -> list[Reminder]:
        return [r for (k, _), r in self.kept.items() if k.actor_type == actor_type]

    async def delete_all(self, actor_type: str, actor_id: str | None = None) -> None:
        for k in [k for k in self.kept if k[0].actor_type == actor_type]:
            del self.kept[k]

    def watch(self, actor_types: Sequence[str], fire: FireReminder) -> None:
        pass

    async def close(self) -> None:
        pass


class _StreamContext:
    def done(self) -> bool:
        return True


def _answer_workflow(request: pb.WorkflowRequest) -> pb.WorkflowResponse:
    events = [*request.pastEvents, *request.newEvents]
    response = pb.WorkflowResponse(instanceId=request.instanceId)
    if any(e.HasField("executionTerminated") for e in events):
        response.actions.add(id=1).completeWorkflow.workflowStatus = pb.ORCHESTRATION_STATUS_TERMINATED
        return response
    start = next(e.executionStarted for e in events if e.HasField("executionStarted"))
    if start.name == "waits":
        return response  # waits for an event that never comes
    done = [e for e in events if e.HasField("taskCompleted") or e.HasField("taskFailed")]
    if not done:
        action = response.actions.add(id=0)
        action.scheduleTask.name = "greet"
        action.scheduleTask.input.value = start.input.value
        return response
    complete = response.actions.add(id=1).completeWorkflow
    if done[0].HasField("taskFailed"):
        complete.workflowStatus = pb.ORCHESTRATION_STATUS_FAILED
        complete.failureDetails.CopyFrom(done[0].taskFailed.failureDetails)
    else:
        complete.workflowStatus = pb.ORCHESTRATION_STATUS_COMPLETED
        complete.result.CopyFrom(done[0].taskCompleted.result)
    return response


def _answer_activity(request: pb.ActivityRequest) -> pb.ActivityResponse:
    response = pb.ActivityResponse(instanceId=request.workflowInstance.instanceId, taskId=request.taskId)
    if request.input.value == '"fail"':
        response.failureDetails.errorType = "ValueError"
        response.failureDetails.errorMessage = "asked to fail"
    else:
        response.result.value = '"hello"'
    return response


class Sidecar:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.app_id, self.namespace = f"wf-{tag}", "ns-metrics"
        self.placement = TablePlacement()
        self.pool = WorkerPool()

    async def start(self) -> None:
        placement = self.placement

        def owns(key: ActorKey) -> bool:
            found = placement.owner(key)
            return found is not None and found.local

        host = ActorHost(owns=owns)
        store = InMemoryStateStore()
        await store.init(ComponentMetadata("actorstore", "state.in-memory", "v1", {}, app_id=self.app_id))
        state = ActorState(app_id=self.app_id, store=store, store_name="actorstore", is_active=host.is_active)
        actors = ActorsAPI(
            app_id=self.app_id, host=host, state=state, placement=placement, reminders=KeptReminders()
        )
        self.engine = WorkflowEngine(
            app_id=self.app_id,
            namespace=self.namespace,
            actors=actors,
            state=state,
            pool=self.pool,
            metrics=WorkflowMetrics(self.app_id, self.namespace),
        )
        self.pool.add_listener(self.engine)
        items = self.pool.stream(pb.GetWorkItemsRequest(), _StreamContext())  # type: ignore[arg-type]
        self.worker = asyncio.create_task(self._work(items))
        for _ in range(200):  # the stream joins the pool once the worker task first runs
            if self.pool.connected:
                break
            await asyncio.sleep(0.01)
        assert self.pool.connected

    async def _work(self, items: AsyncIterator[pb.WorkItem]) -> None:
        async for item in items:
            if item.HasField("workflowRequest"):
                answer = _answer_workflow(item.workflowRequest)
                answer.completionToken = item.completionToken
                self.pool.complete_workflow(answer)
            else:
                await asyncio.sleep(0.005)  # the activity takes a moment: its latency is above 0
                activity = _answer_activity(item.activityRequest)
                activity.completionToken = item.completionToken
                self.pool.complete_activity(activity)

    async def stop(self) -> None:
        self.pool.close()
        await self.engine.close()
        self.worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.worker

    def value(self, metric: str, **labels: str) -> float:
        full = {"app_id": self.app_id, "namespace": self.namespace, **labels}
        return REGISTRY.get_sample_value(metric, full) or 0.0

    async def finished(self, instance_id: str) -> pb.WorkflowState:
        state = await self.engine.wait(instance_id, completion=True, timeout=10)
        assert state is not None
        return state


@pytest.fixture
async def sidecar() -> AsyncIterator[Sidecar]:
    s = Sidecar()
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def test_workflows_that_end_are_counted_by_status_with_their_latencies(sidecar: Sidecar) -> None:
    ok = await sidecar.engine.start(StartRequest("greeting", input='"ann"'))
    failed = await sidecar.engine.start(StartRequest("greeting", input='"fail"'))
    assert (await sidecar.finished(ok)).workflowStatus == pb.ORCHESTRATION_STATUS_COMPLETED
    assert (await sidecar.finished(failed)).workflowStatus == pb.ORCHESTRATION_STATUS_FAILED
    await asyncio.sleep(0.05)  # the last run's bookkeeping after the state was stored

    assert (
        sidecar.value("dapr_runtime_workflow_execution_count", workflow_name="greeting", status="success")
        == 1
    )
    assert (
        sidecar.value("dapr_runtime_workflow_execution_count", workflow_name="greeting", status="failed") == 1
    )
    latency = sidecar.value(
        "dapr_runtime_workflow_execution_latency_count", workflow_name="greeting", status="success"
    )
    assert latency == 1
    top = sidecar.value(
        "dapr_runtime_workflow_execution_latency_bucket",
        workflow_name="greeting",
        status="success",
        le="+Inf",
    )
    assert top == 1
    assert (
        sidecar.value(
            "dapr_runtime_workflow_activity_execution_count", activity_name="greet", status="success"
        )
        == 1
    )
    assert (
        sidecar.value(
            "dapr_runtime_workflow_activity_execution_count", activity_name="greet", status="failed"
        )
        == 1
    )
    activity_ms = sidecar.value(
        "dapr_runtime_workflow_activity_execution_latency_sum", activity_name="greet", status="success"
    )
    assert 5 <= activity_ms < 5000
    assert sidecar.value("dapr_runtime_workflow_scheduling_latency_count", workflow_name="greeting") == 2
    assert (
        sidecar.value("dapr_runtime_workflow_operation_count", operation="create_workflow", status="success")
        == 2
    )
    assert (
        sidecar.value(
            "dapr_runtime_workflow_operation_latency_count", operation="create_workflow", status="success"
        )
        == 2
    )


async def test_terminate_is_an_add_event_and_a_terminated_execution(sidecar: Sidecar) -> None:
    instance_id = await sidecar.engine.start(StartRequest("waits"))
    await sidecar.engine.wait(instance_id, completion=False, timeout=10)
    await sidecar.engine.raise_event(instance_id, "nobody-listens", None)
    await sidecar.engine.terminate(instance_id)
    assert (await sidecar.finished(instance_id)).workflowStatus == pb.ORCHESTRATION_STATUS_TERMINATED
    await asyncio.sleep(0.05)
    assert (
        sidecar.value("dapr_runtime_workflow_operation_count", operation="add_event", status="success") == 2
    )
    assert (
        sidecar.value("dapr_runtime_workflow_execution_count", workflow_name="waits", status="terminated")
        == 1
    )
    assert await sidecar.engine.purge(instance_id) == 1
    assert (
        sidecar.value("dapr_runtime_workflow_operation_count", operation="purge_workflow", status="success")
        == 1
    )


async def test_a_refused_operation_is_counted_as_failed(sidecar: Sidecar) -> None:
    instance_id = await sidecar.engine.start(StartRequest("waits"))
    await sidecar.engine.wait(instance_id, completion=False, timeout=10)
    with pytest.raises(Exception, match="completed"):
        await sidecar.engine.purge(instance_id)  # still running: ERR not completed
    assert (
        sidecar.value("dapr_runtime_workflow_operation_count", operation="purge_workflow", status="failed")
        == 1
    )
    assert (
        sidecar.value("dapr_runtime_workflow_operation_count", operation="purge_workflow", status="success")
        == 0
    )
