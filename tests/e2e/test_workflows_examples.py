"""The Python SDK's own workflow examples (examples/workflow, copied unchanged into
tests/e2e/workflow_apps/sdk_examples), each run as the SDK's tests/examples/test_workflow.py runs it,
``pydapr run --app-id X -- python file.py``, with the output lines that test (or the examples'
README, or the example's own prints where neither lists them) expects.

All of them share one private pydapr home (``pydapr init``'s embedded actor state store) and its
local control plane (placement and scheduler), started once for the module; each app has its own
app id, so its workflow state is its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from pydapr.controlplane import ensure_running
from tests.e2e.harness import Processes
from tests.e2e.workflow_mesh import SDK_EXAMPLES, Run, http, init_home, pydapr_run, stop_runs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BOUND = 60.0  # seconds each example may take, as the SDK's test gives them
# The example's activities get the order as the SDK decodes it (a SimpleNamespace), as its README shows.
ORDER = "namespace(cost=2000, product='MyProduct', quantity=1)"


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    workdir = tmp_path_factory.mktemp("wf-examples")
    home = workdir / "pydapr-home"
    init_home(home)
    processes = Processes(home=home, workdir=workdir)
    try:
        ensure_running(home)
        yield processes
    finally:
        stop_runs(processes)


class Background:
    """The examples that need no answer from the test, run three at a time from the module's start
    while the interactive ones run in the tests themselves: the module takes a third of the time."""

    def __init__(self, procs: Processes) -> None:
        self.procs = procs
        self.pool = ThreadPoolExecutor(3, thread_name_prefix="example")
        self.runs: dict[str, Future[str]] = {}

    def submit(self, name: str, job: Callable[[], str]) -> None:
        self.runs[name] = self.pool.submit(job)

    def output(self, name: str) -> str:
        return self.runs[name].result(timeout=2 * BOUND + 60)


def example(
    procs: Processes, app_id: str, script: str, *args: str, answer: bool = False
) -> Callable[[], str]:
    def job() -> str:
        run = run_example(procs, app_id, script, *args)
        if answer:  # a prompt the example reads on a thread: answer it so the thread ends
            run.type_line("")
        return run.wait(BOUND)

    return job


@pytest.fixture(scope="module")
def background(procs: Processes) -> Iterator[Background]:
    runs = Background(procs)
    runs.submit("task_chaining", example(procs, "workflow-task-chaining", "task_chaining.py"))
    runs.submit("fan_out_fan_in", example(procs, "workflow-fan-out-fan-in", "fan_out_fan_in.py"))
    runs.submit("simple", example(procs, "workflow-simple", "simple.py"))
    runs.submit(
        "history_propagation", example(procs, "workflow-history-propagation", "history_propagation.py")
    )
    runs.submit("async_activities", example(procs, "workflow-async-activities", "async_activities.py"))
    runs.submit("child_workflow", example(procs, "workflow-child", "child_workflow.py"))
    runs.submit(
        "auto_approval",
        example(procs, "workflow-auto-approval", "human_approval.py", "--cost", "500", answer=True),
    )

    def versioning() -> str:
        part1 = example(procs, "wf-versioning-example", "versioning.py", "part1")()
        return part1 + example(procs, "wf-versioning-example", "versioning.py", "part2")()

    runs.submit("versioning", versioning)
    try:
        yield runs
    finally:
        runs.pool.shutdown(wait=False, cancel_futures=True)


def run_example(
    procs: Processes, app_id: str, script: str, *args: str, env: dict[str, str] | None = None
) -> Run:
    return pydapr_run(procs, app_id, [script, *args], cwd=SDK_EXAMPLES, env=env)


def assert_lines(output: str, expected: list[str]) -> None:
    for line in expected:
        assert line in output, f"Missing in output: {line}\n{output[-6000:]}"


# The interactive ones first: the background runs go on meanwhile.


@pytest.mark.usefixtures("background")
def test_human_approval(procs: Processes) -> None:
    """The example raises the approval with ``DaprClient().raise_workflow_event`` once ENTER is
    pressed, a method the SDK's ``DaprClient`` no longer has (1.19), so pressing ENTER only fails in
    the app's thread. The approver raises it the way any client can instead: the Dapr HTTP API on
    the app's sidecar, for the instance ``ListInstanceIDs`` shows (the example prints no id)."""
    from dapr.ext.workflow import DaprWorkflowClient

    run = run_example(procs, "workflow-human-approval", "human_approval.py", "--timeout", "30")
    run.wait_for(f"*** Requesting approval from user for order: {ORDER}", BOUND)
    client = DaprWorkflowClient(host="127.0.0.1", port=str(run.grpc_port))
    try:
        ids = client.list_workflow_instance_ids().instance_ids
    finally:
        client.close()
    assert len(ids) == 1, ids
    reply = http(
        "POST",
        f"{run.url}/v1.0/workflows/dapr/{ids[0]}/raiseEvent/approval_received",
        {"approver": "Me"},
    )
    assert reply.status == 202, reply
    # ENTER lets the prompt's thread end (its raise fails on the SDK's DaprClient), so the app does
    # not exit with it blocked on stdin (Python aborts on that at shutdown).
    run.type_line("")
    output = run.wait(BOUND)
    assert_lines(output, [
        f"*** Placing order: {ORDER}",
        "Workflow completed! Result: \"Approved by 'Me'\"",
    ])  # fmt: skip


