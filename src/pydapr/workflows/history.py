"""One workflow instance's durable state and the pure rules over it: its status, what it still waits
for, and how a worker's answer (a ``WorkflowResponse``) turns into history and effects.

Nothing here does I/O; the engine (``pydapr.workflows.engine``) persists what ``apply`` returns
before it carries out any effect, so a crash between the two repeats effects (the receivers
deduplicate them) but never loses or invents history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from pydapr.workflows._proto import durabletask_pb2 as pb

S = pb.OrchestrationStatus
TERMINAL = frozenset(
    {
        S.ORCHESTRATION_STATUS_COMPLETED,
        S.ORCHESTRATION_STATUS_FAILED,
        S.ORCHESTRATION_STATUS_TERMINATED,
        S.ORCHESTRATION_STATUS_CANCELED,
    }
)


def now_ts() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


def event(**kwargs: object) -> pb.HistoryEvent:
    """A new history event stamped now; ``eventId`` -1 as the SDKs use for events not from actions."""
    e = pb.HistoryEvent(eventId=-1, **kwargs)  # type: ignore[arg-type]
    e.timestamp.CopyFrom(now_ts())
    return e


@dataclass
class Instance:
    """``history`` is what the worker has seen (committed turns); ``inbox`` the events not yet
    given to it. ``generation`` counts executions of this instance id (a restart after it finished,
    a continue-as-new), so reminders and activity ids of an earlier execution are told apart."""

    instance_id: str
    history: list[pb.HistoryEvent] = field(default_factory=list)
    inbox: list[pb.HistoryEvent] = field(default_factory=list)
    custom_status: str | None = None
    generation: int = 0
    propagated: pb.PropagatedHistory | None = None  # what the parent passed on (history propagation)
    created: float = 0.0
    updated: float = 0.0

    # --- what the instance is --------------------------------------------------------------------

    def start_event(self) -> pb.ExecutionStartedEvent | None:
        for e in self.history:
            if e.HasField("executionStarted"):
                return e.executionStarted
        for e in self.inbox:
            if e.HasField("executionStarted"):
                return e.executionStarted
        return None

    def completed_event(self) -> pb.ExecutionCompletedEvent | None:
        for e in reversed(self.history):
            if e.HasField("executionCompleted"):
                return e.executionCompleted
        return None

    def stalled(self) -> bool:
        return bool(self.history) and self.history[-1].HasField("executionStalled")

    def suspended(self) -> bool:
        """The latest suspend or resume, counting the inbox: a pause shows at once, as in daprd."""
        state = False
        for e in [*self.history, *self.inbox]:
            if e.HasField("executionSuspended"):
                state = True
            elif e.HasField("executionResumed"):
                state = False
        return state

    def status(self) -> int:
        done = self.completed_event()
        if done is not None:
            return done.workflowStatus
        if self.stalled():
            return S.ORCHESTRATION_STATUS_STALLED
        if not any(e.HasField("workflowStarted") for e in self.history):
            return S.ORCHESTRATION_STATUS_PENDING
        if self.suspended():
            return S.ORCHESTRATION_STATUS_SUSPENDED
        return S.ORCHESTRATION_STATUS_RUNNING

    @property
    def terminal(self) -> bool:
        return self.completed_event() is not None

    def started_at(self) -> Timestamp | None:
        for e in self.history:
            if e.HasField("workflowStarted"):
                return e.timestamp
        return None

    # --- what it waits for -----------------------------------------------------------------------

    def pending_activities(self) -> list[pb.HistoryEvent]:
        done = {e.taskCompleted.taskScheduledId for e in self._all() if e.HasField("taskCompleted")}
        done |= {e.taskFailed.taskScheduledId for e in self._all() if e.HasField("taskFailed")}
        return [e for e in self.history if e.HasField("taskScheduled") and e.eventId not in done]

    def pending_timers(self) -> list[pb.HistoryEvent]:
        fired = {e.timerFired.timerId for e in self._all() if e.HasField("timerFired")}
        return [e for e in self.history if e.HasField("timerCreated") and e.eventId not in fired]

    def pending_children(self) -> list[pb.HistoryEvent]:
        done = {
            e.childWorkflowInstanceCompleted.taskScheduledId
            for e in self._all()
            if e.HasField("childWorkflowInstanceCompleted")
        }
        done |= {
            e.childWorkflowInstanceFailed.taskScheduledId
            for e in self._all()
            if e.HasField("childWorkflowInstanceFailed")
        }
        return [
            e for e in self.history if e.HasField("childWorkflowInstanceCreated") and e.eventId not in done
        ]

    def children(self) -> list[pb.HistoryEvent]:
        return [e for e in self.history if e.HasField("childWorkflowInstanceCreated")]

    def _all(self) -> Iterable[pb.HistoryEvent]:
        yield from self.history
        yield from self.inbox

    def is_duplicate(self, e: pb.HistoryEvent) -> bool:
        """A result already recorded (an activity or child delivered twice, a timer fired twice):
        dropping it keeps every result exactly once in the history."""
        kind = e.WhichOneof("eventType")
        if kind in {"taskCompleted", "taskFailed"}:
            task = getattr(e, kind).taskScheduledId
            return any(
                (x.HasField("taskCompleted") and x.taskCompleted.taskScheduledId == task)
                or (x.HasField("taskFailed") and x.taskFailed.taskScheduledId == task)
                for x in self._all()
            )
        if kind in ("childWorkflowInstanceCompleted", "childWorkflowInstanceFailed"):
            task = getattr(e, kind).taskScheduledId
            return any(
                (
                    x.HasField("childWorkflowInstanceCompleted")
                    and x.childWorkflowInstanceCompleted.taskScheduledId == task
                )
                or (
                    x.HasField("childWorkflowInstanceFailed")
                    and x.childWorkflowInstanceFailed.taskScheduledId == task
                )
                for x in self._all()
            )
        if kind == "timerFired":
            return any(
                x.HasField("timerFired") and x.timerFired.timerId == e.timerFired.timerId for x in self._all()
            )
        return False

    # --- the public view -------------------------------------------------------------------------

    def state(self, *, payloads: bool) -> pb.WorkflowState:
        start = self.start_event()
        out = pb.WorkflowState(instanceId=self.instance_id, workflowStatus=self.status())  # type: ignore[arg-type]
        if start is not None:
            out.name = start.name
            if start.HasField("version"):
                out.version.CopyFrom(start.version)
            if start.HasField("scheduledStartTimestamp"):
                out.scheduledStartTimestamp.CopyFrom(start.scheduledStartTimestamp)
            if start.workflowInstance.HasField("executionId"):
                out.executionId.CopyFrom(start.workflowInstance.executionId)
            if start.HasField("parentInstance"):
                out.parentInstanceId.value = start.parentInstance.workflowInstance.instanceId
                if start.parentInstance.HasField("appID"):
                    out.parentAppId.value = start.parentInstance.appID
            for k, v in start.tags.items():
                out.tags[k] = v
            if payloads and start.HasField("input"):
                out.input.CopyFrom(start.input)
        out.createdTimestamp.FromMilliseconds(int(self.created * 1000))
        out.lastUpdatedTimestamp.FromMilliseconds(int(self.updated * 1000))
        started = self.started_at()
        if started is not None:
            out.startedAt.CopyFrom(started)
        done = self.completed_event()
        if done is not None:
            out.completedTimestamp.FromMilliseconds(int(self.updated * 1000))
            if done.HasField("failureDetails"):
                out.failureDetails.CopyFrom(done.failureDetails)
            if payloads and done.HasField("result"):
                out.output.CopyFrom(done.result)
        if payloads and self.custom_status is not None:
            out.customStatus.value = self.custom_status
        return out


# --- a worker's answer ------------------------------------------------------------------------------


@dataclass
class Effects:
    """What a turn asks of the world, carried out after the turn's history is stored."""

    activities: list[pb.HistoryEvent] = field(default_factory=list)  # taskScheduled events
    timers: list[pb.HistoryEvent] = field(default_factory=list)  # timerCreated events
    children: list[pb.HistoryEvent] = field(default_factory=list)  # childWorkflowInstanceCreated
    detached: list[tuple[pb.TaskRouter | None, pb.CreateDetachedWorkflowAction]] = field(default_factory=list)
    events: list[tuple[pb.TaskRouter | None, str, pb.HistoryEvent]] = field(default_factory=list)
    terminate_children: bool = False
    completed: bool = False  # the execution ended (notify the parent and the waiters)
    continued: bool = False  # continue-as-new: a new execution starts at once


