"""The workflow engine: the workflow and activity actors, and the ``Workflows`` facade the APIs call.

How a workflow runs (contract.py says why on actors):

- ``start`` calls the instance's workflow actor (``CreateWorkflowInstance``): its ``ExecutionStarted``
  event is stored in the inbox, a ``keepalive`` reminder is registered, and a run is scheduled.
- A run (actor method ``Run``, one turn) sends the worker the history and the inbox, stores what
  the worker answered (``history.apply``) in one transaction, and only then carries out the effects:
  activities (calls to the activity actor of the target app), durable timers (reminders on the
  scheduler), child workflows (calls to the child's workflow actor), events to other instances,
  the parent's notification. Results come back as inbox events (``AddWorkflowEvent``), each
  deduplicated, so each is recorded exactly once however often it is delivered.
- Nothing lost: whenever an activation of an instance first loads it from the store (after a
  restart, a rebalance or idle deactivation) it carries out again every effect still pending
  (activities not answered, timers not fired, children not finished, the parent not told); the
  receivers deduplicate. The ``keepalive`` reminder (every ``KEEPALIVE``) wakes an unfinished
  instance after a crash and re-sends its pending activities, so an activity whose sidecar died
  runs again (at least once). Activities are not stored by the activity actor: the workflow's
  history is the one record.
- The Configuration's ``spec.workflow`` (``WorkflowSpec``): at most ``maxConcurrentWorkflowInvocations``
  turns and ``maxConcurrentActivityInvocations`` activity runs are with this sidecar's workers at
  once (the rest wait their turn, as daprd's task workers' parallelism); a finished instance whose
  status the ``stateRetentionPolicy`` names gets a ``retention`` reminder on its id of the
  ``retentioner`` actor type, due that long after it ended, which purges it (as daprd's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from pydapr import rpc
from pydapr.actors.api import ActorsAPI
from pydapr.actors.contract import (
    ActorKey,
    EntityConfig,
    FailurePolicy,
    InvokeRequest,
    InvokeResult,
    Reminder,
    ReminderFire,
    Reminders,
    TimerFire,
)
from pydapr.actors.errors import ActorMethodError
from pydapr.actors.state import ActorState
from pydapr.errors import DaprError, ErrorKind
from pydapr.observability import trace_context as tc
from pydapr.resources.models import WorkflowRetentionPolicy, WorkflowSpec
from pydapr.workflows._proto import durabletask_pb2 as pb

from . import errors as E
from . import validate
from .access import (
    CALLER_APP_ID,
    CALLER_NAMESPACE,
    DENIED,
    ERROR_TYPE,
    EVENT_OPERATIONS,
    WorkflowAccess,
    method_operation,
)
from .access import denied as access_denied
from .contract import (
    NoWorker,
    StartRequest,
    WorkerPool,
    activity_actor_type,
    retention_actor_type,
    workflow_actor_type,
)
from .history import TERMINAL, Effects, Instance, apply, event, propagation, target_app
from .rerun import RerunRequest, check_source, fork
from .store import InstanceStore

if TYPE_CHECKING:
    from pydapr.observability.metrics.blocks.workflows import WorkflowMetrics

    from .tracing import WorkflowTracing

log = logging.getLogger("pydapr.workflows")
T = TypeVar("T")

KEEPALIVE = "10s"  # how soon an unfinished instance is woken after a crash
WORKER_WAIT = 5.0  # seconds a run waits for a worker before the keepalive tries again
POLL = 0.5  # seconds between polls of an instance hosted by another sidecar
IDLE = 600.0  # the internal actors' idle timeout
RETENTION = "retention"  # daprd's one retention reminder name per instance


class _Create(msgspec.Struct):
    start: bytes
    propagated: bytes | None = None


class _Purge(msgspec.Struct):
    recursive: bool = True
    force: bool = False
    retention: bool = False  # the retention reminder's purge (it keeps its own reminder)


class _Execute(msgspec.Struct):
    request: bytes
    app: str  # the workflow's app, where the result goes


class _Forked(msgspec.Struct):
    """A rerun's new instance, sent by the source's actor to the new one's: its history, whose
    last ``restarted`` events are started again, and what the source's parent passed on."""

    history: list[bytes]
    restarted: int
    propagated: bytes | None = None


class _TimerData(msgspec.Struct):
    id: int
    generation: int


