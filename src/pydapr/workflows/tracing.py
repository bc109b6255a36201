"""Workflow spans, as durabletask-go (daprd's workflow engine) makes them (backend/, helpers/tracing.go):

- ``create_orchestration||<name>`` (CLIENT): scheduling an instance, a child of the caller's
  context; its context is the instance's parent, stored in the ExecutionStarted event's
  ``parentTraceContext`` (so it survives restarts and replays).
- ``orchestration||<name>`` (SERVER): the instance from its start to its end, a child of that
  parent. Its span id is chosen at the first run and stored in ExecutionStarted's ``workflowSpanID``,
  so the activities, timers and children of every later run (on any sidecar) are its children; the
  span itself is exported once, when the instance ends (durabletask-go ends it only then too).
- ``activity||<name>`` (SERVER): one activity execution, a child of the orchestration span; the
  work item sent to the worker (``ActivityRequest.parentTraceContext``) names it, so the SDK
  worker's spans join the trace.
- ``timer`` (INTERNAL): a durable timer, from its creation to its firing.

A name carries ``||<version>`` when the task has a version. Only a sampled context is recorded in
the history (as durabletask-go's ``TraceContextFromSpan``): an unsampled trace stays unexported.
The engine holds no ``WorkflowTracing`` when tracing is off, and then does nothing here at all.
"""

from __future__ import annotations

import secrets

from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace import Tracer as OtelTracer

from pydapr.observability import trace_context as tc
from pydapr.observability.tracing.source import parent_context
from pydapr.workflows._proto import durabletask_pb2 as pb

TYPE = "durabletask.type"
TASK_NAME = "durabletask.task.name"
TASK_VERSION = "durabletask.task.version"
INSTANCE_ID = "durabletask.task.instance_id"
TASK_ID = "durabletask.task.task_id"
FIRE_AT = "durabletask.fire_at"
RUNTIME_STATUS = "durabletask.runtime_status"

_STATUS_PREFIX = "ORCHESTRATION_STATUS_"


def span_name(kind: str, name: str, version: str = "") -> str:
    if version:
        return f"{kind}||{name}||{version}"
    return f"{kind}||{name}" if name else kind


def trace_context_of(span: Span, tracestate: str = "") -> pb.TraceContext | None:
    """The history's record of ``span``: None unless it is sampled (parent-based, as durabletask-go)."""
    ctx = span.get_span_context()
    if not ctx.is_valid or not ctx.trace_flags.sampled:
        return None
    record = pb.TraceContext(traceParent=tc.format_traceparent(ctx.trace_id, ctx.span_id, 1))
    if tracestate:
        record.traceState.value = tracestate
    return record


def _parent(record: pb.TraceContext) -> tuple[str, str]:
    return record.traceParent, record.traceState.value if record.HasField("traceState") else ""


def _ns(at: Timestamp | None) -> int | None:
    return at.ToNanoseconds() if at is not None else None


