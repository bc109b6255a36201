"""The worker pool behind a real ``TaskHubSidecarService`` (grpc.aio on a free port), with workers
that are real gRPC clients of it: dispatch, completion by token and without one, a worker that
goes away mid-item, a late worker, two workers sharing the load, the listener, and close()."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from pydapr import rpc
from pydapr.workflows import errors as E
from pydapr.workflows._proto import durabletask_pb2 as pb
from pydapr.workflows.contract import NoWorker, StartRequest
from pydapr.workflows.grpc_service import SERVICE, task_hub_service
from pydapr.workflows.rerun import RerunRequest
from pydapr.workflows.workers import WorkerPool


class NoInstances:
    """A ``Workflows`` that knows no instance: the service needs one, the pool is under test."""

    async def start(self, request: StartRequest) -> str:
        raise E.NO_SUCH_INSTANCE()

    async def get(
        self, instance_id: str, *, payloads: bool = True, app: str | None = None
    ) -> pb.WorkflowState | None:
        raise E.NO_SUCH_INSTANCE()

    async def wait(
        self,
        instance_id: str,
        *,
        completion: bool,
        payloads: bool = True,
        timeout: float | None = None,
        app: str | None = None,
    ) -> pb.WorkflowState | None:
        raise E.NO_SUCH_INSTANCE()

    async def raise_event(
        self, instance_id: str, name: str, data: str | None, *, app: str | None = None
    ) -> None:
        raise E.NO_SUCH_INSTANCE()

    async def terminate(
        self, instance_id: str, output: str | None = None, *, recursive: bool = True, app: str | None = None
    ) -> None:
        raise E.NO_SUCH_INSTANCE()

    async def suspend(self, instance_id: str, reason: str | None = None, *, app: str | None = None) -> None:
        raise E.NO_SUCH_INSTANCE()

    async def resume(self, instance_id: str, reason: str | None = None, *, app: str | None = None) -> None:
        raise E.NO_SUCH_INSTANCE()

    async def purge(
        self, instance_id: str, *, recursive: bool = True, force: bool = False, app: str | None = None
    ) -> int:
        raise E.NO_SUCH_INSTANCE()

    async def history(self, instance_id: str) -> list[pb.HistoryEvent] | None:
        raise E.NO_SUCH_INSTANCE()

    async def rerun(self, request: RerunRequest, *, app: str | None = None) -> str:
        raise E.RERUN_NOT_FOUND(f"workflow instance does not exist with ID '{request.source}'")

    async def list_instance_ids(
        self, token: str | None, page_size: int | None
    ) -> tuple[list[str], str | None]:
        raise E.NO_SUCH_INSTANCE()


class Counts:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_workers(self, connected: int) -> None:
        self.seen.append(connected)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Sidecar:
    """The client side: a channel to the service, worker streams and completion calls."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.get_work_items = channel.unary_stream(
            f"/{SERVICE}/GetWorkItems",
            request_serializer=pb.GetWorkItemsRequest.SerializeToString,
            response_deserializer=pb.WorkItem.FromString,
        )
        self.complete_orchestrator = self._unary("CompleteOrchestratorTask", pb.WorkflowResponse)
        self.complete_workflow = self._unary("CompleteWorkflowTask", pb.WorkflowResponse)
        self.complete_activity = self._unary("CompleteActivityTask", pb.ActivityResponse)

    def _unary(self, method: str, request: Any, response: Any = pb.CompleteTaskResponse) -> Any:
        return self.channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )

    def worker(self) -> Any:
        return self.get_work_items(pb.GetWorkItemsRequest())


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    yield WorkerPool()


