"""The workflow APIs on the gRPC port: the durabletask ``TaskHubSidecarService`` the SDKs' workflow
clients and workers call (durabletask-go backend/executor.go), and the Dapr API's workflow RPCs
(``StartWorkflowBeta1`` ...), written once in ``DaprWorkflowApi`` and also served over HTTP
(``http_api``), as daprd's pkg/api/universal/workflow.go.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2

from pydapr import errors, rpc
from pydapr.api.grpc.status import abort
from pydapr.api.grpc.wire import runtime
from pydapr.errors import DaprError

from . import errors as E
from . import validate
from ._proto import durabletask_pb2 as pb
from .contract import StartRequest, Workflows
from .workers import WorkerPool

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("pydapr.workflows.grpc")

SERVICE = "TaskHubSidecarService"  # no package: the name the SDKs' generated stubs call

_DONE = frozenset(
    {
        pb.ORCHESTRATION_STATUS_COMPLETED,
        pb.ORCHESTRATION_STATUS_FAILED,
        pb.ORCHESTRATION_STATUS_TERMINATED,
        pb.ORCHESTRATION_STATUS_CANCELED,
    }
)

Context = Any  # grpc.aio.ServicerContext; None when HTTP calls DaprWorkflowApi


def _router_app(request: Any) -> str | None:
    """The app a request's ``router`` targets (the 1.19 SDKs' ``app_id``); None: this app's."""
    if not request.HasField("router"):
        return None
    router = request.router
    return router.targetAppID if router.HasField("targetAppID") and router.targetAppID else None


def _is_not_found(err: DaprError) -> bool:
    # The engine's "no such instance exists" and the API's own not-found share Dapr's code.
    return err.code == E.INSTANCE_NOT_FOUND.code


# --- TaskHubSidecarService -------------------------------------------------------------------------