class WorkflowTracing:
    def __init__(self, tracer: OtelTracer) -> None:
        self.tracer = tracer

    def created(self, start: pb.ExecutionStartedEvent, caller: str, caller_state: str) -> None:
        """``create_orchestration``: a child of the caller's context, the instance's parent."""
        version = start.version.value if start.HasField("version") else ""
        span = self.tracer.start_span(
            span_name("create_orchestration", start.name, version),
            context=parent_context(caller),
            kind=SpanKind.CLIENT,
            attributes=_orchestration_attributes(start, version),
        )
        record = trace_context_of(span, caller_state)
        span.end()
        if record is None:
            start.ClearField("parentTraceContext")
        else:
            start.parentTraceContext.CopyFrom(record)

    @staticmethod
    def orchestration_parent(start: pb.ExecutionStartedEvent) -> tuple[str, str]:
        """The traceparent of the orchestration span (choosing its span id at the first run), and
        the tracestate: ("", "") for an instance with no sampled parent."""
        if not start.HasField("parentTraceContext"):
            return "", ""
        parsed = tc.parse_traceparent(start.parentTraceContext.traceParent)
        if parsed is None:
            return "", ""
        if not start.HasField("workflowSpanID"):
            start.workflowSpanID.value = secrets.token_hex(8)
        trace_id, _, flags = parsed
        traceparent = f"00-{trace_id:032x}-{start.workflowSpanID.value}-{flags & 1:02x}"
        return traceparent, _parent(start.parentTraceContext)[1]

    def ended(self, start: pb.ExecutionStartedEvent, started: Timestamp | None, status: int) -> None:
        """The ``orchestration`` span, exported once the instance ended, with the span id its
        children name (the one ``orchestration_parent`` chose)."""
        ours, _ = self.orchestration_parent(start)
        parsed = tc.parse_traceparent(ours)
        if parsed is None:
            return
        version = start.version.value if start.HasField("version") else ""
        parent_tp, _ = _parent(start.parentTraceContext)
        span = self.tracer.start_span(
            span_name("orchestration", start.name, version),
            context=parent_context(parent_tp),
            kind=SpanKind.SERVER,
            attributes=_orchestration_attributes(start, version),
            start_time=_ns(started),
        )
        if not span.is_recording():
            return
        # durabletask-go's status names: the protos' without their prefix ("COMPLETED").
        span.set_attribute(RUNTIME_STATUS, pb.OrchestrationStatus.Name(status).removeprefix(_STATUS_PREFIX))
        if status == pb.ORCHESTRATION_STATUS_FAILED:
            span.set_status(Status(StatusCode.ERROR, "the workflow failed"))
        trace_id, span_id, _ = parsed
        # The SDK has no way to start a span with a given id; durabletask-go overwrites its span's
        # context the same way (helpers.ChangeSpanID). The batch processor reads it at end().
        span._context = SpanContext(  # type: ignore[attr-defined]
            trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        span.end()

    def activity(self, request: pb.ActivityRequest) -> Span | None:
        """The ``activity`` span of a work item whose request names the orchestration span; the
        request then names the activity span instead (the worker continues it)."""
        if not request.HasField("parentTraceContext"):
            return None
        parent_tp, state = _parent(request.parentTraceContext)
        version = request.version.value if request.HasField("version") else ""
        attrs = _attributes("activity", request.name, version, request.workflowInstance.instanceId)
        attrs[TASK_ID] = request.taskId
        span = self.tracer.start_span(
            span_name("activity", request.name, version),
            context=parent_context(parent_tp),
            kind=SpanKind.SERVER,
            attributes=attrs,
        )
        record = trace_context_of(span, state)
        if record is not None:
            request.parentTraceContext.CopyFrom(record)
        return span

    @staticmethod
    def end_activity(span: Span, response: pb.ActivityResponse) -> None:
        if response.HasField("failureDetails") and span.is_recording():
            details = response.failureDetails
            span.set_status(Status(StatusCode.ERROR, f"{details.errorType}: {details.errorMessage}"))
        span.end()

    def timer(self, start: pb.ExecutionStartedEvent, created: pb.HistoryEvent, instance_id: str) -> None:
        """The ``timer`` span of a fired timer (``created``: its TimerCreated event)."""
        parent_tp, _ = self.orchestration_parent(start)
        if not parent_tp:
            return
        fire_at = created.timerCreated.fireAt.ToDatetime()
        span = self.tracer.start_span(
            "timer",
            context=parent_context(parent_tp),
            kind=SpanKind.INTERNAL,
            attributes={
                TYPE: "timer",
                FIRE_AT: fire_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                TASK_ID: created.eventId,
                INSTANCE_ID: instance_id,
            },
            start_time=_ns(created.timestamp) if created.HasField("timestamp") else None,
        )
        span.end()


def _attributes(kind: str, name: str, version: str, instance_id: str) -> dict[str, str | int]:
    attrs: dict[str, str | int] = {TYPE: kind, TASK_NAME: name, INSTANCE_ID: instance_id}
    if version:
        attrs[TASK_VERSION] = version
    return attrs


def _orchestration_attributes(start: pb.ExecutionStartedEvent, version: str) -> dict[str, str | int]:
    return _attributes("orchestration", start.name, version, start.workflowInstance.instanceId)