@pytest.fixture
async def sidecar(pool: WorkerPool) -> AsyncIterator[Sidecar]:
    server = rpc.grpcio_server([])
    task_hub_service(NoInstances(), pool)(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Sidecar(channel)
    finally:
        await channel.close()
        pool.close()
        await server.stop(0)


def workflow(instance_id: str) -> pb.WorkflowRequest:
    return pb.WorkflowRequest(instanceId=instance_id)


def activity(instance_id: str, task_id: int) -> pb.ActivityRequest:
    request = pb.ActivityRequest(name="act", taskId=task_id)
    request.workflowInstance.instanceId = instance_id
    return request


async def test_dispatches_to_the_worker_and_resolves_by_token(pool: WorkerPool, sidecar: Sidecar) -> None:
    stream = sidecar.worker()
    await until(lambda: pool.connected == 1)

    running = asyncio.create_task(pool.run_workflow(workflow("wf-1"), wait=1))
    item = await stream.read()
    assert item.WhichOneof("request") == "workflowRequest"
    assert item.workflowRequest.instanceId == "wf-1"
    assert item.completionToken
    answer = pb.WorkflowResponse(instanceId="wf-1", completionToken=item.completionToken)
    answer.customStatus.value = '"turn 1"'
    await sidecar.complete_orchestrator(answer)
    result = await asyncio.wait_for(running, 5)
    assert result.customStatus.value == '"turn 1"'

    # CompleteWorkflowTask is the same answer under the newer name.
    running = asyncio.create_task(pool.run_workflow(workflow("wf-1"), wait=1))
    item = await stream.read()
    await sidecar.complete_workflow(
        pb.WorkflowResponse(instanceId="wf-1", completionToken=item.completionToken)
    )
    assert (await asyncio.wait_for(running, 5)).instanceId == "wf-1"

    running_activity = asyncio.create_task(pool.run_activity(activity("wf-1", 3), wait=1))
    item = await stream.read()
    assert item.WhichOneof("request") == "activityRequest"
    assert (item.activityRequest.workflowInstance.instanceId, item.activityRequest.taskId) == ("wf-1", 3)
    done = pb.ActivityResponse(instanceId="wf-1", taskId=3, completionToken=item.completionToken)
    done.result.value = "42"
    await sidecar.complete_activity(done)
    assert (await asyncio.wait_for(running_activity, 5)).result.value == "42"
    stream.cancel()


async def test_every_item_has_a_fresh_token(pool: WorkerPool, sidecar: Sidecar) -> None:
    stream = sidecar.worker()
    await until(lambda: pool.connected == 1)
    runs = [asyncio.create_task(pool.run_workflow(workflow(f"wf-{i}"), wait=1)) for i in range(3)]
    items = [await stream.read() for _ in runs]
    assert len({i.completionToken for i in items}) == 3
    # Answered out of order, each reaches its own caller.
    for item in reversed(items):
        rid = item.workflowRequest.instanceId
        await sidecar.complete_orchestrator(
            pb.WorkflowResponse(instanceId=rid, completionToken=item.completionToken)
        )
    results = await asyncio.wait_for(asyncio.gather(*runs), 5)
    assert [r.instanceId for r in results] == ["wf-0", "wf-1", "wf-2"]
    stream.cancel()


async def test_an_answer_without_a_token_is_matched_by_instance_and_task(
    pool: WorkerPool, sidecar: Sidecar
) -> None:
    stream = sidecar.worker()
    await until(lambda: pool.connected == 1)

    running = asyncio.create_task(pool.run_workflow(workflow("old-sdk"), wait=1))
    await stream.read()
    await sidecar.complete_orchestrator(pb.WorkflowResponse(instanceId="old-sdk"))
    assert (await asyncio.wait_for(running, 5)).instanceId == "old-sdk"

    first = asyncio.create_task(pool.run_activity(activity("old-sdk", 1), wait=1))
    second = asyncio.create_task(pool.run_activity(activity("old-sdk", 2), wait=1))
    await stream.read()
    await stream.read()
    two = pb.ActivityResponse(instanceId="old-sdk", taskId=2)
    two.result.value = '"two"'
    await sidecar.complete_activity(two)
    assert (await asyncio.wait_for(second, 5)).result.value == '"two"'
    assert not first.done()
    await sidecar.complete_activity(pb.ActivityResponse(instanceId="old-sdk", taskId=1))
    assert (await asyncio.wait_for(first, 5)).taskId == 1
    stream.cancel()


async def test_an_unknown_token_is_answered_ok_and_changes_nothing(
    pool: WorkerPool, sidecar: Sidecar
) -> None:
    stream = sidecar.worker()
    await until(lambda: pool.connected == 1)
    running = asyncio.create_task(pool.run_activity(activity("wf", 7), wait=1))
    item = await stream.read()

    # daprd ignores a completion nobody waits for and tells the worker OK.
    stale = pb.ActivityResponse(instanceId="wf", taskId=7, completionToken="not-a-token")
    assert await sidecar.complete_activity(stale) == pb.CompleteTaskResponse()
    assert (
        await sidecar.complete_orchestrator(pb.WorkflowResponse(instanceId="nobody"))
        == pb.CompleteTaskResponse()
    )
    # An activity's token sent as a workflow answer does not resolve the activity.
    wrong_kind = pb.WorkflowResponse(instanceId="wf", completionToken=item.completionToken)
    assert not pool.complete_workflow(wrong_kind)
    await asyncio.sleep(0.05)
    assert not running.done()

    done = pb.ActivityResponse(instanceId="wf", taskId=7, completionToken=item.completionToken)
    await sidecar.complete_activity(done)
    await asyncio.wait_for(running, 5)
    # A second, repeated answer finds nothing.
    assert not pool.complete_activity(done)
    stream.cancel()


async def test_a_worker_gone_mid_item_fails_the_run_with_no_worker(
    pool: WorkerPool, sidecar: Sidecar
) -> None:
    stream = sidecar.worker()
    await until(lambda: pool.connected == 1)
    running = asyncio.create_task(pool.run_workflow(workflow("wf"), wait=1))
    running_activity = asyncio.create_task(pool.run_activity(activity("wf", 1), wait=1))
    item = await stream.read()
    await stream.read()
    stream.cancel()
    with pytest.raises(NoWorker):
        await asyncio.wait_for(running, 5)
    with pytest.raises(NoWorker):
        await asyncio.wait_for(running_activity, 5)
    assert pool.connected == 0
    # Its answer arriving late from somewhere finds nothing.
    assert not pool.complete_workflow(
        pb.WorkflowResponse(instanceId="wf", completionToken=item.completionToken)
    )


async def test_waits_for_a_late_worker(pool: WorkerPool, sidecar: Sidecar) -> None:
    with pytest.raises(NoWorker):
        await pool.run_workflow(workflow("wf"), wait=0)
    started = time.monotonic()
    with pytest.raises(NoWorker):
        await pool.run_workflow(workflow("wf"), wait=0.2)
    assert 0.15 < time.monotonic() - started < 2

    running = asyncio.create_task(pool.run_activity(activity("wf", 1), wait=5))
    await asyncio.sleep(0.2)
    assert not running.done()
    stream = sidecar.worker()
    item = await asyncio.wait_for(stream.read(), 5)
    await sidecar.complete_activity(
        pb.ActivityResponse(instanceId="wf", taskId=1, completionToken=item.completionToken)
    )
    assert (await asyncio.wait_for(running, 5)).taskId == 1
    stream.cancel()


async def test_two_workers_share_the_load(pool: WorkerPool, sidecar: Sidecar) -> None:
    streams = [sidecar.worker(), sidecar.worker()]
    await until(lambda: pool.connected == 2)
    runs = [asyncio.create_task(pool.run_workflow(workflow(f"wf-{i}"), wait=1)) for i in range(10)]
    received: list[list[pb.WorkItem]] = [[], []]

    async def drain(index: int) -> None:
        while True:
            received[index].append(await streams[index].read())

    readers = [asyncio.create_task(drain(i)) for i in range(2)]
    await until(lambda: sum(len(r) for r in received) == 10)
    # Least in flight first: ten items over two idle workers split evenly.
    assert [len(r) for r in received] == [5, 5]
    for item in received[0] + received[1]:
        answer = pb.WorkflowResponse(
            instanceId=item.workflowRequest.instanceId, completionToken=item.completionToken
        )
        await sidecar.complete_orchestrator(answer)
    results = await asyncio.wait_for(asyncio.gather(*runs), 5)
    assert sorted(r.instanceId for r in results) == sorted(f"wf-{i}" for i in range(10))

    # A busy worker is passed over: the idle one takes the next item.
    busy = asyncio.create_task(pool.run_activity(activity("busy", 1), wait=1))
    await until(lambda: sum(len(r) for r in received) == 11)
    busy_index = 0 if len(received[0]) == 6 else 1
    nxt = asyncio.create_task(pool.run_activity(activity("next", 1), wait=1))
    await until(lambda: sum(len(r) for r in received) == 12)
    assert len(received[1 - busy_index]) == 6
    for task in (busy, nxt):
        task.cancel()
    for reader in readers:
        reader.cancel()
    for stream in streams:
        stream.cancel()


async def test_cancelling_a_run_forgets_its_item(pool: WorkerPool, sidecar: Sidecar) -> None:
    stream = sidecar.worker()
    await until(lambda: pool.connected == 1)
    running = asyncio.create_task(pool.run_workflow(workflow("wf"), wait=1))
    item = await stream.read()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert not pool.complete_workflow(
        pb.WorkflowResponse(instanceId="wf", completionToken=item.completionToken)
    )
    assert not pool.complete_workflow(pb.WorkflowResponse(instanceId="wf"))
    stream.cancel()


async def test_the_listener_is_told_each_count(pool: WorkerPool, sidecar: Sidecar) -> None:
    counts = Counts()
    pool.add_listener(counts)
    first = sidecar.worker()
    await until(lambda: counts.seen == [1])
    second = sidecar.worker()
    await until(lambda: counts.seen == [1, 2])
    first.cancel()
    await until(lambda: counts.seen == [1, 2, 1])
    second.cancel()
    await until(lambda: counts.seen == [1, 2, 1, 0])
    assert pool.connected == 0


async def read_all(stream: Any, into: list[pb.WorkItem]) -> grpc.aio.AioRpcError | None:
    """Reads a stream to its end: the status it ended with (None: it ended OK)."""
    try:
        while (item := await stream.read()) is not grpc.aio.EOF:
            into.append(item)
    except grpc.aio.AioRpcError as failure:
        return failure
    return None


async def test_close_ends_every_stream(pool: WorkerPool, sidecar: Sidecar) -> None:
    counts = Counts()
    pool.add_listener(counts)
    received: list[pb.WorkItem] = []
    readers = [asyncio.create_task(read_all(sidecar.worker(), received)) for _ in range(2)]
    await until(lambda: pool.connected == 2)
    waiting = asyncio.create_task(pool.run_workflow(workflow("wf"), wait=30))
    await until(lambda: len(received) == 1)

    pool.close()
    for ended in await asyncio.wait_for(asyncio.gather(*readers), 5):
        assert ended is not None
        assert ended.code() == grpc.StatusCode.CANCELLED
        assert ended.details() == "shutting down"
    with pytest.raises(NoWorker):
        await asyncio.wait_for(waiting, 5)
    await until(lambda: counts.seen[-1] == 0)

    # No new stream is taken, and nobody waits for one.
    refused = await asyncio.wait_for(read_all(sidecar.worker(), received), 5)
    assert refused is not None and refused.code() == grpc.StatusCode.CANCELLED
    started = time.monotonic()
    with pytest.raises(NoWorker):
        await pool.run_activity(activity("wf", 1), wait=10)
    assert time.monotonic() - started < 1


async def test_the_service_answers_over_the_facade(sidecar: Sidecar) -> None:
    hello = sidecar._unary("Hello", empty_pb2.Empty, empty_pb2.Empty)
    assert await hello(empty_pb2.Empty()) == empty_pb2.Empty()

    get = sidecar._unary("GetInstance", pb.GetInstanceRequest, pb.GetInstanceResponse)
    assert await get(pb.GetInstanceRequest(instanceId="nobody")) == pb.GetInstanceResponse(exists=False)

    raise_event = sidecar._unary("RaiseEvent", pb.RaiseEventRequest, pb.RaiseEventResponse)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await raise_event(pb.RaiseEventRequest(instanceId="nobody", name="e"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing.value.details() == "no such instance exists"

    rerun = sidecar._unary(
        "RerunWorkflowFromEvent", pb.RerunWorkflowFromEventRequest, pb.RerunWorkflowFromEventResponse
    )
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await rerun(pb.RerunWorkflowFromEventRequest(sourceInstanceID="x"))
    assert (unknown.value.code(), unknown.value.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "workflow instance does not exist with ID 'x'",
    )
    # daprd's checks before the source is asked.
    for request, message in (
        (pb.RerunWorkflowFromEventRequest(), "rerun workflow source instance ID is required"),
        (
            pb.RerunWorkflowFromEventRequest(sourceInstanceID="x", newInstanceID="x"),
            "rerun workflow instance ID must be different from the original instance ID",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await rerun(request)
        assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)

    purge = sidecar._unary("PurgeInstances", pb.PurgeInstancesRequest, pb.PurgeInstancesResponse)
    with pytest.raises(grpc.aio.AioRpcError) as by_filter:
        await purge(pb.PurgeInstancesRequest(purgeInstanceFilter=pb.PurgeInstanceFilter()))
    assert by_filter.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "purgeInstanceFilter" in (by_filter.value.details() or "")
