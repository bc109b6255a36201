"""Rerunning a finished workflow from one of its events (durabletask's ``RerunWorkflowFromEvent``), as
daprd v1.18 forks a history (pkg/actors/targets/workflow/orchestrator/fork, rerun.go): pure rules,
no I/O; the engine stores the new instance and carries out what it starts.

The new instance's history is the source's up to the chosen event, keeping only the activities
and child workflows whose results came before it; then the chosen event and every activity, timer
and child workflow still open at that point are started again (the event's input replaced when
asked; a child workflow gets the id ``<new instance>:<event id, 4 hex digits>`` unless one is
given). The source instance is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydapr.workflows._proto import durabletask_pb2 as pb

from . import errors as E
from .history import Instance, now_ts


@dataclass(frozen=True, slots=True)
class RerunRequest:
    source: str
    event_id: int
    new_instance_id: str
    overwrite_input: bool = False
    input: str | None = None  # with overwrite_input: None clears the input
    new_child_instance_id: str | None = None


@dataclass
class Forked:
    """The new instance's history (ending with the events started again) and those events."""

    history: list[pb.HistoryEvent] = field(default_factory=list)
    activities: list[pb.HistoryEvent] = field(default_factory=list)  # taskScheduled
    timers: list[pb.HistoryEvent] = field(default_factory=list)  # timerCreated, fired again
    children: list[pb.HistoryEvent] = field(default_factory=list)  # childWorkflowInstanceCreated


def check_source(source: Instance | None, instance_id: str) -> Instance:
    """daprd's refusals before a fork: no such instance, not finished, a child workflow."""
    if source is None:
        raise E.RERUN_NOT_FOUND(f"workflow instance does not exist with ID '{instance_id}'")
    if not source.terminal:
        raise E.RERUN_INVALID(f"'{instance_id}' is not in a terminal state")
    start = source.start_event()
    if (
        start is not None
        and start.HasField("parentInstance")
        and start.parentInstance.workflowInstance.instanceId
    ):
        raise E.RERUN_INVALID(f"'{instance_id}': cannot rerun from child-workflows")
    return source


def fork(source: Instance, request: RerunRequest) -> Forked:
    """The new instance's history; raises the errors daprd's fork answers (no event of that id,
    an event that cannot be rerun, arguments the event does not take)."""
    history: list[pb.HistoryEvent] = []
    activities: dict[int, pb.HistoryEvent] = {}
    timers: dict[int, pb.HistoryEvent] = {}
    children: dict[int, pb.HistoryEvent] = {}
    found: pb.HistoryEvent | None = None
    for original in source.history:
        e = pb.HistoryEvent()
        e.CopyFrom(original)  # the source stays as it is
        if e.eventId == request.event_id:
            found = _rerun_event(e, request)
            break
        kind = e.WhichOneof("eventType")
        if kind == "taskScheduled":
            activities[e.eventId] = e
        elif kind == "timerCreated":
            # A timer that fired before the event is set again too, as daprd's fork does.
            timers[e.eventId] = e
        elif kind == "childWorkflowInstanceCreated":
            children[e.eventId] = e
        elif kind in ("taskCompleted", "taskFailed"):
            _closed(history, activities, getattr(e, kind).taskScheduledId, e)
        elif kind in ("childWorkflowInstanceCompleted", "childWorkflowInstanceFailed"):
            _closed(history, children, getattr(e, kind).taskScheduledId, e)
        else:
            history.append(e)
    if found is None:
        raise E.RERUN_NOT_FOUND(f"does not have history event with ID '{request.event_id}'")
    for child in children.values():
        child.childWorkflowInstanceCreated.instanceId = _child_id(request.new_instance_id, child.eventId)
    forked = Forked(history=history)
    for e in [*activities.values(), *timers.values(), *children.values(), found]:
        e.timestamp.CopyFrom(now_ts())
        history.append(e)
        kind = e.WhichOneof("eventType")
        if kind == "taskScheduled":
            forked.activities.append(e)
        elif kind == "timerCreated":
            forked.timers.append(e)
        else:
            forked.children.append(e)
    return forked


def _closed(
    history: list[pb.HistoryEvent], open_: dict[int, pb.HistoryEvent], scheduled: int, e: pb.HistoryEvent
) -> None:
    # A result before the event: its scheduling and it are kept, next to each other.
    started = open_.pop(scheduled, None)
    if started is not None:
        history.append(started)
    history.append(e)


def _child_id(new_instance_id: str, event_id: int) -> str:
    return f"{new_instance_id}:{event_id:04x}"


def _rerun_event(e: pb.HistoryEvent, request: RerunRequest) -> pb.HistoryEvent:
    kind = e.WhichOneof("eventType")
    if kind == "taskScheduled":
        scheduled = e.taskScheduled
        scheduled.rerunParentInstanceInfo.instanceID = request.source
        if request.overwrite_input:
            _set_input(scheduled, request.input)
        if request.new_child_instance_id is not None:
            raise E.RERUN_INVALID(
                f"cannot set new child workflow instance ID on activity event '{request.event_id}'"
            )
        return e
    if kind == "timerCreated":
        e.timerCreated.rerunParentInstanceInfo.instanceID = request.source
        if request.overwrite_input:
            raise E.RERUN_INVALID(f"cannot write input to timer event '{request.event_id}'")
        if request.new_child_instance_id is not None:
            raise E.RERUN_INVALID(
                f"cannot set new child workflow instance ID on timer event '{request.event_id}'"
            )
        return e
    if kind == "childWorkflowInstanceCreated":
        created = e.childWorkflowInstanceCreated
        created.rerunParentInstanceInfo.instanceID = request.source
        created.instanceId = request.new_child_instance_id or _child_id(request.new_instance_id, e.eventId)
        if request.overwrite_input:
            _set_input(created, request.input)
        return e
    # daprd names the Go type of the event (its oneof wrapper), e.g. HistoryEvent_ExecutionCompleted.
    go_type = f"*protos.HistoryEvent_{(kind or '')[:1].upper()}{(kind or '')[1:]}"
    raise E.RERUN_NOT_FOUND(
        f"target event '{go_type}' with ID '{request.event_id}' is not an event that can be rerun"
    )


def _set_input(
    event: pb.TaskScheduledEvent | pb.ChildWorkflowInstanceCreatedEvent, value: str | None
) -> None:
    if value is None:
        event.ClearField("input")
    else:
        event.input.value = value