@pytest.mark.usefixtures("background")
def test_monitor(procs: Processes) -> None:
    run = run_example(procs, "workflow-monitor", "monitor.py")
    run.wait_for("Workflow started. Instance ID: job1", BOUND)
    run.wait_for("Job 'job1' is ", 30)
    assert re.search(r"Job 'job1' is (healthy|unhealthy)\.", run.output), run.output[-6000:]
    run.type_line("")  # "Press Enter to stop..."
    run.wait(30)


@pytest.mark.usefixtures("background")
def test_multi_app(procs: Processes) -> None:
    """multi-app1..3.py as the README runs them: app1's workflow calls a child workflow on
    wfexample2, whose workflow calls an activity on wfexample3 (cross-app, one placement)."""
    app3 = run_example(procs, "wfexample3", "multi-app3.py")
    app2 = run_example(procs, "wfexample2", "multi-app2.py")
    app3.wait_for("You're up and running!", BOUND)
    app2.wait_for("You're up and running!", BOUND)
    app1 = run_example(procs, "wfexample1", "multi-app1.py")
    out1 = app1.wait(BOUND)
    started = time.monotonic()
    while "app3 - returning activity result" not in app3.output and time.monotonic() - started < 5:
        time.sleep(0.1)
    assert_lines(out1, [
        "app1 - triggering app1 workflow",
        "app1 - received workflow call",
        "app1 - triggering app2 workflow",
        "app1 - received workflow result",
        "app1 - returning workflow result",
    ])  # fmt: skip
    assert_lines(app2.output, [
        "app2 - received workflow call",
        "app2 - triggering app3 activity",
        "app2 - received activity result",
        "app2 - returning workflow result",
    ])  # fmt: skip
    assert_lines(app3.output, ["app3 - received activity call", "app3 - returning activity result"])
    for run in (app2, app3):
        run.proc.stop()


def test_task_chaining(background: Background) -> None:
    output = background.output("task_chaining")
    assert_lines(output, [
        "Step 1: Received input: 42.",
        "Step 2: Received input: 43.",
        "Step 3: Received input: 86.",
        "Workflow completed! Status: WorkflowStatus.COMPLETED",
    ])  # fmt: skip


def test_fan_out_fan_in(background: Background) -> None:
    output = background.output("fan_out_fan_in")
    # The README's list (any order) and the SDK test's final line.
    items = [f"Processing work item: {i}." for i in range(1, 11)]
    results = [f"Work item {i} processed. Result: {2 * i}." for i in range(1, 11)]
    assert_lines(output, [*items, *results, "Final result: 110."])


def test_simple_workflow(background: Background) -> None:
    output = background.output("simple")
    assert_lines(output, [
        "Hi Counter!",
        "New counter value is: 1!",
        "New counter value is: 11!",
        "Retry count value is: 0!",
        "Retry count value is: 1! This print statement verifies retry",
        "Get response from hello_world_wf after pause call: SUSPENDED",
        "Get response from hello_world_wf after resume call: RUNNING",
        "New counter value is: 111!",
        "New counter value is: 1111!",
        "Workflow completed! Result: Completed",
    ])  # fmt: skip
    assert "Traceback" not in output  # the example's own asserts (counter, retries) held


def test_history_propagation(background: Background) -> None:
    output = background.output("history_propagation")
    assert_lines(output, [
        "*** validating merchant merchant-42",
        "*** process_payment received parent context for merchant 'merchant-42'",
        "*** log_summary saw parent on app",
        'validate_merchant -> completed=True output={"merchant_id": "merchant-42", "valid": true}',
        "*** workflow completed: status=COMPLETED",
    ])  # fmt: skip


def test_async_activities(background: Background) -> None:
    output = background.output("async_activities")
    assert_lines(output, [
        "[async] payload 0: 2048B in -> 1024B out",
        "[sync] 5 results, 5120 bytes",
        "Workflow completed! Status: COMPLETED",
        "Workflow result: 5 results, 5120 bytes",
    ])  # fmt: skip


def test_child_workflow(background: Background) -> None:
    output = background.output("child_workflow")
    called = re.search(r"\*\*\* Calling child workflow (\S+-child)", output)
    assert called, output[-6000:]
    assert f"*** Child workflow {called.group(1)} called" in output, output[-6000:]


def test_auto_approval(background: Background) -> None:
    output = background.output("auto_approval")
    assert_lines(output, ['Workflow completed! Result: "Auto-approved"'])
    assert "Requesting approval" not in output


def test_versioning(background: Background) -> None:
    """versioning.py part1 then part2 on one app id, as the README runs them; part2's runtime
    finds the workflows part1 left stalled and finishes them."""
    output = background.output("versioning")
    assert_lines(output, [
        "test1: triggering workflow",
        "test1: Received workflow call for version1",
        "test1: Finished workflow for version1",
        "test2: triggering workflow",
        "test2: Received workflow call for version1",
        "test2: Finished workflow for version1",
        "test3: triggering workflow",
        "test3: Received workflow call for version2",
        "test3: Finished workflow for version2",
        "test4: start",
        "test4: patch1 is patched",
        "test5: start",
        "test5: patch1 is not patched",
        "test5: patch2 is patched",
        "test6: start",
        "test6: patch1 is patched",
        "test6: patch2 is patched",
        "test7: Received workflow call for version1",
        "test7: Workflow is stalled",
        "test8: Workflow is stalled",
        "test100: part2",
        "test100: Finished stalled version1 workflow",
        "test100: Finished stalled patching workflow",
    ])  # fmt: skip