class WorkflowEngine:
    """``Workflows`` (contract.py) and the internal actors' transport (``ActorAppTransport``)."""

    def __init__(
        self,
        *,
        app_id: str,
        namespace: str,
        actors: ActorsAPI,
        state: ActorState,
        pool: WorkerPool,
        metrics: WorkflowMetrics | None = None,
        tracing: WorkflowTracing | None = None,
        spec: WorkflowSpec | None = None,
        access: WorkflowAccess | None = None,
    ) -> None:
        spec = spec or WorkflowSpec()
        self.app_id = app_id
        # The WorkflowAccessPolicy gate (access.py); without policies every call is let through.
        self.access = access or WorkflowAccess(None, app_id=app_id, namespace=namespace)
        # This sidecar's identity on its own calls to the internal actors, which the policy check
        # reads (a peer's is its certificate's, set at the internal port); only needed with policies.
        self._identity = {CALLER_APP_ID: app_id, CALLER_NAMESPACE: namespace} if self.access.enabled else None
        actors.internal_gate = self.access if self.access.enabled else None
        self.tracing = tracing  # workflow spans; None when tracing is off
        self.metrics = metrics  # Dapr's workflow metrics; None when metrics are off
        self.namespace = namespace
        self.actors = actors
        self.pool = pool
        self.store = InstanceStore(state)
        self.state = state
        self.wf_type = workflow_actor_type(namespace, app_id)
        self.activity_type = activity_actor_type(namespace, app_id)
        self.retention_type = retention_actor_type(namespace, app_id)
        self.retention: WorkflowRetentionPolicy | None = spec.state_retention
        self._workflow_slots = _slots(spec.max_concurrent_workflow_invocations)
        self._activity_slots = _slots(spec.max_concurrent_activity_invocations)
        self.instances: dict[str, Instance] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._run_pending: set[str] = set()
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._hosting = False
        self._closed = False

    # --- hosting ---------------------------------------------------------------------------------

    def on_workers(self, connected: int) -> None:
        """The internal types are hosted here only while a worker of the app is connected."""
        want = connected > 0 and not self._closed
        if want == self._hosting:
            return
        self._hosting = want
        if not want:
            # No worker: the instances go to a replica that has one (or wait for one here).
            for instance_id in list(self.instances):
                self.store.forget(ActorKey(self.wf_type, instance_id))
            self.instances.clear()
        entities = (
            {
                t: EntityConfig(t, idle_timeout=IDLE, drain_ongoing_call_timeout=5.0)
                for t in (self.wf_type, self.activity_type, self.retention_type)
            }
            if want
            else {}
        )
        self.actors.host_internal(entities, self if want else None)
        log.info(
            "workflow worker %s: %s",
            "connected" if want else "gone",
            ", ".join(entities) or "no types hosted",
        )

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("workflow task failed: %s", task.exception())

    # --- calls to the internal actors --------------------------------------------------------------

    async def _call(self, actor_type: str, actor_id: str, method: str, data: bytes = b"") -> bytes:
        metadata = dict(self._identity) if self._identity is not None else {}
        try:
            result = await self.actors.invoke_internal(
                InvokeRequest(ActorKey(actor_type, actor_id), method, data, metadata)
            )
        except ActorMethodError as exc:
            raise _decode_error(exc.result) from None
        return result.data

    def _reminders(self) -> Reminders:
        reminders = self.actors.reminders
        if reminders is None:
            raise E.NO_ACTORS(self.actors.reminders_problem)
        return reminders

    # --- the facade (contract.Workflows) --------------------------------------------------------------

    def _target(self, app: str | None) -> str:
        """The workflow actor type of ``app`` (None or this app: this app's), as daprd's
        targetWorkflowActorType: an app id that would change the type's segments is refused."""
        if not app or app == self.app_id:
            return self.wf_type
        validate.target_app_id(app, self.app_id)
        return workflow_actor_type(self.namespace, app)

    async def start(self, request: StartRequest) -> str:
        wf_type = self._target(request.app)
        instance_id = request.instance_id or uuid.uuid4().hex
        start = pb.ExecutionStartedEvent(name=request.name)
        if request.version:
            start.version.value = request.version
        if request.input is not None:
            start.input.value = request.input
        start.workflowInstance.instanceId = instance_id
        start.workflowInstance.executionId.value = uuid.uuid4().hex
        if request.scheduled_start is not None:
            start.scheduledStartTimestamp.FromDatetime(request.scheduled_start.astimezone(UTC))
        if self.tracing is not None:
            # The caller: the start request's own context (durabletask's StartInstance), else the
            # API call's span this runs in.
            if request.trace_parent:
                caller, state = request.trace_parent, request.trace_state or ""
            else:
                caller, state = tc.current_traceparent.get(), tc.current_tracestate.get()
            self.tracing.created(start, caller, state)
        elif request.trace_parent:
            start.parentTraceContext.traceParent = request.trace_parent
            if request.trace_state:
                start.parentTraceContext.traceState.value = request.trace_state
        for k, v in request.tags.items():
            start.tags[k] = v
        started = event(executionStarted=start)
        if wf_type != self.wf_type:
            # As daprd stamps a cross-app start: who asked, and for which app.
            started.router.sourceAppID = self.app_id
            started.router.targetAppID = request.app or ""
        body = _Create(started.SerializeToString())
        create = self._call(wf_type, instance_id, "CreateWorkflowInstance", msgspec.msgpack.encode(body))
        await self._measured("create_workflow", create)
        return instance_id

    async def _measured(self, operation: str, call: Awaitable[T]) -> T:
        """Awaits one API operation, counted and timed as daprd's workflow operation metrics."""
        metrics = self.metrics
        if metrics is None:
            return await call
        started = time.perf_counter()
        try:
            result = await call
        except Exception:
            metrics.operation(operation, False, (time.perf_counter() - started) * 1000)
            raise
        metrics.operation(operation, True, (time.perf_counter() - started) * 1000)
        return result

    async def get(
        self, instance_id: str, *, payloads: bool = True, app: str | None = None
    ) -> pb.WorkflowState | None:
        wf_type = self._target(app)
        local = self.instances.get(instance_id) if wf_type == self.wf_type else None
        if local is not None:
            return local.state(payloads=payloads)
        data = await self._call(wf_type, instance_id, "GetWorkflowMetadata", b"1" if payloads else b"0")
        return pb.WorkflowState.FromString(data) if data else None

    async def wait(
        self,
        instance_id: str,
        *,
        completion: bool,
        payloads: bool = True,
        timeout: float | None = None,
        app: str | None = None,
    ) -> pb.WorkflowState | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        # An instance hosted here wakes the wait when it changes; one elsewhere (another replica,
        # another app) is polled, soon at first, then every POLL.
        delay = POLL / 16
        while True:
            changed = self._changed.setdefault(instance_id, asyncio.Event())
            changed.clear()
            state = await self.get(instance_id, payloads=payloads, app=app)
            if state is None:
                return None
            status = state.workflowStatus
            if completion and status in TERMINAL:
                return state
            if not completion and status != pb.ORCHESTRATION_STATUS_PENDING:
                return state
            left = delay if deadline is None else min(delay, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"workflow {instance_id} did not reach the status in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
            delay = min(delay * 2, POLL)

    async def raise_event(
        self, instance_id: str, name: str, data: str | None, *, app: str | None = None
    ) -> None:
        e = event(eventRaised=pb.EventRaisedEvent(name=name))
        if data is not None:
            e.eventRaised.input.value = data
        await self._measured("add_event", self._add(instance_id, e, app))

    async def terminate(
        self, instance_id: str, output: str | None = None, *, recursive: bool = True, app: str | None = None
    ) -> None:
        e = event(executionTerminated=pb.ExecutionTerminatedEvent(recurse=recursive))
        if output is not None:
            e.executionTerminated.input.value = output
        await self._measured("add_event", self._add(instance_id, e, app))

    async def suspend(self, instance_id: str, reason: str | None = None, *, app: str | None = None) -> None:
        e = event(executionSuspended=pb.ExecutionSuspendedEvent())
        if reason is not None:
            e.executionSuspended.input.value = reason
        await self._measured("add_event", self._add(instance_id, e, app))

    async def resume(self, instance_id: str, reason: str | None = None, *, app: str | None = None) -> None:
        e = event(executionResumed=pb.ExecutionResumedEvent())
        if reason is not None:
            e.executionResumed.input.value = reason
        await self._measured("add_event", self._add(instance_id, e, app))

    async def purge(
        self, instance_id: str, *, recursive: bool = True, force: bool = False, app: str | None = None
    ) -> int:
        purge = self._call(
            self._target(app),
            instance_id,
            "PurgeWorkflowState",
            msgspec.msgpack.encode(_Purge(recursive, force)),
        )
        data = await self._measured("purge_workflow", purge)
        return int(data or b"0")

    async def rerun(self, request: RerunRequest, *, app: str | None = None) -> str:
        """A new instance from the source's history up to an event (``rerun``): asked of the
        source's workflow actor (of ``app``'s, where the new instance lives too), which hands the
        new history to the new instance's, as daprd's ForkWorkflowHistory / RerunWorkflowInstance."""
        body = msgspec.msgpack.encode(request)
        await self._call(self._target(app), request.source, "ForkWorkflowHistory", body)
        return request.new_instance_id

    async def history(self, instance_id: str) -> list[pb.HistoryEvent] | None:
        data = await self._call(self.wf_type, instance_id, "GetHistory")
        if not data:
            return None
        return [pb.HistoryEvent.FromString(b) for b in msgspec.msgpack.decode(data, type=list[bytes])]

    async def list_instance_ids(
        self, token: str | None, page_size: int | None
    ) -> tuple[list[str], str | None]:
        """Ids in key order; the token is the offset of the next page. Every instance has one
        ``metadata`` key, so the store's key listing (KEYS_LIKE) finds them."""
        store = self.state.store
        if store is None:
            raise E.NO_ACTORS("no actor state store")
        prefix = f"{self.app_id}||{self.wf_type}||"
        ids: list[str] = []
        store_token = ""
        while True:
            page = await store.list_keys(prefix, 1000, store_token)
            ids += [k[len(prefix) : -len("||metadata")] for k in page.keys if k.endswith("||metadata")]
            store_token = page.token
            if not store_token:
                break
        start = int(token) if token and token.isdigit() else 0
        end = len(ids) if not page_size else start + page_size
        return ids[start:end], (str(end) if end < len(ids) else None)

    async def _add(self, instance_id: str, e: pb.HistoryEvent, app: str | None = None) -> None:
        await self._call(self._target(app), instance_id, "AddWorkflowEvent", e.SerializeToString())

    # --- the internal actors' transport ------------------------------------------------------------

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        try:
            if request.key.actor_type == self.retention_type:
                raise E.NO_ACTORS(f"unknown retentioner actor method {request.method}")
            if self.access.enabled:
                denial = await self._admit(request)
                if denial is not None:
                    raise denial
            if request.key.actor_type == self.activity_type:
                if request.method != "Execute":
                    raise E.NO_ACTORS(f"unknown activity actor method {request.method}")
                self._execute(request.key, msgspec.msgpack.decode(request.data, type=_Execute))
                return InvokeResult()
            return InvokeResult(data=await self._workflow_method(request.key, request.method, request.data))
        except DaprError as err:
            body = msgspec.json.encode(
                {"errorCode": err.code, "message": err.message, "grpc": err.grpc_status.value[0]}
            )
            return InvokeResult(data=body, status=err.http_status, error=True)

    async def _admit(self, request: InvokeRequest) -> DaprError | None:
        """The WorkflowAccessPolicy check of a call to an internal actor, in the actor's turn (so
        the workflow's name is read from the instance as it is now). The caller is who this
        sidecar (its own calls) or the internal port (a peer's, from its certificate) said it is.

        A result (an activity's, a child workflow's end) is let through from the app the instance
        sent that task to: daprd's check knows no operation for them and refuses them, so a parent
        app with a policy never learns a cross-app child ended (its activity results come back on
        a reminder, which the check does not see)."""
        key, method = request.key, request.method
        caller = request.metadata.get(CALLER_APP_ID, "")
        if key.actor_type == self.activity_type:
            return self.access.activity(key.actor_id, method, caller, lambda: _activity_name(request.data))
        added: pb.HistoryEvent | None = None
        if method == "AddWorkflowEvent":
            with contextlib.suppress(Exception):
                added = pb.HistoryEvent.FromString(request.data)
            if (
                added is not None
                and caller
                and caller != self.app_id
                and await self._sent_to(key, added, caller)
            ):
                return None

        def operation() -> str:
            if method != "AddWorkflowEvent":
                return method_operation(method)
            if added is None:
                raise ValueError("AddWorkflowEvent: the HistoryEvent cannot be decoded")
            kind = added.WhichOneof("eventType") or ""
            if kind not in EVENT_OPERATIONS:
                raise ValueError(f"AddWorkflowEvent HistoryEvent has unsupported event type {kind}")
            return EVENT_OPERATIONS[kind]

        async def name() -> str:
            if method == "CreateWorkflowInstance":
                return _created_name(request.data)
            instance = await self._load(key)
            start = instance.start_event() if instance is not None else None
            return start.name if start is not None else ""

        return await self.access.workflow(key.actor_id, method, caller, operation, name)

    async def _sent_to(self, key: ActorKey, e: pb.HistoryEvent, caller: str) -> bool:
        """``e`` is the result of a task (an activity, a child workflow) the instance sent to
        ``caller``'s app. An instance that does not exist: True (the method answers that)."""
        kind = e.WhichOneof("eventType")
        if kind in ("taskCompleted", "taskFailed"):
            sent_as = "taskScheduled"
        elif kind in ("childWorkflowInstanceCompleted", "childWorkflowInstanceFailed"):
            sent_as = "childWorkflowInstanceCreated"
        else:
            return False
        task_id = getattr(e, kind).taskScheduledId
        instance = await self._load(key)
        if instance is None:
            return True
        sent = next((h for h in instance.history if h.eventId == task_id and h.HasField(sent_as)), None)
        if sent is None:
            return False
        return target_app(sent.router if sent.HasField("router") else None, self.app_id) == caller

    async def reminder(self, key: ActorKey, fire: ReminderFire) -> None:
        if key.actor_type == self.retention_type:
            await self._retention_purge(key.actor_id)
            return
        if key.actor_type != self.wf_type:
            return
        instance = await self._load(key)
        if instance is None or instance.terminal:
            if fire.name == "keepalive":
                with contextlib.suppress(Exception):
                    await self._reminders().delete(key, "keepalive")
            return
        if fire.name == "keepalive":
            # A crash may have lost an activity run anywhere: send the pending ones again.
            self._carry_out(instance, Effects(activities=instance.pending_activities()))
            if instance.inbox:
                self._schedule_run(instance.instance_id)
        elif fire.name.startswith("timer-") and fire.data:
            data = msgspec.msgpack.decode(fire.data, type=_TimerData)
            if data.generation != instance.generation:
                return
            created = next(
                (e for e in instance.history if e.eventId == data.id and e.HasField("timerCreated")), None
            )
            if created is None:
                return
            fired = event(timerFired=pb.TimerFiredEvent(timerId=data.id))
            fired.timerFired.fireAt.CopyFrom(created.timerCreated.fireAt)
            start = instance.start_event()
            if self.tracing is not None and start is not None and not instance.is_duplicate(fired):
                self.tracing.timer(start, created, instance.instance_id)
            await self._add_event(key, instance, fired)
        else:  # "start": a scheduled start time came
            self._schedule_run(instance.instance_id)

    async def timer(self, key: ActorKey, fire: TimerFire) -> None:
        return None

    async def deactivate(self, key: ActorKey) -> None:
        if key.actor_type == self.wf_type:
            self.instances.pop(key.actor_id, None)
            self.store.forget(key)

    # --- the workflow actor --------------------------------------------------------------------------

    async def _load(self, key: ActorKey) -> Instance | None:
        instance = self.instances.get(key.actor_id)
        if instance is not None:
            return instance
        instance = await self.store.load(key)
        if instance is None:
            return None
        self.instances[key.actor_id] = instance
        self._recover(instance)
        return instance

    def _recover(self, instance: Instance) -> None:
        """First load in this activation: carry out again whatever may not have been done."""
        if instance.terminal:
            self._carry_out(instance, Effects(completed=True))
            return
        effects = Effects(
            activities=instance.pending_activities(),
            timers=instance.pending_timers(),
            children=instance.pending_children(),
        )
        self._carry_out(instance, effects)
        if instance.inbox:
            self._schedule_run(instance.instance_id)

    async def _workflow_method(self, key: ActorKey, method: str, data: bytes) -> bytes:
        if method == "Run":
            await self._run(key)
            return b""
        if method == "AddWorkflowEvent":
            instance = await self._load(key)
            if instance is None:
                raise E.NO_SUCH_INSTANCE()
            await self._add_event(key, instance, pb.HistoryEvent.FromString(data))
            return b""
        if method == "CreateWorkflowInstance":
            await self._create(key, msgspec.msgpack.decode(data, type=_Create))
            return b""
        if method == "GetWorkflowMetadata":
            instance = await self._load(key)
            return b"" if instance is None else instance.state(payloads=data != b"0").SerializeToString()
        if method == "GetHistory":
            instance = await self._load(key)
            if instance is None:
                return b""
            return msgspec.msgpack.encode([e.SerializeToString() for e in instance.history])
        if method == "ForkWorkflowHistory":
            await self._fork(key, msgspec.msgpack.decode(data, type=RerunRequest))
            return b""
        if method == "RerunWorkflowInstance":
            await self._rerun(key, msgspec.msgpack.decode(data, type=_Forked))
            return b""
        if method == "PurgeWorkflowState":
            return str(await self._purge(key, msgspec.msgpack.decode(data, type=_Purge))).encode()
        raise E.NO_ACTORS(f"unknown workflow actor method {method}")

    async def _create(self, key: ActorKey, body: _Create) -> None:
        start = pb.HistoryEvent.FromString(body.start)
        existing = await self._load(key)
        generation = 0
        if existing is not None:
            if _same_parent(existing, start):
                # A recovered parent creating its child again: the child is there already.
                if existing.terminal:
                    self._carry_out(existing, Effects(completed=True))
                return
            if not existing.terminal:
                raise E.ALREADY_EXISTS(key.actor_id)
            generation = existing.generation + 1
            await self._forget(key, existing)
        instance = Instance(key.actor_id, inbox=[start], generation=generation)
        if body.propagated:
            instance.propagated = pb.PropagatedHistory.FromString(body.propagated)
        # The keepalive before the save, as for a rerun: a stored instance always has one.
        await self._reminders().create(Reminder(key, "keepalive", due_time=KEEPALIVE, period=KEEPALIVE))
        await self.store.save(key, instance, rewrite=True)
        self.instances[key.actor_id] = instance
        self._schedule_run(key.actor_id)
        self._notify(key.actor_id)

    async def _fork(self, key: ActorKey, request: RerunRequest) -> None:
        source = check_source(await self._load(key), key.actor_id)
        forked = fork(source, request)
        body = _Forked(
            [e.SerializeToString() for e in forked.history],
            len(forked.activities) + len(forked.timers) + len(forked.children),
            source.propagated.SerializeToString() if source.propagated is not None else None,
        )
        await self._call(
            self.wf_type, request.new_instance_id, "RerunWorkflowInstance", msgspec.msgpack.encode(body)
        )

    async def _rerun(self, key: ActorKey, body: _Forked) -> None:
        """The new instance of a rerun: stored, then its restarted events carried out as a turn's."""
        if await self._load(key) is not None:
            raise E.RERUN_EXISTS(key.actor_id)
        history = [pb.HistoryEvent.FromString(b) for b in body.history]
        instance = Instance(key.actor_id, history=history)
        if body.propagated:
            instance.propagated = pb.PropagatedHistory.FromString(body.propagated)
        # The keepalive first: a crash right after the save still wakes the instance, and its
        # recovery starts what the rerun starts (an early keepalive finds nothing and goes).
        await self._reminders().create(Reminder(key, "keepalive", due_time=KEEPALIVE, period=KEEPALIVE))
        await self.store.save(key, instance, rewrite=True)
        self.instances[key.actor_id] = instance
        restarted = history[len(history) - body.restarted :]
        self._carry_out(
            instance,
            Effects(
                activities=[e for e in restarted if e.HasField("taskScheduled")],
                timers=[e for e in restarted if e.HasField("timerCreated")],
                children=[e for e in restarted if e.HasField("childWorkflowInstanceCreated")],
            ),
        )
        self._notify(key.actor_id)

    async def _add_event(self, key: ActorKey, instance: Instance, e: pb.HistoryEvent) -> None:
        if instance.terminal:
            return  # as daprd: accepted, and nothing runs any more
        if instance.is_duplicate(e):
            return
        instance.inbox.append(e)
        if e.WhichOneof("eventType") not in _RECOVERABLE:
            await self.store.save(key, instance)
        self._schedule_run(instance.instance_id)
        self._notify(instance.instance_id)

    def _schedule_run(self, instance_id: str) -> None:
        if instance_id in self._run_pending:
            return
        self._run_pending.add(instance_id)
        self._spawn(self._run_later(instance_id))

    async def _run_later(self, instance_id: str) -> None:
        try:
            # The turn waits for a slot here, before it holds the instance: events sent to the
            # instance meanwhile are stored (and batched into the turn) instead of queueing.
            async with self._workflow_slots:
                await self._call(self.wf_type, instance_id, "Run")
        except DaprError as err:
            self._run_pending.discard(instance_id)
            log.debug("workflow %s: run failed: %s", instance_id, err)

    async def _run(self, key: ActorKey) -> None:
        self._run_pending.discard(key.actor_id)
        instance = await self._load(key)
        if instance is None or instance.terminal or not instance.inbox:
            return
        start = instance.start_event()
        if start is None:
            return
        if start.HasField("scheduledStartTimestamp") and not instance.history:
            at = start.scheduledStartTimestamp.ToDatetime(tzinfo=UTC)
            if at > datetime.now(UTC):
                await self._reminders().create(
                    Reminder(key, "start", due_time=at.isoformat().replace("+00:00", "Z"))
                )
                return
        if self.tracing is not None:
            self.tracing.orchestration_parent(start)  # its span id, fixed before any child names it
        sent = [event(workflowStarted=pb.WorkflowStartedEvent()), *instance.inbox]
        request = pb.WorkflowRequest(
            instanceId=instance.instance_id, pastEvents=instance.history, newEvents=sent
        )
        request.executionId.CopyFrom(start.workflowInstance.executionId)
        if instance.propagated is not None:
            request.propagatedHistory.CopyFrom(instance.propagated)
        if self.metrics is not None:
            _record_scheduling(self.metrics, instance)
        try:
            response = await self.pool.run_workflow(request, wait=WORKER_WAIT)
        except NoWorker:
            log.debug("workflow %s: no worker answered; the keepalive tries again", instance.instance_id)
            return
        stall = _stall(instance, response)
        if stall is not None:
            # Nothing of the turn is applied; the inbox is kept, so a worker with the right code
            # (the keepalive runs the instance again) picks it up where it stalled, as in daprd.
            if not instance.stalled():
                reason, description = stall
                instance.history.append(
                    event(executionStalled=pb.ExecutionStalledEvent(reason=reason, description=description))  # type: ignore[arg-type]
                )
                await self.store.save(key, instance)
                log.warning("workflow %s stalled: %s", instance.instance_id, description)
            self._notify(instance.instance_id)
            return
        instance.inbox = []
        started = instance.started_at() or sent[0].timestamp
        effects = apply(instance, sent, response, self.app_id)
        if self.tracing is not None and (instance.terminal or effects.continued):
            status = instance.status() if instance.terminal else pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW
            self.tracing.ended(start, started, status)
            if effects.continued:
                # A new execution is a new orchestration span (as durabletask-go), same parent.
                new_start = instance.start_event()
                if new_start is not None:
                    new_start.ClearField("workflowSpanID")
        await self.store.save(key, instance, rewrite=effects.continued)
        if self.metrics is not None and instance.terminal:
            _record_execution(self.metrics, instance)
        self._carry_out(instance, effects)
        if instance.inbox:
            self._schedule_run(instance.instance_id)
        self._notify(instance.instance_id)

    async def _purge(self, key: ActorKey, body: _Purge) -> int:
        instance = await self._load(key)
        if instance is None:
            raise E.NO_SUCH_INSTANCE()
        if not instance.terminal and not body.force:
            raise E.NOT_COMPLETED(key.actor_id)
        count = 1
        if body.recursive and not body.retention:
            for child in instance.children():
                app = target_app(child.router if child.HasField("router") else None, self.app_id)
                try:
                    data = await self._call(
                        workflow_actor_type(self.namespace, app),
                        child.childWorkflowInstanceCreated.instanceId,
                        "PurgeWorkflowState",
                        msgspec.msgpack.encode(body),
                    )
                    count += int(data or b"0")
                except DaprError as err:
                    if err.kind is not E.NO_SUCH_INSTANCE and err.code != E.NO_SUCH_INSTANCE.code:
                        raise
        await self._forget(key, instance, retention=not body.retention)
        self._notify(key.actor_id)
        return count

    async def _forget(self, key: ActorKey, instance: Instance, *, retention: bool = True) -> None:
        """Deletes an instance's state and reminders (``retention``: its retention reminder too;
        not when that reminder is the one purging it)."""
        await self.store.delete(key)
        self.instances.pop(key.actor_id, None)
        reminders = self._reminders()
        names = ["keepalive", "start"] + [
            f"timer-{instance.generation}-{e.eventId}" for e in instance.pending_timers()
        ]
        for name in names:
            with contextlib.suppress(Exception):
                await reminders.delete(key, name)
        if retention and self.retention is not None:
            with contextlib.suppress(Exception):
                await reminders.delete(ActorKey(self.retention_type, key.actor_id), RETENTION)

    # --- state retention -------------------------------------------------------------------------

    async def _retain(self, key: ActorKey, instance: Instance) -> None:
        """Sets the retention reminder of a finished instance, if the policy names its status.
        Due a TTL after the instance ended (its ExecutionCompleted's time), so setting it again
        (recovery) leaves the same due time, and one name per instance, as daprd's."""
        ttl = _retention_ttl(self.retention, instance.status()) if self.retention is not None else None
        if ttl is None:
            return
        ended = next(
            (e.timestamp for e in reversed(instance.history) if e.HasField("executionCompleted")), None
        )
        at = (ended.ToDatetime(tzinfo=UTC) if ended is not None else datetime.now(UTC)) + timedelta(
            seconds=ttl
        )
        due = "0s" if at <= datetime.now(UTC) else at.isoformat().replace("+00:00", "Z")
        reminder = Reminder(
            ActorKey(self.retention_type, key.actor_id),
            RETENTION,
            due_time=due,
            failure_policy=FailurePolicy(interval=1.0),
        )
        await self._retry(
            f"setting the retention of {key.actor_id}", lambda: self._reminders().create(reminder)
        )

    async def _retention_purge(self, instance_id: str) -> None:
        """The retention reminder came: purge the instance, unless it is gone already (purged by
        the user) or running again (a new run of the id sets its own reminder when it ends)."""
        body = msgspec.msgpack.encode(_Purge(recursive=False, force=False, retention=True))
        try:
            await self._measured(
                "purge_workflow", self._call(self.wf_type, instance_id, "PurgeWorkflowState", body)
            )
        except DaprError as err:
            if err.code in (E.NO_SUCH_INSTANCE.code, E.NOT_COMPLETED.code):
                return
            raise

    def _notify(self, instance_id: str) -> None:
        changed = self._changed.get(instance_id)
        if changed is not None:
            changed.set()

    # --- effects -------------------------------------------------------------------------------------

    def _carry_out(self, instance: Instance, effects: Effects) -> None:
        start = instance.start_event()
        key = ActorKey(self.wf_type, instance.instance_id)
        for e in effects.activities:
            self._spawn(self._schedule_activity(instance, start, e))
        for e in effects.timers:
            self._spawn(self._create_timer(key, instance.generation, e))
        for e in effects.children:
            self._spawn(self._create_child(instance, start, e))
        for router, d in effects.detached:
            self._spawn(self._create_detached(d, start, target_app(router, self.app_id)))
        for router, target, e in effects.events:
            self._spawn(self._send(target_app(router, self.app_id), target, e))
        if effects.terminate_children:
            for child in instance.pending_children():
                terminated = event(executionTerminated=pb.ExecutionTerminatedEvent(recurse=True))
                app = target_app(child.router if child.HasField("router") else None, self.app_id)
                self._spawn(self._send(app, child.childWorkflowInstanceCreated.instanceId, terminated))
        if effects.completed:
            self._spawn(self._completed(key, instance, start))

    async def _retry(self, what: str, attempt: Callable[[], Awaitable[Any]]) -> None:
        """Runs ``attempt()`` until it succeeds, backing off to 2 s, for about a minute (then the
        keepalive or the next activation carries the effect out again)."""
        delay = 0.05
        until = time.monotonic() + 60.0
        while True:
            try:
                await attempt()
                return
            except DaprError as err:
                # A policy's refusal is its answer: asking again would be refused again.
                if access_denied(err) or err.code == E.NO_SUCH_INSTANCE.code or time.monotonic() > until:
                    log.warning("workflow: %s failed: %s", what, err.message)
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _schedule_activity(
        self, instance: Instance, start: pb.ExecutionStartedEvent | None, e: pb.HistoryEvent
    ) -> None:
        scheduled = e.taskScheduled
        request = pb.ActivityRequest(
            name=scheduled.name, taskId=e.eventId, taskExecutionId=scheduled.taskExecutionId
        )
        if scheduled.HasField("version"):
            request.version.CopyFrom(scheduled.version)
        if scheduled.HasField("input"):
            request.input.CopyFrom(scheduled.input)
        request.workflowInstance.instanceId = instance.instance_id
        if start is not None:
            request.workflowInstance.executionId.CopyFrom(start.workflowInstance.executionId)
            if self.tracing is not None:
                # The activity's sidecar makes its span a child of the orchestration span.
                traceparent, state = self.tracing.orchestration_parent(start)
                if traceparent:
                    request.parentTraceContext.traceParent = traceparent
                    if state:
                        request.parentTraceContext.traceState.value = state
        if scheduled.HasField("historyPropagationScope"):
            propagated = propagation(instance, scheduled.historyPropagationScope, self.app_id)
            if propagated is not None:
                request.propagatedHistory.CopyFrom(propagated)
        app = target_app(e.router if e.HasField("router") else None, self.app_id)
        actor_id = f"{instance.instance_id}::{e.eventId}::{instance.generation}"
        body = msgspec.msgpack.encode(_Execute(request.SerializeToString(), self.app_id))

        async def execute() -> None:
            try:
                await self._call(activity_actor_type(self.namespace, app), actor_id, "Execute", body)
            except DaprError as err:
                if not access_denied(err):
                    raise
                # As daprd: the task fails at once (the workflow's retry policy may try it again).
                log.error(
                    "Workflow actor '%s': activity '%s' denied by workflow access policy: %s",
                    instance.instance_id,
                    scheduled.name,
                    err.message,
                )
                failed = pb.HistoryEvent(eventId=-1)
                failed.timestamp.GetCurrentTime()
                failed.taskFailed.taskScheduledId = e.eventId
                failed.taskFailed.taskExecutionId = scheduled.taskExecutionId
                failed.taskFailed.failureDetails.errorType = ERROR_TYPE
                failed.taskFailed.failureDetails.errorMessage = DENIED
                await self._add(instance.instance_id, failed)

        await self._retry(f"scheduling activity {scheduled.name} of {instance.instance_id}", execute)

    async def _create_timer(self, key: ActorKey, generation: int, e: pb.HistoryEvent) -> None:
        at = e.timerCreated.fireAt.ToDatetime(tzinfo=UTC)
        due = "0s" if at <= datetime.now(UTC) else at.isoformat().replace("+00:00", "Z")
        reminder = Reminder(
            key,
            f"timer-{generation}-{e.eventId}",
            due_time=due,
            data=msgspec.msgpack.encode(_TimerData(e.eventId, generation)),
        )
        await self._retry(f"creating timer of {key.actor_id}", lambda: self._reminders().create(reminder))

    async def _create_child(
        self, instance: Instance, start: pb.ExecutionStartedEvent | None, e: pb.HistoryEvent
    ) -> None:
        created = e.childWorkflowInstanceCreated
        child = pb.ExecutionStartedEvent(name=created.name)
        if created.HasField("version"):
            child.version.CopyFrom(created.version)
        if created.HasField("input"):
            child.input.CopyFrom(created.input)
        child.workflowInstance.instanceId = created.instanceId
        child.workflowInstance.executionId.value = uuid.uuid4().hex
        parent = child.parentInstance
        parent.taskScheduledId = e.eventId
        parent.appID = self.app_id
        parent.workflowInstance.instanceId = instance.instance_id
        if start is not None:
            parent.name.value = start.name
            parent.workflowInstance.executionId.CopyFrom(start.workflowInstance.executionId)
            if self.tracing is not None:
                traceparent, state = self.tracing.orchestration_parent(start)
                if traceparent:
                    self.tracing.created(child, traceparent, state)
        propagated = None
        if created.HasField("historyPropagationScope"):
            scope = propagation(instance, created.historyPropagationScope, self.app_id)
            propagated = scope.SerializeToString() if scope is not None else None
        body = msgspec.msgpack.encode(_Create(event(executionStarted=child).SerializeToString(), propagated))
        app = target_app(e.router if e.HasField("router") else None, self.app_id)

        async def create() -> None:
            try:
                await self._call(
                    workflow_actor_type(self.namespace, app),
                    created.instanceId,
                    "CreateWorkflowInstance",
                    body,
                )
            except DaprError as err:
                if access_denied(err):
                    # The child's app refused it: the parent sees the child fail, as in daprd.
                    log.warning(
                        "Workflow actor '%s': child workflow denied by access policy: %s",
                        instance.instance_id,
                        err.message,
                    )
                    error_type, message = ERROR_TYPE, DENIED
                elif err.code == E.ALREADY_EXISTS.code and err.grpc_status == E.ALREADY_EXISTS.grpc_status:
                    # Another workflow holds that id: the parent sees the child fail (daprd's type).
                    error_type, message = "WorkflowInstanceAlreadyExists", err.message
                else:
                    raise
                failed = pb.HistoryEvent(eventId=-1)
                failed.timestamp.GetCurrentTime()
                failed.childWorkflowInstanceFailed.taskScheduledId = e.eventId
                failed.childWorkflowInstanceFailed.failureDetails.errorType = error_type
                failed.childWorkflowInstanceFailed.failureDetails.errorMessage = message
                await self._add(instance.instance_id, failed)

        await self._retry(f"creating child workflow {created.instanceId}", create)

    async def _create_detached(
        self, d: pb.CreateDetachedWorkflowAction, start: pb.ExecutionStartedEvent | None, app: str
    ) -> None:
        """A workflow the turn started on its own (``app``'s: the action's router target)."""
        traceparent, state = "", ""
        if self.tracing is not None and start is not None:
            traceparent, state = self.tracing.orchestration_parent(start)
        request = StartRequest(
            name=d.name,
            instance_id=d.instanceId,
            input=d.input.value if d.HasField("input") else None,
            version=d.version.value if d.HasField("version") else None,
            tags=dict(d.tags),
            trace_parent=traceparent,
            trace_state=state or None,
            app=app,
        )
        await self._retry(f"creating workflow {d.instanceId}", lambda: self.start(request))

    async def _send(self, app: str, instance_id: str, e: pb.HistoryEvent) -> None:
        await self._retry(f"sending an event to {instance_id}", lambda: self._add(instance_id, e, app))

    async def _completed(
        self, key: ActorKey, instance: Instance, start: pb.ExecutionStartedEvent | None
    ) -> None:
        await self._retain(key, instance)
        with contextlib.suppress(Exception):
            await self._reminders().delete(key, "keepalive")
        if start is None or not start.HasField("parentInstance"):
            return
        done = instance.completed_event()
        if done is None:
            return
        parent = start.parentInstance
        e = pb.HistoryEvent(eventId=-1)
        e.timestamp.GetCurrentTime()
        if done.workflowStatus == pb.ORCHESTRATION_STATUS_COMPLETED:
            e.childWorkflowInstanceCompleted.taskScheduledId = parent.taskScheduledId
            if done.HasField("result"):
                e.childWorkflowInstanceCompleted.result.CopyFrom(done.result)
        else:
            e.childWorkflowInstanceFailed.taskScheduledId = parent.taskScheduledId
            details = e.childWorkflowInstanceFailed.failureDetails
            if done.HasField("failureDetails"):
                details.CopyFrom(done.failureDetails)
            else:
                details.errorType = "WorkflowTerminated"
                details.errorMessage = f"child workflow {instance.instance_id} was terminated"
        app = parent.appID if parent.HasField("appID") and parent.appID else self.app_id
        await self._send(app, parent.workflowInstance.instanceId, e)

    # --- the activity actor --------------------------------------------------------------------------

    def _execute(self, key: ActorKey, body: _Execute) -> None:
        run_id = key.actor_id
        if run_id in self._running:
            # Sent again (recovery, keepalive) while it runs. Once its result is in the workflow's
            # inbox it is no longer pending and is not sent again; a result lost with an unstored
            # inbox makes it pending again, and then it must run again.
            return
        self._running.add(run_id)
        self._spawn(self._run_activity(run_id, pb.ActivityRequest.FromString(body.request), body.app))

    async def _run_activity(self, run_id: str, request: pb.ActivityRequest, app: str) -> None:
        started = time.perf_counter()
        tracing = self.tracing
        span = tracing.activity(request) if tracing is not None else None
        try:
            while True:
                try:
                    async with self._activity_slots:
                        response = await self.pool.run_activity(request, wait=WORKER_WAIT)
                    break
                except NoWorker:
                    await asyncio.sleep(0.5)
            if tracing is not None and span is not None:
                tracing.end_activity(span, response)
                span = None
            if self.metrics is not None:
                failed = response.HasField("failureDetails")
                self.metrics.activity(request.name, not failed, (time.perf_counter() - started) * 1000)
            e = pb.HistoryEvent(eventId=-1)
            e.timestamp.GetCurrentTime()
            if response.HasField("failureDetails"):
                e.taskFailed.taskScheduledId = request.taskId
                e.taskFailed.failureDetails.CopyFrom(response.failureDetails)
                e.taskFailed.taskExecutionId = request.taskExecutionId
            else:
                e.taskCompleted.taskScheduledId = request.taskId
                e.taskCompleted.taskExecutionId = request.taskExecutionId
                if response.HasField("result"):
                    e.taskCompleted.result.CopyFrom(response.result)
            await self._send(app, request.workflowInstance.instanceId, e)
        finally:
            if span is not None:  # cancelled (the sidecar stopping): ended as what it was
                span.end()
            self._running.discard(run_id)


# Results the history can ask for again: an activity not answered runs again, a timer not fired is
# set again, a child re-sends its end (``_recover``). They wait in memory for the next run, which
# stores them with its history: one write per run instead of one more per result.
_RECOVERABLE = frozenset(
    {
        "taskCompleted",
        "taskFailed",
        "timerFired",
        "childWorkflowInstanceCompleted",
        "childWorkflowInstanceFailed",
    }
)

_KINDS: dict[str, ErrorKind] = {
    k.code + str(k.grpc_status.value[0]): k
    for k in (E.NO_SUCH_INSTANCE, E.ALREADY_EXISTS, E.NOT_COMPLETED, E.NO_ACTORS, E.ACCESS_DENIED)
}


def _activity_name(data: bytes) -> str:
    """The activity an ``Execute`` call asks for; ValueError when its payload names none."""
    try:
        body = msgspec.msgpack.decode(data, type=_Execute)
        name: str = pb.ActivityRequest.FromString(body.request).name
    except Exception as exc:
        raise ValueError(f"the activity request cannot be decoded: {exc}") from None
    return name


def _created_name(data: bytes) -> str:
    """The workflow a ``CreateWorkflowInstance`` call starts ("" when its payload names none)."""
    try:
        body = msgspec.msgpack.decode(data, type=_Create)
        name: str = pb.HistoryEvent.FromString(body.start).executionStarted.name
    except Exception:
        return ""
    return name


def _slots(limit: int | None) -> contextlib.AbstractAsyncContextManager[Any]:
    """``async with`` it holds one of ``limit`` slots, waiting for one to be free (None: no limit)."""
    return asyncio.Semaphore(limit) if limit else contextlib.nullcontext()


def _retention_ttl(policy: WorkflowRetentionPolicy, status: int) -> float | None:
    """Seconds a finished instance of ``status`` is kept: its status's own TTL, else anyTerminal."""
    specific = {
        pb.ORCHESTRATION_STATUS_COMPLETED: policy.completed,
        pb.ORCHESTRATION_STATUS_TERMINATED: policy.terminated,
        pb.ORCHESTRATION_STATUS_FAILED: policy.failed,
    }.get(status)  # type: ignore[call-overload]
    return specific if specific is not None else policy.any_terminal


def _decode_error(result: InvokeResult) -> DaprError:
    """The DaprError an internal actor answered (possibly on another sidecar)."""
    try:
        body = msgspec.json.decode(result.data)
        code, message, grpc_code = body["errorCode"], body["message"], int(body.get("grpc", 13))
    except Exception:
        return E.NO_ACTORS(f"workflow actor failed: {result.data[:200]!r}")
    kind = _KINDS.get(code + str(grpc_code))
    if kind is None:
        status = next((s for s in rpc.StatusCode if s.value[0] == grpc_code), rpc.StatusCode.INTERNAL)
        kind = ErrorKind(code, result.status, status, "{0}")
    return DaprError(kind, message)


def _record_scheduling(metrics: WorkflowMetrics, instance: Instance) -> None:
    """The first run of an execution (its ExecutionStarted still in the inbox): how long after
    the requested start, or the scheduled one, it runs (daprd's scheduling latency)."""
    for e in instance.inbox:
        if e.HasField("executionStarted"):
            started = e.executionStarted
            at = (
                started.scheduledStartTimestamp
                if started.HasField("scheduledStartTimestamp")
                else e.timestamp
            )
            elapsed = datetime.now(UTC) - at.ToDatetime(tzinfo=UTC)
            metrics.scheduled(started.name, elapsed.total_seconds() * 1000)
            return


def _record_execution(metrics: WorkflowMetrics, instance: Instance) -> None:
    """A run ended the workflow: its status as daprd labels it, and the time since its first run."""
    start, done = instance.start_event(), instance.completed_event()
    if start is None or done is None:
        return
    if done.workflowStatus == pb.ORCHESTRATION_STATUS_COMPLETED:
        status = "success"
    elif done.workflowStatus == pb.ORCHESTRATION_STATUS_TERMINATED:
        status = "terminated"
    else:
        status = "failed"
    first = next((e for e in instance.history if e.HasField("workflowStarted")), None)
    elapsed = 0.0
    if first is not None:
        elapsed = (datetime.now(UTC) - first.timestamp.ToDatetime(tzinfo=UTC)).total_seconds() * 1000
    metrics.execution(start.name, status, elapsed)


def _stall(instance: Instance, response: pb.WorkflowResponse) -> tuple[int, str] | None:
    """Why the worker's answer cannot be applied (daprd's stalled workflows): it does not know the
    workflow's version, or its code no longer checks a patch an earlier turn recorded."""
    for action in response.actions:
        if action.HasField("workflowVersionNotAvailable"):
            return pb.VERSION_NOT_AVAILABLE, "the workflow version is not available on the worker"
    recorded = {
        patch
        for e in instance.history
        if e.HasField("workflowStarted") and e.workflowStarted.HasField("version")
        for patch in e.workflowStarted.version.patches
    }
    reported = set(response.version.patches) if response.HasField("version") else set()
    missing = recorded - reported
    if missing:
        return pb.PATCH_MISMATCH, f"patches {sorted(missing)} were applied before but are not now"
    return None


def _same_parent(existing: Instance, start: pb.HistoryEvent) -> bool:
    old = existing.start_event()
    new = start.executionStarted
    if old is None or not old.HasField("parentInstance") or not new.HasField("parentInstance"):
        return False
    return (
        old.parentInstance.workflowInstance.instanceId == new.parentInstance.workflowInstance.instanceId
        and old.parentInstance.taskScheduledId == new.parentInstance.taskScheduledId
    )
