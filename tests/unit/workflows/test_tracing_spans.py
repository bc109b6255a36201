"""The workflow spans (pydapr.workflows.tracing) against an in-memory exporter: their names,
parents and attributes, and the history's records that make later runs continue them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pydapr.observability.tracing import Tracing, dapr_sampler
from pydapr.workflows._proto import durabletask_pb2 as pb
from pydapr.workflows.block import workflow_tracing
from pydapr.workflows.tracing import WorkflowTracing

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exported: InMemorySpanExporter) -> WorkflowTracing:
    provider = TracerProvider(sampler=dapr_sampler(1.0))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return WorkflowTracing(provider.get_tracer("durabletask"))


def started(name: str = "order", version: str = "") -> pb.ExecutionStartedEvent:
    start = pb.ExecutionStartedEvent(name=name)
    start.workflowInstance.instanceId = "i-1"
    if version:
        start.version.value = version
    return start


def only(exported: InMemorySpanExporter, name: str) -> ReadableSpan:
    spans = [s for s in exported.get_finished_spans() if s.name == name]
    assert len(spans) == 1, [s.name for s in exported.get_finished_spans()]
    return spans[0]


def hex_id(span: ReadableSpan) -> tuple[str, str]:
    ctx: Any = span.context
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def test_the_create_span_continues_the_caller_and_becomes_the_workflows_parent(
    tracing: WorkflowTracing, exported: InMemorySpanExporter
) -> None:
    start = started(version="v2")
    tracing.created(start, CALLER, "vendor=1")
    span = only(exported, "create_orchestration||order||v2")
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == 0x00F067AA0BA902B7
    assert dict(span.attributes or {}) == {
        "durabletask.type": "orchestration",
        "durabletask.task.name": "order",
        "durabletask.task.instance_id": "i-1",
        "durabletask.task.version": "v2",
    }
    trace_id, span_id = hex_id(span)
    assert trace_id == CALLER_TRACE
    assert start.parentTraceContext.traceParent == f"00-{trace_id}-{span_id}-01"
    assert start.parentTraceContext.traceState.value == "vendor=1"


def test_an_unsampled_caller_leaves_no_parent_in_the_history(
    tracing: WorkflowTracing, exported: InMemorySpanExporter
) -> None:
    start = started()
    start.parentTraceContext.traceParent = "stale"
    tracing.created(start, CALLER[:-2] + "00", "")
    assert exported.get_finished_spans() == ()
    assert not start.HasField("parentTraceContext")
    assert tracing.orchestration_parent(start) == ("", "")


def test_the_orchestration_span_keeps_one_id_across_runs_and_restarts(
    tracing: WorkflowTracing, exported: InMemorySpanExporter
) -> None:
    start = started()
    tracing.created(start, CALLER, "")
    first, _ = tracing.orchestration_parent(start)
    # What a restarted sidecar reads back from the store.
    stored = pb.HistoryEvent(executionStarted=start).SerializeToString()
    reloaded = pb.HistoryEvent.FromString(stored).executionStarted
    assert tracing.orchestration_parent(reloaded)[0] == first

    at = pb.HistoryEvent().timestamp
    at.FromNanoseconds(1_700_000_000_000_000_000)
    tracing.ended(reloaded, at, pb.ORCHESTRATION_STATUS_FAILED)
    span = only(exported, "orchestration||order")
    create = only(exported, "create_orchestration||order")
    trace_id, span_id = hex_id(span)
    assert first == f"00-{trace_id}-{span_id}-01"
    assert span.parent is not None and span.parent.span_id == create.context.span_id
    assert span.kind is SpanKind.SERVER
    assert span.start_time == 1_700_000_000_000_000_000
    assert (span.attributes or {})["durabletask.runtime_status"] == "FAILED"
    assert span.status.status_code is StatusCode.ERROR


def test_an_activity_span_is_the_orchestrations_child_and_the_work_item_names_it(
    tracing: WorkflowTracing, exported: InMemorySpanExporter
) -> None:
    start = started()
    tracing.created(start, CALLER, "")
    orchestration, _ = tracing.orchestration_parent(start)
    request = pb.ActivityRequest(name="charge", taskId=3)
    request.workflowInstance.instanceId = "i-1"
    request.parentTraceContext.traceParent = orchestration
    span = tracing.activity(request)
    assert span is not None
    failed = pb.ActivityResponse()
    failed.failureDetails.errorType = "ValueError"
    tracing.end_activity(span, failed)
    done = only(exported, "activity||charge")
    trace_id, span_id = hex_id(done)
    assert done.parent is not None and f"{done.parent.span_id:016x}" == orchestration.split("-")[2]
    assert (done.attributes or {})["durabletask.task.task_id"] == 3
    assert done.status.status_code is StatusCode.ERROR
    assert request.parentTraceContext.traceParent == f"00-{trace_id}-{span_id}-01"


def test_an_activity_of_an_untraced_workflow_makes_no_span(tracing: WorkflowTracing) -> None:
    assert tracing.activity(pb.ActivityRequest(name="charge")) is None


def test_a_fired_timer_is_a_span_from_its_creation(
    tracing: WorkflowTracing, exported: InMemorySpanExporter
) -> None:
    start = started()
    tracing.created(start, CALLER, "")
    orchestration, _ = tracing.orchestration_parent(start)
    created = pb.HistoryEvent(eventId=4)
    created.timestamp.FromNanoseconds(1_700_000_000_000_000_000)
    created.timerCreated.fireAt.FromNanoseconds(1_700_000_060_000_000_000)
    tracing.timer(start, created, "i-1")
    span = only(exported, "timer")
    assert span.kind is SpanKind.INTERNAL
    assert span.start_time == 1_700_000_000_000_000_000
    assert span.parent is not None and f"{span.parent.span_id:016x}" == orchestration.split("-")[2]
    assert (span.attributes or {})["durabletask.fire_at"] == "2023-11-14T22:14:20Z"


def test_no_workflow_tracing_without_a_tracer_provider() -> None:
    assert workflow_tracing(SimpleNamespace(tracing=Tracing())) is None  # type: ignore[arg-type]