class TaskHubService:
    """The durabletask service over ``Workflows`` and the worker pool, method for method."""

    def __init__(self, workflows: Workflows, pool: WorkerPool) -> None:
        self.workflows = workflows
        self.pool = pool

    async def Hello(self, request: empty_pb2.Empty, context: Context) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def StartInstance(
        self, request: pb.CreateInstanceRequest, context: Context
    ) -> pb.CreateInstanceResponse:
        trace = request.parentTraceContext
        start = StartRequest(
            name=request.name,
            instance_id=request.instanceId,
            input=request.input.value if request.HasField("input") else None,
            version=(request.version.value or None) if request.HasField("version") else None,
            scheduled_start=(
                request.scheduledStartTimestamp.ToDatetime(tzinfo=UTC)
                if request.HasField("scheduledStartTimestamp")
                else None
            ),
            tags=dict(request.tags),
            trace_parent=trace.traceParent,
            trace_state=trace.traceState.value if trace.HasField("traceState") else None,
            app=_router_app(request),
        )
        instance_id = await self.workflows.start(start)
        if start.scheduled_start is None:
            # durabletask-go answers once the instance has left PENDING (its first turn ran).
            await self.workflows.wait(
                instance_id,
                completion=False,
                payloads=False,
                timeout=context.time_remaining(),
                app=start.app,
            )
        return pb.CreateInstanceResponse(instanceId=instance_id)

    async def GetInstance(self, request: pb.GetInstanceRequest, context: Context) -> pb.GetInstanceResponse:
        try:
            state = await self.workflows.get(
                request.instanceId, payloads=request.getInputsAndOutputs, app=_router_app(request)
            )
        except DaprError as err:
            if not _is_not_found(err):
                raise
            state = None
        return _instance_response(state)

    async def WaitForInstanceStart(
        self, request: pb.GetInstanceRequest, context: Context
    ) -> pb.GetInstanceResponse:
        return await self._wait(request, context, completion=False)

    async def WaitForInstanceCompletion(
        self, request: pb.GetInstanceRequest, context: Context
    ) -> pb.GetInstanceResponse:
        return await self._wait(request, context, completion=True)

    async def _wait(
        self, request: pb.GetInstanceRequest, context: Context, *, completion: bool
    ) -> pb.GetInstanceResponse:
        state = await self.workflows.wait(
            request.instanceId,
            completion=completion,
            payloads=request.getInputsAndOutputs,
            timeout=context.time_remaining(),
            app=_router_app(request),
        )
        return _instance_response(state)

    async def RaiseEvent(self, request: pb.RaiseEventRequest, context: Context) -> pb.RaiseEventResponse:
        data = request.input.value if request.HasField("input") else None
        await self.workflows.raise_event(request.instanceId, request.name, data, app=_router_app(request))
        return pb.RaiseEventResponse()

    async def TerminateInstance(self, request: pb.TerminateRequest, context: Context) -> pb.TerminateResponse:
        output = request.output.value if request.HasField("output") else None
        app = _router_app(request)
        await self.workflows.terminate(request.instanceId, output, recursive=request.recursive, app=app)
        # As durabletask-go: the call returns once the instance is terminated.
        await self.workflows.wait(
            request.instanceId, completion=True, payloads=False, timeout=context.time_remaining(), app=app
        )
        return pb.TerminateResponse()

    async def SuspendInstance(self, request: pb.SuspendRequest, context: Context) -> pb.SuspendResponse:
        reason = (request.reason.value or None) if request.HasField("reason") else None
        app = _router_app(request)
        await self.workflows.suspend(request.instanceId, reason, app=app)
        await self._until(
            request.instanceId,
            lambda s: s.workflowStatus == pb.ORCHESTRATION_STATUS_SUSPENDED or s.workflowStatus in _DONE,
            context.time_remaining(),
            app,
        )
        return pb.SuspendResponse()

    async def ResumeInstance(self, request: pb.ResumeRequest, context: Context) -> pb.ResumeResponse:
        reason = (request.reason.value or None) if request.HasField("reason") else None
        app = _router_app(request)
        await self.workflows.resume(request.instanceId, reason, app=app)
        await self._until(
            request.instanceId,
            lambda s: s.workflowStatus == pb.ORCHESTRATION_STATUS_RUNNING or s.workflowStatus in _DONE,
            context.time_remaining(),
            app,
        )
        return pb.ResumeResponse()

    async def _until(
        self,
        instance_id: str,
        reached: Callable[[pb.WorkflowState], bool],
        timeout: float | None,
        app: str | None,
    ) -> None:
        """Polls until the instance's status satisfies ``reached`` (the facade's ``wait`` knows only
        started and finished; suspend and resume answer, as durabletask-go's, once applied)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.01
        while True:
            state = await self.workflows.get(instance_id, payloads=False, app=app)
            if state is None or reached(state):
                return
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"workflow {instance_id} did not reach the status in time")
            await asyncio.sleep(delay if left is None else min(delay, left))
            delay = min(delay * 2, 0.25)

    async def PurgeInstances(
        self, request: pb.PurgeInstancesRequest, context: Context
    ) -> pb.PurgeInstancesResponse:
        if request.WhichOneof("request") == "purgeInstanceFilter":
            raise errors.API_UNIMPLEMENTED("multi-instance purge (PurgeInstances with a purgeInstanceFilter)")
        force = request.force if request.HasField("force") else False
        count = await self.workflows.purge(
            request.instanceId, recursive=request.recursive, force=force, app=_router_app(request)
        )
        return pb.PurgeInstancesResponse(deletedInstanceCount=count)

    async def GetWorkItems(self, request: pb.GetWorkItemsRequest, context: Context) -> Any:
        async for item in self.pool.stream(request, context):
            yield item

    async def CompleteActivityTask(
        self, request: pb.ActivityResponse, context: Context
    ) -> pb.CompleteTaskResponse:
        if not self.pool.complete_activity(request):
            # daprd: "Ignoring complete task which no longer exists", and the worker is told OK.
            log.warning(
                "ignoring the completion of activity %s#%d, which no longer waits",
                request.instanceId,
                request.taskId,
            )
        return pb.CompleteTaskResponse()

    async def CompleteWorkflowTask(
        self, request: pb.WorkflowResponse, context: Context
    ) -> pb.CompleteTaskResponse:
        if not self.pool.complete_workflow(request):
            log.warning(
                "ignoring a workflow task completion for %s, which no longer waits", request.instanceId
            )
        return pb.CompleteTaskResponse()

    # The deprecated name the Python and JS SDKs still call.
    CompleteOrchestratorTask = CompleteWorkflowTask

    async def ListInstanceIDs(
        self, request: pb.ListInstanceIDsRequest, context: Context
    ) -> pb.ListInstanceIDsResponse:
        token = request.continuationToken if request.HasField("continuationToken") else None
        size = request.pageSize if request.HasField("pageSize") else None
        ids, next_token = await self.workflows.list_instance_ids(token, size)
        response = pb.ListInstanceIDsResponse(instanceIds=ids)
        if next_token is not None:
            response.continuationToken = next_token
        return response

    async def GetInstanceHistory(
        self, request: pb.GetInstanceHistoryRequest, context: Context
    ) -> pb.GetInstanceHistoryResponse:
        events = await self.workflows.history(request.instanceId)
        if events is None:
            raise E.NO_SUCH_INSTANCE()
        return pb.GetInstanceHistoryResponse(events=events)

    async def RerunWorkflowFromEvent(
        self, request: pb.RerunWorkflowFromEventRequest, context: Context
    ) -> pb.RerunWorkflowFromEventResponse:
        # daprd's checks (wfengine/backends/actors RerunWorkflowFromEvent), then the source's actor.
        source = request.sourceInstanceID
        if not source:
            raise E.RERUN_INVALID("rerun workflow source instance ID is required")
        new_id = request.newInstanceID if request.HasField("newInstanceID") else str(uuid.uuid4())
        if new_id == source:
            raise E.RERUN_INVALID(
                "rerun workflow instance ID must be different from the original instance ID"
            )
        from .rerun import RerunRequest  # with the history it replays: on the first rerun only

        rerun = RerunRequest(
            source=source,
            event_id=request.eventID,
            new_instance_id=new_id,
            overwrite_input=request.overwriteInput,
            input=request.input.value if request.HasField("input") else None,
            new_child_instance_id=(
                request.newChildWorkflowInstanceID if request.HasField("newChildWorkflowInstanceID") else None
            ),
        )
        new = await self.workflows.rerun(rerun, app=_router_app(request))
        return pb.RerunWorkflowFromEventResponse(newInstanceID=new)


def _instance_response(state: pb.WorkflowState | None) -> pb.GetInstanceResponse:
    if state is None:
        return pb.GetInstanceResponse(exists=False)
    return pb.GetInstanceResponse(exists=True, workflowState=state)


_Handler = Callable[[Any, Context], Awaitable[Any]]

# (method, request class, response class): request and response (de)serializers of each RPC.
_UNARY: tuple[tuple[str, Any, Any], ...] = (
    ("Hello", empty_pb2.Empty, empty_pb2.Empty),
    ("StartInstance", pb.CreateInstanceRequest, pb.CreateInstanceResponse),
    ("GetInstance", pb.GetInstanceRequest, pb.GetInstanceResponse),
    ("WaitForInstanceStart", pb.GetInstanceRequest, pb.GetInstanceResponse),
    ("WaitForInstanceCompletion", pb.GetInstanceRequest, pb.GetInstanceResponse),
    ("RaiseEvent", pb.RaiseEventRequest, pb.RaiseEventResponse),
    ("TerminateInstance", pb.TerminateRequest, pb.TerminateResponse),
    ("SuspendInstance", pb.SuspendRequest, pb.SuspendResponse),
    ("ResumeInstance", pb.ResumeRequest, pb.ResumeResponse),
    ("PurgeInstances", pb.PurgeInstancesRequest, pb.PurgeInstancesResponse),
    ("CompleteActivityTask", pb.ActivityResponse, pb.CompleteTaskResponse),
    ("CompleteOrchestratorTask", pb.WorkflowResponse, pb.CompleteTaskResponse),
    ("CompleteWorkflowTask", pb.WorkflowResponse, pb.CompleteTaskResponse),
    ("ListInstanceIDs", pb.ListInstanceIDsRequest, pb.ListInstanceIDsResponse),
    ("GetInstanceHistory", pb.GetInstanceHistoryRequest, pb.GetInstanceHistoryResponse),
    ("RerunWorkflowFromEvent", pb.RerunWorkflowFromEventRequest, pb.RerunWorkflowFromEventResponse),
)


async def _fail(context: Context, name: str, exc: Exception) -> None:
    if context.done():
        return  # the caller went away (or the call was already answered): nobody to tell
    if isinstance(exc, DaprError):
        await abort(context, exc)
    if isinstance(exc, TimeoutError):
        # The SDKs' clients read DEADLINE_EXCEEDED as their wait timing out.
        await context.abort(rpc.StatusCode.DEADLINE_EXCEEDED, str(exc) or "deadline exceeded")
    log.exception("durabletask %s failed", name, exc_info=exc)
    await abort(context, errors.INTERNAL(str(exc)))


def _unary(name: str, fn: _Handler) -> _Handler:
    async def call(request: Any, context: Context) -> Any:
        try:
            return await fn(request, context)
        except rpc.ABORT_ERRORS:
            raise
        except Exception as exc:
            await _fail(context, name, exc)

    return call


def _stream(name: str, fn: Callable[[Any, Context], Any]) -> Callable[[Any, Context], Any]:
    async def call(request: Any, context: Context) -> Any:
        try:
            async for item in fn(request, context):
                yield item
        except rpc.ABORT_ERRORS:
            raise
        except Exception as exc:
            await _fail(context, name, exc)

    return call


def task_hub_service(workflows: Workflows, pool: WorkerPool) -> Callable[[grpc.aio.Server], None]:
    """A function that adds the ``TaskHubSidecarService`` to a gRPC server."""
    service = TaskHubService(workflows, pool)
    handlers: dict[str, Any] = {
        name: rpc.unary_unary_rpc_method_handler(
            _unary(name, getattr(service, name)),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
        for name, request, response in _UNARY
    }
    handlers["GetWorkItems"] = rpc.unary_stream_rpc_method_handler(
        _stream("GetWorkItems", service.GetWorkItems),
        request_deserializer=pb.GetWorkItemsRequest.FromString,
        response_serializer=pb.WorkItem.SerializeToString,
    )
    generic = rpc.method_handlers_generic_handler(SERVICE, handlers)

    def register(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((generic,))

    return register


# --- the Dapr API's workflow RPCs --------------------------------------------------------------------

# daprd's getStatusString: the statuses it names; any other (STALLED) reads "UNKNOWN".
_STATUS_NAMES = {
    pb.ORCHESTRATION_STATUS_RUNNING: "RUNNING",
    pb.ORCHESTRATION_STATUS_COMPLETED: "COMPLETED",
    pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
    pb.ORCHESTRATION_STATUS_FAILED: "FAILED",
    pb.ORCHESTRATION_STATUS_CANCELED: "CANCELED",
    pb.ORCHESTRATION_STATUS_TERMINATED: "TERMINATED",
    pb.ORCHESTRATION_STATUS_PENDING: "PENDING",
    pb.ORCHESTRATION_STATUS_SUSPENDED: "SUSPENDED",
}


def status_name(status: int) -> str:
    name: str = _STATUS_NAMES.get(status, "UNKNOWN")  # type: ignore[call-overload]
    return name


def _app_id(request: Any) -> str:
    # app_id came with Dapr 1.17's cross-app operations; older SDKs' messages lack it.
    return request.app_id if "app_id" in request.DESCRIPTOR.fields_by_name else ""


class DaprWorkflowApi:
    """The Dapr API's workflow operations (daprd's universal workflow.go), transport-free: the
    methods named like RPCs unpack the gRPC messages, ``http_api`` calls the others."""

    def __init__(self, workflows: Workflows, app_id: str) -> None:
        self.workflows = workflows
        self.app_id = app_id

    def _target(self, app_id: str | None) -> str | None:
        """The other app a request names (None: this one), checked as daprd's targetAppID."""
        return validate.target_app_id(app_id, self.app_id)

    async def _engine(self, call: Awaitable[Any]) -> tuple[Any, str | None]:
        """Runs a facade call: (its result, None) or (None, the failure's text for daprd's wrap).
        The actor runtime missing is answered as it is, as daprd's ActorRouter check does."""
        try:
            return await call, None
        except DaprError as err:
            if err.kind is E.NO_ACTORS:
                raise
            return None, err.message
        except Exception as exc:
            log.warning("workflow call failed: %r", exc)
            return None, str(exc)

    async def start_workflow(
        self,
        *,
        name: str,
        instance_id: str,
        input: str,
        options: dict[str, str],
        app_id: str | None = None,
    ) -> str:
        instance_id = instance_id or str(uuid.uuid4())
        validate.instance_id(instance_id, create=True)
        validate.workflow_name(name)
        app = self._target(app_id)
        scheduled = validate.start_time(name, options)
        request = StartRequest(
            name=name, instance_id=instance_id, input=input, scheduled_start=scheduled, app=app
        )
        started, failure = await self._engine(self.workflows.start(request))
        if failure is not None:
            raise E.START(name, f"unable to start workflow: failed to start workflow: {failure}")
        return str(started)

    async def get_workflow(self, instance_id: str, app_id: str | None = None) -> Any | None:
        """daprd's GetWorkflowResponse; None when no such instance exists."""
        validate.instance_id(instance_id, create=False)
        app = self._target(app_id)
        try:
            state = await self.workflows.get(instance_id, app=app)
        except DaprError as err:
            if _is_not_found(err):
                return None
            if err.kind is E.NO_ACTORS:
                raise
            raise E.GET(instance_id, self._get_failure(instance_id, err.message)) from None
        except Exception as exc:
            raise E.GET(instance_id, self._get_failure(instance_id, str(exc))) from None
        if state is None:
            return None
        response = runtime.GetWorkflowResponse(
            instance_id=instance_id,
            workflow_name=state.name,
            runtime_status=status_name(state.workflowStatus),
        )
        response.created_at.CopyFrom(state.createdTimestamp)
        response.last_updated_at.CopyFrom(state.lastUpdatedTimestamp)
        properties = response.properties
        if state.HasField("customStatus"):
            properties["dapr.workflow.custom_status"] = state.customStatus.value
        if state.HasField("input"):
            properties["dapr.workflow.input"] = state.input.value
        # A failed workflow's output is its failure, reported below instead.
        if state.HasField("output") and not state.HasField("failureDetails"):
            properties["dapr.workflow.output"] = state.output.value
        if state.HasField("failureDetails"):
            failure = state.failureDetails
            properties["dapr.workflow.failure.error_type"] = failure.errorType
            properties["dapr.workflow.failure.error_message"] = failure.errorMessage
            if failure.HasField("stackTrace"):
                properties["dapr.workflow.failure.stack_trace"] = failure.stackTrace.value
        return response

    @staticmethod
    def _get_failure(instance_id: str, inner: str) -> str:
        return (
            f"failed to get workflow metadata for '{instance_id}': failed to fetch workflow metadata: {inner}"
        )

    async def terminate_workflow(self, instance_id: str, app_id: str | None = None) -> None:
        validate.instance_id(instance_id, create=False)
        app = self._target(app_id)
        try:
            await self.workflows.terminate(instance_id, recursive=True, app=app)
        except DaprError as err:
            if _is_not_found(err):
                raise E.INSTANCE_NOT_FOUND(instance_id) from None
            if err.kind is E.NO_ACTORS:
                raise
            raise E.TERMINATE(instance_id, self._terminate_failure(instance_id, err.message)) from None
        except Exception as exc:
            raise E.TERMINATE(instance_id, self._terminate_failure(instance_id, str(exc))) from None

    @staticmethod
    def _terminate_failure(instance_id: str, inner: str) -> str:
        return f"failed to terminate workflow {instance_id}: failed to submit termination request:: {inner}"

    async def raise_event_workflow(
        self, instance_id: str, event_name: str, data: str | None, app_id: str | None = None
    ) -> None:
        validate.instance_id(instance_id, create=False)
        validate.event_name(event_name)
        app = self._target(app_id)
        _, failure = await self._engine(self.workflows.raise_event(instance_id, event_name, data, app=app))
        if failure is not None:
            raise E.RAISE_EVENT(
                instance_id,
                f"failed to raise event {event_name} on workflow {instance_id}: "
                f"failed to raise event: {failure}",
            )

    async def pause_workflow(self, instance_id: str, app_id: str | None = None) -> None:
        validate.instance_id(instance_id, create=False)
        app = self._target(app_id)
        _, failure = await self._engine(self.workflows.suspend(instance_id, app=app))
        if failure is not None:
            raise E.PAUSE(
                instance_id, f"failed to pause workflow {instance_id}: failed to suspend workflow: {failure}"
            )

    async def resume_workflow(self, instance_id: str, app_id: str | None = None) -> None:
        validate.instance_id(instance_id, create=False)
        app = self._target(app_id)
        _, failure = await self._engine(self.workflows.resume(instance_id, app=app))
        if failure is not None:
            raise E.RESUME(
                instance_id, f"failed to resume workflow {instance_id}: failed to resume workflow: {failure}"
            )

    async def purge_workflow(self, instance_id: str, app_id: str | None = None) -> None:
        validate.instance_id(instance_id, create=False)
        app = self._target(app_id)
        try:
            await self.workflows.purge(instance_id, recursive=True, app=app)
        except DaprError as err:
            if _is_not_found(err):
                raise E.INSTANCE_NOT_FOUND(instance_id) from None
            if err.kind is E.NO_ACTORS:
                raise
            raise E.PURGE(instance_id, self._purge_failure(instance_id, err.message)) from None
        except Exception as exc:
            raise E.PURGE(instance_id, self._purge_failure(instance_id, str(exc))) from None

    @staticmethod
    def _purge_failure(instance_id: str, inner: str) -> str:
        return f"failed to Purge workflow {instance_id}: failed to purge workflow state: {inner}"

    # --- the RPCs (compose.py maps a DaprError to its status) --------------------------------------

    async def StartWorkflowBeta1(self, request: Any, context: Context) -> Any:
        instance_id = await self.start_workflow(
            name=request.workflow_name,
            instance_id=request.instance_id,
            # The input is the JSON text as sent, handed on undecoded.
            input=request.input.decode("utf-8", "replace"),
            options=dict(request.options),
            app_id=_app_id(request),
        )
        return runtime.StartWorkflowResponse(instance_id=instance_id)

    async def GetWorkflowBeta1(self, request: Any, context: Context) -> Any:
        response = await self.get_workflow(request.instance_id, _app_id(request))
        # daprd answers an unknown instance with its id alone and no error over gRPC.
        return runtime.GetWorkflowResponse(instance_id=request.instance_id) if response is None else response

    async def TerminateWorkflowBeta1(self, request: Any, context: Context) -> empty_pb2.Empty:
        await self.terminate_workflow(request.instance_id, _app_id(request))
        return empty_pb2.Empty()

    async def RaiseEventWorkflowBeta1(self, request: Any, context: Context) -> empty_pb2.Empty:
        # An empty event_data is absent on the wire: no data, as daprd's nil check.
        data = request.event_data.decode("utf-8", "replace") if request.event_data else None
        await self.raise_event_workflow(request.instance_id, request.event_name, data, _app_id(request))
        return empty_pb2.Empty()

    async def PauseWorkflowBeta1(self, request: Any, context: Context) -> empty_pb2.Empty:
        await self.pause_workflow(request.instance_id, _app_id(request))
        return empty_pb2.Empty()

    async def ResumeWorkflowBeta1(self, request: Any, context: Context) -> empty_pb2.Empty:
        await self.resume_workflow(request.instance_id, _app_id(request))
        return empty_pb2.Empty()

    async def PurgeWorkflowBeta1(self, request: Any, context: Context) -> empty_pb2.Empty:
        await self.purge_workflow(request.instance_id, _app_id(request))
        return empty_pb2.Empty()

    # The deprecated Alpha1 names, served by the same handlers as in daprd.
    StartWorkflowAlpha1 = StartWorkflowBeta1
    GetWorkflowAlpha1 = GetWorkflowBeta1
    TerminateWorkflowAlpha1 = TerminateWorkflowBeta1
    RaiseEventWorkflowAlpha1 = RaiseEventWorkflowBeta1
    PauseWorkflowAlpha1 = PauseWorkflowBeta1
    ResumeWorkflowAlpha1 = ResumeWorkflowBeta1
    PurgeWorkflowAlpha1 = PurgeWorkflowBeta1
