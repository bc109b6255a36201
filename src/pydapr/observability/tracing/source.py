"""The tracing pipeline source: one span per call at the points daprd traces, and the call's trace
context set in ``trace_context`` for everything that runs inside it (outbound hops read it).

Interceptors here only observe: they never refuse, retry or change a result (but for the
``traceparent`` response header daprd sets), so they are marked ``observes_only`` and a block that
applies its own default policy when no policy governs a target still does so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace import Tracer as OtelTracer

from pydapr.errors import DaprError
from pydapr.http.messages import Response
from pydapr.observability import trace_context as tc
from pydapr.pipeline import JOB_OPERATIONS, JOB_TRIGGER, Call, Direction, Interceptor, Operation

from . import spans
from .sampling import is_sampled, root_bound

Namer = Callable[[Call], tuple[str, spans.Attributes]]

# daprd does not trace its health endpoints (isHealthzRequest), nor the gRPC health service.
_UNTRACED_HTTP_GROUPS = frozenset({"healthz"})
_UNTRACED_GRPC_PREFIX = "/grpc.health."
_INVOKE_SERVICE = "/dapr.proto.runtime.v1.Dapr/InvokeService"

# The span of the gRPC API call being served, when it is InvokeService: the invocation inside it
# gives it daprd's name (CallLocal/<app id>/<method>), which the undecoded request could not.
_invoke_service_span: ContextVar[Span | None] = ContextVar("pydapr_invoke_service_span", default=None)


class TracingSource:
    def __init__(self, tracer: OtelTracer, app_id: str) -> None:
        self.tracer = tracer
        self.app_id = app_id
        # With daprd's parent-based sampler, a call whose caller did not sample its trace is never
        # recorded: most calls between sidecars at the default rate (0.0001). Those skip the SDK.
        self.drops_unsampled = _drops_unsampled_parents(tracer)
        id_generator = getattr(tracer, "id_generator", None)
        self.new_span_id: Callable[[], int] = (
            id_generator.generate_span_id if id_generator is not None else _no_span_id
        )
        # A new trace's sampling, decided here as the ratio sampler decides it (None: the SDK
        # decides): at the default rate nearly every new trace is dropped, without the SDK's span.
        self.root_bound = root_bound(getattr(tracer, "sampler", None), id_generator)
        self.ids: Any = id_generator

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        if direction is Direction.INBOUND_HTTP:
            if target in _UNTRACED_HTTP_GROUPS:
                return None
            return self._traced(direction, spans.http_span, answers=True, late=spans.user_headers)
        if direction is Direction.INBOUND_GRPC:
            if target.startswith(_UNTRACED_GRPC_PREFIX):
                return None
            return self._traced(direction, spans.grpc_span, late=spans.grpc_request_attributes)
        if direction is Direction.INBOUND_INTERNAL:
            app_id = self.app_id
            return self._traced(direction, lambda call: spans.internal_span(call, app_id))
        if direction is Direction.INBOUND_COMPONENT:
            return self._per_entry(self._traced(direction, spans.component_span))
        if direction is Direction.OUTBOUND_ACTOR:
            return self._traced(direction, spans.actor_span, child_only=True)
        if direction is Direction.INBOUND_ACTOR:
            # The host's side of a call from another sidecar (daprd: its internal server's span,
            # named as the caller's), the parent of the call to the app.
            return self._traced(direction, spans.actor_span)
        if direction is Direction.OUTBOUND_APP:
            # Only a job trigger starts a trace here; the app channel gives triggers their own target.
            return self._job_root() if target == JOB_TRIGGER else None
        if direction is Direction.OUTBOUND_INVOKE:
            return _name_invoke_service
        return None

    def _traced(
        self,
        direction: Direction,
        name_of: Namer,
        *,
        answers: bool = False,
        child_only: bool = False,
        late: Callable[[Call], spans.Attributes] | None = None,
    ) -> Interceptor:
        """``late``: more attributes, computed only for a span that is recorded."""
        tracer = self.tracer
        drops_unsampled = self.drops_unsampled
        new_span_id = self.new_span_id
        bound = self.root_bound
        ids = self.ids

        async def traced(call: Call, proceed: Operation[Any]) -> Any:
            if child_only:
                parent_tp, parent_ts = tc.current_traceparent.get(), tc.current_tracestate.get()
            else:
                parent_tp, parent_ts = call.trace, tc.current_tracestate.get()
            parsed = tc.parse_traceparent(parent_tp) if parent_tp else None
            span: Span | None = None
            attrs = _NO_ATTRIBUTES
            new_trace = 0
            if parsed is None and bound is not None:
                new_trace = ids.random_trace_id()
            if drops_unsampled and parsed is not None and not parsed[2] & 1:
                # The caller did not sample this trace, so the sampler drops the call (checked at
                # start): the SDK would make a span that records nothing. Only its context is
                # made, as the SDK makes it: the caller's trace id, a new span id, not sampled.
                traceparent = tc.format_traceparent(parsed[0], new_span_id(), 0)
            elif new_trace and not is_sampled(new_trace, bound):  # type: ignore[arg-type]
                # A new trace the ratio sampler drops (checked at start): its context only, as
                # the SDK would make it (a random trace id, a new span id, not sampled).
                traceparent = tc.format_traceparent(new_trace, new_span_id(), 0)
            else:
                name, attrs = name_of(call)
                try:
                    if new_trace:
                        ids.preset = new_trace  # the SDK starts the trace on the id found sampled
                    span = tracer.start_span(
                        name, context=_remote_parent(parsed), kind=spans.kind_of(direction, call)
                    )
                finally:
                    if new_trace:
                        ids.preset = 0  # taken by the SDK, unless it started no span at all
                ctx = span.get_span_context()
                # Only the sampled flag, as daprd sends it (the SDK also sets W3C level 2's "random" bit).
                traceparent = tc.format_traceparent(ctx.trace_id, ctx.span_id, ctx.trace_flags & 1)
            parent_token = tc.current_traceparent.set(traceparent)
            state_token = tc.current_tracestate.set(parent_ts)
            # Set only when it changes (None outside an InvokeService call): a set and its reset
            # each copy the context, on every traced call.
            naming_span = span if call.target == _INVOKE_SERVICE else None
            naming = None
            if naming_span is not None or _invoke_service_span.get() is not None:
                naming = _invoke_service_span.set(naming_span)
            try:
                result = await proceed()
            except DaprError as err:
                if not answers:
                    if span is not None:
                        _end_failed(span, _with_late(span, attrs, late, call), call, err)
                    raise
                # The HTTP API's error answer, rendered here as the transport would, so that it
                # carries the traceparent header too (daprd sets it before any answer is written).
                result = Response.json(err.http_body(), err.http_status)
            except BaseException as exc:
                if span is not None:
                    _end_failed(span, _with_late(span, attrs, late, call), call, exc)
                raise
            finally:
                tc.current_traceparent.reset(parent_token)
                tc.current_tracestate.reset(state_token)
                if naming is not None:
                    _invoke_service_span.reset(naming)
            # daprd answers with the call's traceparent when the handler set none.
            if answers and isinstance(result, Response) and result.headers.get(tc.TRACEPARENT) is None:
                result.headers.set(tc.TRACEPARENT, traceparent)
            if span is None:
                return result
            if span.is_recording():
                span.set_attributes(attrs)
                if late is not None:
                    span.set_attributes(late(call))
                code = _status_code(call, result)
                if code:
                    span.set_attribute(spans.DAPR_STATUS_CODE, code)
                    if code.isdigit() and int(code) >= 400:
                        span.set_status(Status(StatusCode.ERROR, f"Code({code})"))
                    elif not code.isdigit() and code != "OK":
                        span.set_status(Status(StatusCode.ERROR, code))
            span.end()
            return result

        traced.observes_only = True  # type: ignore[attr-defined]
        return traced

    def _per_entry(self, single: Interceptor) -> Interceptor:
        """A bulk delivery gets a ``pubsub/<topic>`` span per entry that carries a trace context,
        each a child of its entry's publisher, as daprd's bulk postman makes them; the app's request
        is a child of the last one. Other deliveries, and batches of entries without a context, are
        one span as any delivery."""
        tracer = self.tracer

        async def per_entry(call: Call, proceed: Operation[Any]) -> Any:
            if not call.traces:
                return await single(call, proceed)
            name, attrs = spans.component_span(call)
            started = [
                tracer.start_span(name, context=_remote_parent(parsed), kind=SpanKind.CLIENT)
                for parsed in map(tc.parse_traceparent, call.traces)
                if parsed is not None
            ]
            if not started:
                return await single(call, proceed)
            ctx = started[-1].get_span_context()
            token = tc.current_traceparent.set(
                tc.format_traceparent(ctx.trace_id, ctx.span_id, ctx.trace_flags & 1)
            )
            try:
                result = await proceed()
            except BaseException as exc:
                for span in started:
                    _end_failed(span, attrs, call, exc)
                raise
            finally:
                tc.current_traceparent.reset(token)
            for span in started:
                if span.is_recording():
                    span.set_attributes(attrs)
                span.end()
            return result

        per_entry.observes_only = True  # type: ignore[attr-defined]
        return per_entry

    def _job_root(self) -> Interceptor:
        """A job trigger has no caller to continue: it starts its own trace, as a root span the
        app's request is a child of. Other calls to the app are children of the call they are
        made in (their span is that call's), or the sidecar's own (probes) and not traced."""
        traced = self._traced(Direction.OUTBOUND_APP, spans.job_span)

        # Not a coroutine: a call that is not a job trigger runs as the operation itself, with
        # no frame of its own for every await inside the call to pass through.
        def job_root(call: Call, proceed: Operation[Any]) -> Awaitable[Any]:
            if tc.current_traceparent.get() or not call.operation.startswith(JOB_OPERATIONS):
                return proceed()
            return traced(call, proceed)

        job_root.observes_only = True  # type: ignore[attr-defined]
        return job_root


def _name_invoke_service(call: Call, proceed: Operation[Any]) -> Awaitable[Any]:
    # Not a coroutine: the renaming is done before the call starts, and the operation's awaitable
    # is the step's (no frame of its own for every await inside the call to pass through).
    span = _invoke_service_span.get()
    if span is not None and span.is_recording():
        span.update_name(f"CallLocal/{call.target}/{call.operation}")
        span.set_attributes(
            {
                spans.RPC_SERVICE: spans.SERVICE_INVOCATION,
                spans.NET_PEER_NAME: call.target,
                spans.DAPR_INVOKE_METHOD: call.operation,
            }
        )
    return proceed()


_name_invoke_service.observes_only = True  # type: ignore[attr-defined]


def parent_context(traceparent: str) -> Context | None:
    """The remote parent a span continues, None (a new trace) when ``traceparent`` is absent or invalid."""
    return _remote_parent(tc.parse_traceparent(traceparent) if traceparent else None)


def _remote_parent(parsed: tuple[int, int, int] | None) -> Context | None:
    if parsed is None:
        return None
    trace_id, span_id, flags = parsed
    # The tracestate is carried beside the span (current_tracestate), as received: the SDK's own
    # parser logs a warning for each entry it dislikes, which a caller could turn into log spam.
    remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))
    return trace.set_span_in_context(NonRecordingSpan(remote))


_NO_ATTRIBUTES: spans.Attributes = {}  # never written: a dropped call has no attributes to set
# Trace ids at both ends of the range a ratio sampler compares against its bound.
_PROBE_TRACE_IDS = (1, 2**128 - 1)


def _drops_unsampled_parents(tracer: OtelTracer) -> bool:
    """Whether ``tracer``'s sampler drops every call whose remote parent was not sampled, asked of
    the sampler itself (for trace ids at both ends of a ratio's range), so that a different sampler
    configured later can never be bypassed."""
    sampler = getattr(tracer, "sampler", None)
    if sampler is None or getattr(tracer, "id_generator", None) is None:
        return False
    for trace_id in _PROBE_TRACE_IDS:
        parent = _remote_parent((trace_id, 1, 0))
        try:
            result = sampler.should_sample(parent, trace_id, "probe")
        except Exception:
            return False
        if result.decision.is_recording():
            return False
    return True


def _no_span_id() -> int:
    raise AssertionError("only used when the tracer has an id generator")


def _with_late(
    span: Span, attrs: spans.Attributes, late: Callable[[Call], spans.Attributes] | None, call: Call
) -> spans.Attributes:
    return {**attrs, **late(call)} if late is not None and span.is_recording() else attrs


def _end_failed(span: Span, attrs: spans.Attributes, call: Call, exc: BaseException) -> None:
    if span.is_recording():
        span.set_attributes(attrs)
        if call.status:
            span.set_attribute(spans.DAPR_STATUS_CODE, call.status.split(" ", 1)[0])
        span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__name__))
    span.end()


def _status_code(call: Call, result: Any) -> str:
    if call.status:
        return call.status.split(" ", 1)[0]
    status = getattr(result, "status", None)  # a Response, a binding's reply
    return str(status) if isinstance(status, int) else ""