def apply(
    instance: Instance, sent: list[pb.HistoryEvent], response: pb.WorkflowResponse, app_id: str
) -> Effects:
    """Records a turn: the events the worker was sent (``sent``, taken from the inbox) and the
    history events of its actions; returns the effects to carry out. Mutates ``instance``."""
    effects = Effects()
    instance.history.extend(sent)
    if response.HasField("version"):
        for e in reversed(sent):
            if e.HasField("workflowStarted"):
                e.workflowStarted.version.CopyFrom(response.version)
                break
    if response.HasField("customStatus"):
        instance.custom_status = response.customStatus.value
    if any(e.HasField("executionTerminated") and e.executionTerminated.recurse for e in sent):
        effects.terminate_children = True
    for action in response.actions:
        kind = action.WhichOneof("workflowActionType")
        router = action.router if action.HasField("router") else None
        if kind == "scheduleTask":
            a = action.scheduleTask
            e = _at(action.id, router, app_id)
            e.taskScheduled.name = a.name
            if a.HasField("version"):
                e.taskScheduled.version.CopyFrom(a.version)
            if a.HasField("input"):
                e.taskScheduled.input.CopyFrom(a.input)
            e.taskScheduled.taskExecutionId = a.taskExecutionId or uuid.uuid4().hex
            if a.HasField("historyPropagationScope"):
                e.taskScheduled.historyPropagationScope = a.historyPropagationScope
            instance.history.append(e)
            effects.activities.append(e)
        elif kind == "createTimer":
            t = action.createTimer
            e = _at(action.id, None, app_id)
            e.timerCreated.fireAt.CopyFrom(t.fireAt)
            if t.HasField("name"):
                e.timerCreated.name = t.name
            origin = t.WhichOneof("origin")
            if origin:
                getattr(e.timerCreated, origin).CopyFrom(getattr(t, origin))
            instance.history.append(e)
            effects.timers.append(e)
        elif kind == "createChildWorkflow":
            c = action.createChildWorkflow
            e = _at(action.id, router, app_id)
            created = e.childWorkflowInstanceCreated
            created.instanceId = c.instanceId or uuid.uuid4().hex
            created.name = c.name
            if c.HasField("version"):
                created.version.CopyFrom(c.version)
            if c.HasField("input"):
                created.input.CopyFrom(c.input)
            if c.HasField("historyPropagationScope"):
                created.historyPropagationScope = c.historyPropagationScope
            instance.history.append(e)
            effects.children.append(e)
        elif kind == "sendEvent":
            s = action.sendEvent
            e = _at(action.id, router, app_id)
            e.eventSent.instanceId = s.instance.instanceId
            e.eventSent.name = s.name
            if s.HasField("data"):
                e.eventSent.input.CopyFrom(s.data)
            instance.history.append(e)
            raised = event(eventRaised=pb.EventRaisedEvent(name=s.name))
            if s.HasField("data"):
                raised.eventRaised.input.CopyFrom(s.data)
            effects.events.append((router, s.instance.instanceId, raised))
        elif kind == "terminateWorkflow":
            t2 = action.terminateWorkflow
            terminated = event(executionTerminated=pb.ExecutionTerminatedEvent(recurse=t2.recurse))
            if t2.HasField("reason"):
                terminated.executionTerminated.input.CopyFrom(t2.reason)
            effects.events.append((router, t2.instanceId, terminated))
        elif kind == "createDetachedWorkflow":
            d = action.createDetachedWorkflow
            e = _at(action.id, router, app_id)
            e.detachedWorkflowInstanceCreated.instanceId = d.instanceId
            instance.history.append(e)
            effects.detached.append((router, d))
        elif kind == "workflowVersionNotAvailable":
            stalled = event(
                executionStalled=pb.ExecutionStalledEvent(
                    reason=pb.VERSION_NOT_AVAILABLE, description="the workflow version is not available"
                )
            )
            instance.history.append(stalled)
        elif kind == "completeWorkflow":
            c2 = action.completeWorkflow
            if c2.workflowStatus == S.ORCHESTRATION_STATUS_CONTINUED_AS_NEW:
                _continue_as_new(instance, c2)
                effects.continued = True
                break
            e = _at(action.id, None, app_id)
            e.executionCompleted.workflowStatus = c2.workflowStatus
            if c2.HasField("result"):
                e.executionCompleted.result.CopyFrom(c2.result)
            if c2.HasField("failureDetails"):
                e.executionCompleted.failureDetails.CopyFrom(c2.failureDetails)
            instance.history.append(e)
            effects.completed = True
    return effects


