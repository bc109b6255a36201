"""The rerun fork's rules (pydapr.workflows.rerun, as daprd's orchestrator/fork): which events the new
history keeps, which run again, and that the source instance is not changed."""
# ruff: noqa: E501  (daprd's messages read best whole)

from __future__ import annotations

import pytest

from pydapr.errors import DaprError
from pydapr.workflows._proto import durabletask_pb2 as pb
from pydapr.workflows.history import Instance
from pydapr.workflows.rerun import RerunRequest, check_source, fork


def _e(event_id: int, **kwargs: object) -> pb.HistoryEvent:
    return pb.HistoryEvent(eventId=event_id, **kwargs)  # type: ignore[arg-type]


def _source() -> Instance:
    """Activity 1 (done), timer 2 (fired), activity 3 (done after child 4 was created), child 4."""
    return Instance(
        "src",
        history=[
            _e(-1, workflowStarted=pb.WorkflowStartedEvent()),
            _e(-1, executionStarted=pb.ExecutionStartedEvent(name="w")),
            _e(1, taskScheduled=pb.TaskScheduledEvent(name="a")),
            _e(-1, workflowStarted=pb.WorkflowStartedEvent()),
            _e(-1, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=1)),
            _e(2, timerCreated=pb.TimerCreatedEvent()),
            _e(-1, workflowStarted=pb.WorkflowStartedEvent()),
            _e(-1, timerFired=pb.TimerFiredEvent(timerId=2)),
            _e(3, taskScheduled=pb.TaskScheduledEvent(name="b")),
            _e(4, childWorkflowInstanceCreated=pb.ChildWorkflowInstanceCreatedEvent(instanceId="src:0004")),
            _e(-1, workflowStarted=pb.WorkflowStartedEvent()),
            _e(-1, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=3)),
            _e(-1, childWorkflowInstanceCompleted=pb.ChildWorkflowInstanceCompletedEvent(taskScheduledId=4)),
            _e(
                5,
                executionCompleted=pb.ExecutionCompletedEvent(
                    workflowStatus=pb.ORCHESTRATION_STATUS_COMPLETED
                ),
            ),
        ],
    )


def _kinds(events: list[pb.HistoryEvent]) -> list[tuple[int, str | None]]:
    return [(e.eventId, e.WhichOneof("eventType")) for e in events]


def test_a_fork_keeps_what_finished_before_the_event_and_restarts_the_rest() -> None:
    source = _source()
    before = [e.SerializeToString() for e in source.history]
    forked = fork(source, RerunRequest("src", 4, "new"))
    assert _kinds(forked.history) == [
        (-1, "workflowStarted"),
        (-1, "executionStarted"),
        (-1, "workflowStarted"),
        (1, "taskScheduled"),  # its result came before event 4: kept, moved next to it (as daprd)
        (-1, "taskCompleted"),
        (-1, "workflowStarted"),
        (-1, "timerFired"),
        (3, "taskScheduled"),  # open at event 4: runs again
        (2, "timerCreated"),  # daprd's fork sets every timer created before the event again
        (4, "childWorkflowInstanceCreated"),
    ]
    assert _kinds(forked.activities) == [(3, "taskScheduled")]
    assert _kinds(forked.timers) == [(2, "timerCreated")]
    child = forked.children[0].childWorkflowInstanceCreated
    assert (child.instanceId, child.rerunParentInstanceInfo.instanceID) == ("new:0004", "src")
    # The source is left as it was.
    assert [e.SerializeToString() for e in source.history] == before


def test_the_events_input_is_replaced_or_cleared() -> None:
    source = _source()
    source.history[2].taskScheduled.input.value = '"old"'
    replaced = fork(source, RerunRequest("src", 1, "new", overwrite_input=True, input='"x"'))
    assert replaced.activities[-1].taskScheduled.input.value == '"x"'
    cleared = fork(source, RerunRequest("src", 1, "new", overwrite_input=True, input=None))
    assert not cleared.activities[-1].taskScheduled.HasField("input")
    kept = fork(source, RerunRequest("src", 1, "new"))
    assert kept.activities[-1].taskScheduled.input.value == '"old"'


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (RerunRequest("src", 9, "new"), "does not have history event with ID '9'"),
        (
            RerunRequest("src", 5, "new"),
            "target event '*protos.HistoryEvent_ExecutionCompleted' with ID '5' is not an event that can be rerun",
        ),
        (RerunRequest("src", 2, "new", overwrite_input=True), "cannot write input to timer event '2'"),
        (
            RerunRequest("src", 2, "new", new_child_instance_id="c"),
            "cannot set new child workflow instance ID on timer event '2'",
        ),
        (
            RerunRequest("src", 1, "new", new_child_instance_id="c"),
            "cannot set new child workflow instance ID on activity event '1'",
        ),
    ],
)
def test_refusals(request_: RerunRequest, message: str) -> None:
    with pytest.raises(DaprError) as info:
        fork(_source(), request_)
    assert info.value.message == message


def test_the_source_must_be_a_finished_root() -> None:
    with pytest.raises(DaprError, match="workflow instance does not exist with ID 'x'"):
        check_source(None, "x")
    running = _source()
    running.history.pop()
    with pytest.raises(DaprError, match="'src' is not in a terminal state"):
        check_source(running, "src")
    child = _source()
    child.history[1].executionStarted.parentInstance.workflowInstance.instanceId = "parent"
    with pytest.raises(DaprError, match="'src': cannot rerun from child-workflows"):
        check_source(child, "src")
