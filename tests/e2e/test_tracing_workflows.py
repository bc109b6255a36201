"""Workflow tracing end to end: a traced sidecar exporting to a Zipkin collector, a worker written
with the official SDK (tests/e2e/workflow_apps/worker.py), workflows started over HTTP with a
caller's ``traceparent``. The spans must form durabletask-go's tree under the caller: the API call,
``create_orchestration||<name>``, ``orchestration||<name>``, and one ``activity||<name>`` per
activity run (children likewise, under their parent's orchestration span)."""

from __future__ import annotations

import secrets
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.collectors import Span, ZipkinCollector, running
from tests.e2e.harness import Processes, Sidecar
from tests.e2e.workflow_mesh import WORKER, WorkflowMesh, http, wait_http_status, wait_line

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RUN = "wftrace" + uuid.uuid4().hex[:8]
APP = f"{RUN}-app"
CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: tracing
spec:
  tracing:
    samplingRate: "1"
    zipkin:
      endpointAddress: "{endpoint}"
"""
# The worker app with OpenTelemetry set up as a user would: dapr-ext-workflow then makes a span per
# activity it runs, a child of the context its work item carries.
TRACED_WORKER = """\
import os, runpy, sys
from opentelemetry import trace
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "workflow-worker"}))
provider.add_span_processor(SimpleSpanProcessor(ZipkinExporter(endpoint=os.environ["ZIPKIN"])))
trace.set_tracer_provider(provider)
runpy.run_path(sys.argv[1], run_name="__main__")
"""


@dataclass
class Traced:
    sidecar: Sidecar
    zipkin: ZipkinCollector

    def start(self, workflow: str, instance_id: str, body: bytes, traceparent: str) -> None:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.sidecar.http_port}/v1.0/workflows/dapr/{workflow}/start"
            f"?instanceID={instance_id}",
            data=body,
            method="POST",
            headers={"content-type": "application/json", "traceparent": traceparent},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 202

    def wait_completed(self, instance_id: str) -> None:
        url = f"http://127.0.0.1:{self.sidecar.http_port}/v1.0/workflows/dapr/{instance_id}"
        wait_http_status(url, "COMPLETED", timeout=60)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    workdir = tmp_path_factory.mktemp("wf-tracing")
    home = workdir / "home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    mesh: WorkflowMesh | None = None
    try:
        with running(ZipkinCollector()) as zipkin:
            mesh = WorkflowMesh(procs, RUN)
            config = workdir / "config.yaml"
            config.write_text(CONFIG.format(endpoint=zipkin.endpoint))
            sidecar = procs.sidecar(
                APP,
                resources=mesh.resources,
                config=config,
                args=["--placement-host-address", mesh.placement, "--scheduler-host-address", mesh.scheduler],
                env={"OTEL_BSP_SCHEDULE_DELAY": "100"},
            )
            traced_worker = workdir / "traced_worker.py"
            traced_worker.write_text(TRACED_WORKER)
            worker = procs.app(
                APP,
                traced_worker,
                args=[str(WORKER)],
                env={
                    "ZIPKIN": zipkin.endpoint,
                    "APP_ID": APP,
                    "DAPR_HTTP_PORT": str(sidecar.http_port),
                    "DAPR_GRPC_PORT": str(sidecar.grpc_port),
                    "ACTIVITY_SECONDS": "0",
                },
            )
            wait_line(worker, "worker ready", 30)
            yield Traced(sidecar, zipkin)
    finally:
        procs.stop_all()
        if mesh is not None:
            mesh.cleanup()


def caller() -> tuple[str, str, str]:
    """(traceparent, trace id, span id) of a sampled caller."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def one(spans: list[Span], name: str, **attributes: str) -> Span:
    found = [
        s for s in spans if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, f"{name} {attributes}: {[(s.name, s.attributes) for s in spans]}"
    return found[0]


def test_a_workflow_and_its_activities_continue_the_callers_trace(traced: Traced) -> None:
    traceparent, trace_id, caller_span = caller()
    instance_id = f"{RUN}-chain"
    traced.start("chain", instance_id, b"2", traceparent)
    traced.wait_completed(instance_id)

    def complete(spans: list[Span]) -> bool:
        mine = [s for s in spans if s.trace_id == trace_id]
        return (
            sum(s.name == "activity||record" for s in mine) == 2
            and sum(s.name == "activity: record" for s in mine) == 2
            and any(s.name == "orchestration||chain" for s in mine)
        )

    spans = [s for s in traced.zipkin.wait_for(complete, timeout=30) if s.trace_id == trace_id]
    api = one(spans, "/v1.0/workflows/dapr/chain/start")
    assert api.parent_id == caller_span
    create = one(spans, "create_orchestration||chain")
    assert create.parent_id == api.span_id
    assert create.kind == "CLIENT"
    assert create.attributes["durabletask.type"] == "orchestration"
    assert create.attributes["durabletask.task.instance_id"] == instance_id
    orchestration = one(spans, "orchestration||chain")
    assert orchestration.parent_id == create.span_id
    assert orchestration.kind == "SERVER"
    assert orchestration.attributes["durabletask.task.name"] == "chain"
    assert orchestration.attributes["durabletask.runtime_status"] == "COMPLETED"
    activities = [s for s in spans if s.name == "activity||record"]
    assert {s.parent_id for s in activities} == {orchestration.span_id}
    assert len({s.attributes["durabletask.task.task_id"] for s in activities}) == 2  # the SDK numbers them
    for s in activities:
        assert s.kind == "SERVER"
        assert s.attributes["durabletask.type"] == "activity"
        assert s.attributes["durabletask.task.name"] == "record"
        assert s.attributes["durabletask.task.instance_id"] == instance_id
    # The SDK worker's own span of each activity run is a child of the sidecar's: the work item
    # carried the activity span's context.
    worker_spans = [s for s in spans if s.name == "activity: record"]
    assert {s.parent_id for s in worker_spans} == {s.span_id for s in activities}
    assert {s.service for s in worker_spans} == {"workflow-worker"}
    assert {s.service for s in [api, create, orchestration, *activities]} == {APP}


def test_a_child_workflow_is_a_child_of_its_parents_orchestration(traced: Traced) -> None:
    traceparent, trace_id, _ = caller()
    instance_id = f"{RUN}-parent"
    traced.start("parent_of_greeter", instance_id, b'"tracing"', traceparent)
    traced.wait_completed(instance_id)

    def complete(spans: list[Span]) -> bool:
        names = {s.name for s in spans if s.trace_id == trace_id}
        return {"orchestration||parent_of_greeter", "orchestration||greet", "activity||hello"} <= names

    spans = [s for s in traced.zipkin.wait_for(complete, timeout=30) if s.trace_id == trace_id]
    parent = one(spans, "orchestration||parent_of_greeter")
    create_child = one(spans, "create_orchestration||greet")
    assert create_child.parent_id == parent.span_id
    assert create_child.attributes["durabletask.task.instance_id"] == f"{instance_id}-child"
    child = one(spans, "orchestration||greet")
    assert child.parent_id == create_child.span_id
    assert one(spans, "activity||hello").parent_id == child.span_id


def test_an_unsampled_callers_workflow_exports_no_span(traced: Traced) -> None:
    trace_id = secrets.token_hex(16)
    instance_id = f"{RUN}-unsampled"
    traced.start("chain", instance_id, b"1", f"00-{trace_id}-{secrets.token_hex(8)}-00")
    traced.wait_completed(instance_id)
    # A sampled workflow started after it: once its spans are in, the unsampled one's would be too.
    traceparent, sampled_trace, _ = caller()
    traced.start("chain", f"{RUN}-after", b"1", traceparent)
    traced.wait_completed(f"{RUN}-after")
    traced.zipkin.wait_for(
        lambda spans: any(s.trace_id == sampled_trace and s.name == "orchestration||chain" for s in spans)
    )
    assert [s for s in traced.zipkin.spans if s.trace_id == trace_id] == []
    assert (
        http("GET", f"http://127.0.0.1:{traced.sidecar.http_port}/v1.0/workflows/dapr/{instance_id}").status
        == 200
    )


def test_timers_and_each_continued_execution_are_spans(traced: Traced) -> None:
    traceparent, trace_id, _ = caller()
    instance_id = f"{RUN}-count"
    traced.start("count_up", instance_id, b"1", traceparent)  # a timer, then continues as new, to 3
    traced.wait_completed(instance_id)

    def complete(spans: list[Span]) -> bool:
        mine = [s for s in spans if s.trace_id == trace_id]
        return (
            sum(s.name == "orchestration||count_up" for s in mine) == 3
            and sum(s.name == "timer" for s in mine) == 2
        )

    spans = [s for s in traced.zipkin.wait_for(complete, timeout=30) if s.trace_id == trace_id]
    create = one(spans, "create_orchestration||count_up")
    executions = [s for s in spans if s.name == "orchestration||count_up"]
    assert {s.parent_id for s in executions} == {create.span_id}
    assert sorted(s.attributes["durabletask.runtime_status"] for s in executions) == [
        "COMPLETED",
        "CONTINUED_AS_NEW",
        "CONTINUED_AS_NEW",
    ]
    continued = {s.span_id for s in executions if s.attributes["durabletask.runtime_status"] != "COMPLETED"}
    timers = [s for s in spans if s.name == "timer"]
    assert {s.parent_id for s in timers} == continued
    for s in timers:
        assert s.kind not in {"CLIENT", "SERVER", "PRODUCER", "CONSUMER"}  # INTERNAL: Zipkin has no kind
        assert s.attributes["durabletask.type"] == "timer"
        assert s.attributes["durabletask.task.instance_id"] == instance_id
        assert s.attributes["durabletask.fire_at"].endswith("Z")
