"""The app's workflow workers, connected over ``GetWorkItems``: hands them work items and matches
their completions to the engine waiting for them (durabletask-go backend/executor.go's grpcExecutor).

Each work item carries a fresh completion token that the worker echoes in its
``CompleteOrchestratorTask`` / ``CompleteWorkflowTask`` / ``CompleteActivityTask`` call. Workers
that echo no token (older SDKs) are matched by instance id, and by (instance id, task id) for
activities, as durabletask-go did before tokens.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from pydapr import rpc

from ._proto import durabletask_pb2 as pb
from .contract import NoWorker, WorkersListener

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("pydapr.workflows.workers")

_Response = TypeVar("_Response", pb.WorkflowResponse, pb.ActivityResponse)

_WORKFLOW = "workflow"
_ACTIVITY = "activity"


class _Worker(msgspec.Struct, eq=False):
    """One open ``GetWorkItems`` stream."""

    items: asyncio.Queue[pb.WorkItem | None] = msgspec.field(default_factory=asyncio.Queue)
    in_flight: set[str] = msgspec.field(default_factory=set)  # completion tokens sent or queued here


class _Pending(msgspec.Struct, eq=False):
    kind: str
    key: Hashable  # what a completion without a token is matched by
    worker: _Worker
    answer: asyncio.Future[Any]


class WorkerPool:
    """``contract.WorkerPool``, plus the service side of the work-item protocol (``stream`` and
    ``complete_*``, called by ``grpc_service``)."""

    def __init__(self) -> None:
        self._workers: list[_Worker] = []
        self._next = 0  # where the least-loaded scan starts, so equal loads take turns
        self._pending: dict[str, _Pending] = {}
        self._by_key: dict[tuple[str, Hashable], str] = {}
        self._listeners: list[WorkersListener] = []
        self._available = asyncio.Event()
        self._closed = False

    # --- contract.WorkerPool ------------------------------------------------------------------

    @property
    def connected(self) -> int:
        return len(self._workers)

    def add_listener(self, listener: WorkersListener) -> None:
        self._listeners.append(listener)

    async def run_workflow(self, request: pb.WorkflowRequest, *, wait: float) -> pb.WorkflowResponse:
        item = pb.WorkItem(workflowRequest=request)
        answer: pb.WorkflowResponse = await self._run(item, _WORKFLOW, request.instanceId, wait)
        return answer

    async def run_activity(self, request: pb.ActivityRequest, *, wait: float) -> pb.ActivityResponse:
        item = pb.WorkItem(activityRequest=request)
        key = (request.workflowInstance.instanceId, request.taskId)
        answer: pb.ActivityResponse = await self._run(item, _ACTIVITY, key, wait)
        return answer

    # --- the GetWorkItems service side ----------------------------------------------------------

    async def stream(
        self,
        request: pb.GetWorkItemsRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> AsyncIterator[pb.WorkItem]:
        """The body of ``GetWorkItems``: this worker's work items until it hangs up or the
        sidecar stops (then the stream ends CANCELLED "shutting down", as daprd's)."""
        if self._closed:
            await context.abort(rpc.StatusCode.CANCELLED, "shutting down")
        worker = _Worker()
        self._workers.append(worker)
        self._available.set()
        self._tell(len(self._workers))
        try:
            while True:
                item = await worker.items.get()
                if item is None:
                    break
                yield item
        finally:
            self._drop(worker)
        if not context.done():
            await context.abort(rpc.StatusCode.CANCELLED, "shutting down")

    def complete_workflow(self, response: pb.WorkflowResponse) -> bool:
        """Hands a worker's answer to the waiting engine; False when nothing waits for it (a
        stale or repeated answer; daprd ignores those and answers the worker with success)."""
        return self._complete(_WORKFLOW, response.completionToken, response.instanceId, response)

    def complete_activity(self, response: pb.ActivityResponse) -> bool:
        key = (response.instanceId, response.taskId)
        return self._complete(_ACTIVITY, response.completionToken, key, response)

    def close(self) -> None:
        """The sidecar is stopping: every stream ends, and nobody waits for a worker any more."""
        self._closed = True
        for worker in self._workers:
            worker.items.put_nowait(None)
        self._available.set()

    # --- internals ------------------------------------------------------------------------------

    async def _run(self, item: pb.WorkItem, kind: str, key: Hashable, wait: float) -> Any:
        worker = await self._pick(wait)
        token = uuid.uuid4().hex
        item.completionToken = token
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[token] = _Pending(kind, key, worker, answer)
        self._by_key[(kind, key)] = token
        worker.in_flight.add(token)
        worker.items.put_nowait(item)
        try:
            return await answer
        finally:
            # Answered, failed or cancelled: a late completion for this token finds nothing.
            self._forget(token)

    async def _pick(self, wait: float) -> _Worker:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not self._workers:
            left = deadline - loop.time()
            if self._closed or left <= 0:
                raise NoWorker("no workflow worker is connected")
            try:
                await asyncio.wait_for(self._available.wait(), left)
            except TimeoutError:
                raise NoWorker(f"no workflow worker connected within {wait:g}s") from None
            if self._closed:
                raise NoWorker("the workflow runtime is stopping")
        workers = self._workers
        count = len(workers)
        start = self._next % count
        best = workers[start]
        for i in range(1, count):
            candidate = workers[(start + i) % count]
            if len(candidate.in_flight) < len(best.in_flight):
                best = candidate
        self._next = start + 1
        return best

    def _complete(self, kind: str, token: str, key: Hashable, response: Any) -> bool:
        if not token:
            token = self._by_key.get((kind, key), "")
        pending = self._pending.get(token)
        if pending is None or pending.kind != kind:
            return False
        self._forget(token)
        if not pending.answer.done():
            pending.answer.set_result(response)
        return True

    def _forget(self, token: str) -> None:
        pending = self._pending.pop(token, None)
        if pending is None:
            return
        pending.worker.in_flight.discard(token)
        index = (pending.kind, pending.key)
        if self._by_key.get(index) == token:
            del self._by_key[index]

    def _drop(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        if not self._workers:
            self._available.clear()
        for token in list(worker.in_flight):
            pending = self._pending.get(token)
            self._forget(token)
            if pending is not None and not pending.answer.done():
                pending.answer.set_exception(
                    NoWorker("the workflow worker's stream ended before it answered")
                )
        self._tell(len(self._workers))

    def _tell(self, connected: int) -> None:
        for listener in self._listeners:
            try:
                listener.on_workers(connected)
            except Exception:
                log.exception("workflow workers listener failed")
