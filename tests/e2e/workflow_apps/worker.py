"""A workflow app written with the official Python SDK (``dapr.ext.workflow.WorkflowRuntime``): the
workflows and activities the API and crash tests drive through their sidecar.

``WORKER_ROLE`` picks what it registers: ``main`` (everything below but the remote ones) or
``remote`` (the activity and child workflow another app's workflows call by ``app_id``).
``RECORD`` names a file each ``record`` activity run appends a JSON line to, so a test sees how
often each activity actually ran; ``SPANS`` one that ``busy`` activities and ``busy_turn`` workflow
turns append a ``start`` and an ``end`` line to, so a test sees how many ran at once. Prints
``worker ready`` once its ``GetWorkItems`` stream is open.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf

ROLE = os.environ.get("WORKER_ROLE", "main")
REMOTE_APP = os.environ.get("REMOTE_APP_ID", "")
RECORD = os.environ.get("RECORD", "")
ACTIVITY_SECONDS = float(os.environ.get("ACTIVITY_SECONDS", "0.1"))
SPANS = os.environ.get("SPANS", "")

wfr = wf.WorkflowRuntime(host="127.0.0.1", port=os.environ["DAPR_GRPC_PORT"])

# Attempts per key, for the activities and child workflows that fail until their nth attempt. One
# worker process runs every attempt, so a dict is their memory.
_attempts: dict[str, int] = {}
_attempts_lock = threading.Lock()
_record_lock = threading.Lock()


def _attempt(key: str) -> int:
    with _attempts_lock:
        _attempts[key] = _attempts.get(key, 0) + 1
        return _attempts[key]


def _retry(attempts: int) -> wf.RetryPolicy:
    return wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=200),
        max_number_of_attempts=attempts,
        backoff_coefficient=1.0,
    )


# --- activities ------------------------------------------------------------------------------------


def hello(ctx: wf.WorkflowActivityContext, name: str) -> str:
    return f"Hello {name}!"


def flaky(ctx: wf.WorkflowActivityContext, spec: dict[str, Any]) -> int:
    """Fails until attempt ``spec['succeed_on']``; returns the attempt that succeeded."""
    n = _attempt(f"act:{ctx.workflow_id}")
    if n < int(spec["succeed_on"]):
        raise ValueError(f"attempt {n} fails")
    return n


def record(ctx: wf.WorkflowActivityContext, item: int) -> int:
    time.sleep(ACTIVITY_SECONDS)
    if RECORD:
        line = json.dumps({"instance": ctx.workflow_id, "task": ctx.task_id, "item": item})
        with _record_lock, open(RECORD, "a") as out:
            out.write(line + "\n")
    return item * 2


def echo(ctx: wf.WorkflowActivityContext, value: Any) -> Any:
    """Returns its input; recorded in RECORD as ``record`` runs are (``item`` is the input)."""
    if RECORD:
        line = json.dumps({"instance": ctx.workflow_id, "task": ctx.task_id, "item": value})
        with _record_lock, open(RECORD, "a") as out:
            out.write(line + "\n")
    return value


def _span(kind: str, phase: str, who: str) -> None:
    if SPANS:
        with _record_lock, open(SPANS, "a") as out:
            out.write(json.dumps({"kind": kind, "phase": phase, "who": who}) + "\n")


def busy(ctx: wf.WorkflowActivityContext, item: int) -> int:
    _span("activity", "start", f"{ctx.workflow_id}#{ctx.task_id}")
    time.sleep(ACTIVITY_SECONDS)
    _span("activity", "end", f"{ctx.workflow_id}#{ctx.task_id}")
    return item


def remote_activity(ctx: wf.WorkflowActivityContext, value: str) -> str:
    return f"remote activity got {value} on {os.environ.get('APP_ID', '')}"


# --- workflows -------------------------------------------------------------------------------------


def greet(ctx: wf.DaprWorkflowContext, name: str) -> Any:
    greeting = yield ctx.call_activity(hello, input=name)
    return greeting


def await_approval(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    ctx.set_custom_status("waiting")
    approval = yield ctx.wait_for_external_event("approval")
    return {"approved_by": approval}


def parent_of_waiter(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    result = yield ctx.call_child_workflow(await_approval, instance_id=f"{ctx.instance_id}-child")
    return result


def parent_of_greeter(ctx: wf.DaprWorkflowContext, name: str) -> Any:
    result = yield ctx.call_child_workflow(greet, input=name, instance_id=f"{ctx.instance_id}-child")
    return result


def count_up(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    """Continues as new until its input reaches 3; the last generation returns it."""
    if n < 3:
        yield ctx.create_timer(timedelta(milliseconds=10))
        ctx.continue_as_new(n + 1)
        return None
    return n


def retry_activity(ctx: wf.DaprWorkflowContext, spec: dict[str, Any]) -> Any:
    attempt = yield ctx.call_activity(flaky, input=spec, retry_policy=_retry(int(spec["max_attempts"])))
    return attempt


def flaky_child(ctx: wf.DaprWorkflowContext, spec: dict[str, Any]) -> Any:
    # The parent's id names the count: each retry of the child is a new instance.
    key = f"child:{spec['parent']}"
    if not ctx.is_replaying:
        _attempt(key)
    n = _attempts.get(key, 0)
    yield ctx.create_timer(timedelta(milliseconds=10))
    if n < int(spec["succeed_on"]):
        raise ValueError(f"child attempt {n} fails")
    return n


def retry_child(ctx: wf.DaprWorkflowContext, spec: dict[str, Any]) -> Any:
    spec = {**spec, "parent": ctx.instance_id}
    attempt = yield ctx.call_child_workflow(
        flaky_child, input=spec, retry_policy=_retry(int(spec["max_attempts"]))
    )
    return attempt


def fails(ctx: wf.DaprWorkflowContext, message: str) -> Any:
    raise ValueError(message)


def fan_out(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    results = yield wf.when_all([ctx.call_activity(record, input=i) for i in range(n)])
    return sum(results)


def chain(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    total = 0
    for i in range(n):
        total += yield ctx.call_activity(record, input=i)
    return total


def busy_fan_out(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    results = yield wf.when_all([ctx.call_activity(busy, input=i) for i in range(n)])
    return sum(results)


def busy_turn(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    """One turn that takes ACTIVITY_SECONDS in the worker (a workflow doing slow work inline)."""
    if not ctx.is_replaying:
        _span("workflow", "start", ctx.instance_id)
        time.sleep(ACTIVITY_SECONDS)
        _span("workflow", "end", ctx.instance_id)
    return ctx.instance_id


def rerun_me(ctx: wf.DaprWorkflowContext, name: str) -> Any:
    """Events 0 to 3: an activity, a timer, a child workflow, an activity (rerun's test subject)."""
    greeting = yield ctx.call_activity(echo, input=name)
    yield ctx.create_timer(timedelta(milliseconds=10))
    child = yield ctx.call_child_workflow(greet, input=name)
    last = yield ctx.call_activity(echo, input=greeting)
    return {"greeting": greeting, "child": child, "last": last}


def cross_app(ctx: wf.DaprWorkflowContext, value: str) -> Any:
    activity = yield ctx.call_activity("remote_activity", input=value, app_id=REMOTE_APP)
    child = yield ctx.call_child_workflow("remote_workflow", input=value, app_id=REMOTE_APP)
    return {"activity": activity, "child": child}


def remote_workflow(ctx: wf.DaprWorkflowContext, value: str) -> Any:
    answer = yield ctx.call_activity(remote_activity, input=f"child {value}")
    return {"child_of": value, "answer": answer}


if ROLE == "remote":
    wfr.register_activity(remote_activity, name="remote_activity")
    wfr.register_workflow(remote_workflow, name="remote_workflow")
else:
    for activity in (hello, flaky, record, busy, echo):
        wfr.register_activity(activity)
    for workflow in (
        greet,
        await_approval,
        parent_of_waiter,
        parent_of_greeter,
        count_up,
        retry_activity,
        flaky_child,
        retry_child,
        fails,
        fan_out,
        chain,
        busy_fan_out,
        busy_turn,
        rerun_me,
        cross_app,
    ):
        wfr.register_workflow(workflow)


if __name__ == "__main__":
    wfr.start()
    print("worker ready", flush=True)
    stop = threading.Event()
    try:
        stop.wait()
    finally:
        wfr.shutdown()