def _continue_as_new(instance: Instance, action: pb.CompleteWorkflowAction) -> None:
    """A new execution of the same instance: fresh history, the new input, the carried-over
    events (external events received but not yet awaited) first in its inbox."""
    old = instance.start_event()
    start = pb.ExecutionStartedEvent()
    if old is not None:
        start.CopyFrom(old)
    start.ClearField("scheduledStartTimestamp")
    start.workflowInstance.executionId.value = uuid.uuid4().hex
    start.ClearField("input")
    if action.HasField("result"):
        start.input.CopyFrom(action.result)
    if action.HasField("newVersion"):
        start.version.CopyFrom(action.newVersion)
    instance.history = []
    instance.inbox = [event(executionStarted=start), *action.carryoverEvents]
    instance.generation += 1
    instance.custom_status = None


def _at(event_id: int, router: pb.TaskRouter | None, app_id: str) -> pb.HistoryEvent:
    e = pb.HistoryEvent(eventId=event_id)
    e.timestamp.CopyFrom(now_ts())
    if router is not None:
        e.router.CopyFrom(router)
        if not e.router.sourceAppID:
            e.router.sourceAppID = app_id
    return e


def target_app(router: pb.TaskRouter | None, app_id: str) -> str:
    """The app an action addresses: its router's target, else this app (cross-app workflows)."""
    if router is not None and router.HasField("targetAppID") and router.targetAppID:
        return router.targetAppID
    return app_id


def own_chunk(instance: Instance, app_id: str) -> pb.PropagatedHistoryChunk:
    start = instance.start_event()
    return pb.PropagatedHistoryChunk(
        rawEvents=[e.SerializeToString() for e in instance.history],
        appId=app_id,
        instanceId=instance.instance_id,
        workflowName=start.name if start is not None else "",
    )


def propagation(instance: Instance, scope: int, app_id: str) -> pb.PropagatedHistory | None:
    """The history a child workflow or an activity receives under ``scope`` (history propagation):
    this workflow's own events, or its whole lineage (what it received, then its own)."""
    if scope == pb.HISTORY_PROPAGATION_SCOPE_OWN_HISTORY:
        return pb.PropagatedHistory(scope=scope, chunks=[own_chunk(instance, app_id)])  # type: ignore[arg-type]
    if scope == pb.HISTORY_PROPAGATION_SCOPE_LINEAGE:
        chunks = list(instance.propagated.chunks) if instance.propagated is not None else []
        chunks.append(own_chunk(instance, app_id))
        return pb.PropagatedHistory(scope=scope, chunks=chunks)  # type: ignore[arg-type]
    return None
