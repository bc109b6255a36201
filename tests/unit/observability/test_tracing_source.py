"""The tracing source in the pipeline: which chains get an interceptor, the spans they make (names,
kinds, parents, attributes, status), the context set for what runs inside, and what tracing off
costs (no interceptor at all)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode

from pydapr import errors
from pydapr.http.messages import Headers, Response
from pydapr.observability import trace_context as tc
from pydapr.observability.tracing import TracingSource, dapr_sampler, start_tracing, tracer_provider
from pydapr.observability.tracing.sampling import PresetIdGenerator
from pydapr.pipeline import JOB_TRIGGER, Call, Direction, Pipeline
from pydapr.resources.models import Configuration, TracingSpec

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def traced(rate: float = 1.0) -> tuple[Pipeline, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=dapr_sampler(rate))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Pipeline([TracingSource(provider.get_tracer("test"), "me")]), exporter


def run(pipeline: Pipeline, call: Call, result: Any = None, seen: list[str] | None = None) -> Any:
    async def proceed() -> Any:
        if seen is not None:
            seen.append(tc.current_traceparent.get())
        if isinstance(result, BaseException):
            raise result
        return result

    return asyncio.run(pipeline.run(call, proceed))


def test_an_http_api_call_is_a_client_span_named_by_its_path() -> None:
    pipeline, exporter = traced()
    call = Call(Direction.INBOUND_HTTP, "state", "POST /v1.0/state/store1")
    call.status = "204"
    seen: list[str] = []
    resp = run(pipeline, call, Response(204), seen)
    (span,) = exporter.get_finished_spans()
    assert span.name == "/v1.0/state/store1" and span.kind is SpanKind.CLIENT
    assert span.parent is None  # no traceparent: a new trace
    attrs = dict(span.attributes or {})
    assert attrs["db.system"] == "state" and attrs["db.name"] == "store1"
    assert attrs["dapr.api"] == "POST /v1.0/state/store1" and attrs["dapr.protocol"] == "http"
    assert attrs["dapr.status_code"] == "204"
    ctx = span.get_span_context()
    assert ctx is not None
    expected = tc.format_traceparent(ctx.trace_id, ctx.span_id, 1)
    assert seen == [expected]  # what runs inside the call sees its span
    assert resp.headers.get("traceparent") == expected  # and the answer says it, as daprd
    assert tc.current_traceparent.get() == ""  # and it is gone after the call


def test_a_callers_traceparent_is_the_parent() -> None:
    pipeline, exporter = traced(rate=0.0001)  # a sampled parent is followed whatever the rate
    call = Call(
        Direction.INBOUND_HTTP,
        "invoke",
        "POST /v1.0/invoke/other/method/a/b",
        trace=f"00-{TRACE}-{PARENT}-01",
    )
    run(pipeline, call, Response(200))
    (span,) = exporter.get_finished_spans()
    assert span.name == "CallLocal/other/a/b"
    assert span.context is not None and format(span.context.trace_id, "032x") == TRACE
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT
    assert dict(span.attributes or {})["net.peer.name"] == "other"


def test_an_unsampled_parent_is_not_exported_but_propagated() -> None:
    pipeline, exporter = traced()
    seen: list[str] = []
    call = Call(Direction.INBOUND_HTTP, "state", "GET /v1.0/state/s/k", trace=f"00-{TRACE}-{PARENT}-00")
    resp = run(pipeline, call, Response(200), seen)
    assert exporter.get_finished_spans() == ()
    assert seen[0].startswith(f"00-{TRACE}-") and seen[0].endswith("-00")
    assert resp.headers.get("traceparent") == seen[0]


def test_an_answer_that_sets_its_own_traceparent_keeps_it() -> None:
    pipeline, _ = traced()
    mine = f"00-{TRACE}-{PARENT}-01"
    resp = run(
        pipeline,
        Call(Direction.INBOUND_HTTP, "invoke", "GET /x"),
        Response(200, Headers([("traceparent", mine)])),
    )
    assert resp.headers.get("traceparent") == mine


def test_an_http_api_error_is_answered_with_the_traceparent_and_an_error_span() -> None:
    pipeline, exporter = traced()
    call = Call(Direction.INBOUND_HTTP, "state", "GET /v1.0/state/s/k")
    call.status = "404 ERR_NOT_FOUND"
    resp = run(pipeline, call, errors.NOT_FOUND("/v1.0/state/s/k"))
    assert resp.status == 404 and b"ERR_NOT_FOUND" in resp.body  # what the transport would answer
    (span,) = exporter.get_finished_spans()
    assert resp.headers.get("traceparent") == tc.format_traceparent(
        span.context.trace_id, span.context.span_id, 1
    )  # type: ignore[union-attr]
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["dapr.status_code"] == "404"


def test_a_failed_grpc_call_is_an_error_span_and_still_fails() -> None:
    pipeline, exporter = traced()
    call = Call(
        Direction.INBOUND_GRPC, "/dapr.proto.runtime.v1.Dapr/GetState", "/dapr.proto.runtime.v1.Dapr/GetState"
    )
    call.status = "NOT_FOUND"
    with pytest.raises(errors.DaprError):
        run(pipeline, call, errors.NOT_FOUND("x"))
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR


def test_an_http_4xx_answer_is_an_error_span() -> None:
    pipeline, exporter = traced()
    call = Call(Direction.INBOUND_HTTP, "state", "GET /v1.0/state/s/k")
    run(pipeline, call, Response(404))
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR


def test_grpc_internal_and_component_spans() -> None:
    pipeline, exporter = traced()
    run(
        pipeline,
        Call(
            Direction.INBOUND_GRPC,
            "/dapr.proto.runtime.v1.Dapr/SaveState",
            "/dapr.proto.runtime.v1.Dapr/SaveState",
        ),
    )
    run(pipeline, Call(Direction.INBOUND_INTERNAL, "caller", "orders/1", caller="caller"), Response(200))
    run(pipeline, Call(Direction.INBOUND_COMPONENT, "broker", "deliver orders"))
    run(pipeline, Call(Direction.INBOUND_COMPONENT, "kafka-in", "/route"))
    grpc_span, internal, delivery, binding = exporter.get_finished_spans()
    assert (grpc_span.name, grpc_span.kind) == ("/dapr.proto.runtime.v1.Dapr/SaveState", SpanKind.CLIENT)
    assert dict(grpc_span.attributes or {})["db.system"] == "state"
    assert (internal.name, internal.kind) == ("CallLocal/me/orders/1", SpanKind.SERVER)
    assert (
        delivery.name == "pubsub/orders" and dict(delivery.attributes or {})["messaging.system"] == "pubsub"
    )
    assert binding.name == "bindings/kafka-in"


def test_an_actor_call_is_a_child_of_the_call_it_is_made_in() -> None:
    pipeline, exporter = traced()
    parent = tc.current_traceparent.set(f"00-{TRACE}-{PARENT}-01")
    try:
        run(pipeline, Call(Direction.OUTBOUND_ACTOR, "Cart", "add", instance="c1"))
    finally:
        tc.current_traceparent.reset(parent)
    (span,) = exporter.get_finished_spans()
    assert span.name == "CallActor/Cart/add" and dict(span.attributes or {})["dapr.actor"] == "Cart.c1"
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT


def test_only_job_triggers_start_a_trace_on_the_app_channel() -> None:
    pipeline, exporter = traced()
    seen: list[str] = []
    # The app channel gives a job trigger's calls their own target; the app's other calls have
    # no tracing step at all.
    assert pipeline.chain(Direction.OUTBOUND_APP, "me").empty
    run(pipeline, Call(Direction.OUTBOUND_APP, JOB_TRIGGER, "/healthz"), Response(200), seen)
    run(pipeline, Call(Direction.OUTBOUND_APP, JOB_TRIGGER, "/job/nightly"), Response(200), seen)
    run(pipeline, Call(Direction.OUTBOUND_APP, JOB_TRIGGER, "OnJobEvent"), Response(200), seen)
    assert seen[0] == "" and seen[1] and seen[2]
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["jobs/nightly", "jobs/OnJobEvent"]


def test_untraced_targets_get_no_interceptor() -> None:
    pipeline, _ = traced()
    assert pipeline.chain(Direction.INBOUND_HTTP, "healthz").empty
    assert pipeline.chain(Direction.INBOUND_GRPC, "/grpc.health.v1.Health/Check").empty
    assert pipeline.chain(Direction.OUTBOUND_COMPONENT, "store").empty
    assert pipeline.chain(Direction.OUTBOUND_APP, "me").empty
    assert pipeline.chain(Direction.OUTBOUND_APP, JOB_TRIGGER).steps[0].observes_only  # type: ignore[attr-defined]
    steps = pipeline.chain(Direction.INBOUND_COMPONENT, "broker").steps
    assert all(getattr(step, "observes_only", False) for step in steps)


def configuration(spec: TracingSpec) -> Configuration:
    return Configuration(name="c", tracing=spec)


@pytest.mark.parametrize(
    "spec",
    [
        TracingSpec(sampling_rate=0, zipkin_endpoint="http://127.0.0.1:9/api/v2/spans"),
        TracingSpec(sampling_rate=1),  # nowhere to send spans
        TracingSpec(),
    ],
)
def test_tracing_that_shows_nothing_adds_no_source(spec: TracingSpec) -> None:
    tracing = start_tracing(configuration(spec), "me", "default")
    assert tracing.sources == [] and tracing.provider is None
    assert start_tracing(None, "me", "default").sources == []


def test_an_exporter_turns_tracing_on_with_the_app_id_as_service_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    tracing = start_tracing(configuration(TracingSpec(sampling_rate=1, stdout=True)), "orders", "default")
    try:
        assert len(tracing.sources) == 1 and tracing.provider is not None
        assert tracing.provider.resource.attributes["service.name"] == "orders"
    finally:
        asyncio.run(tracing.shutdown())
    assert tracing.provider is None
    asyncio.run(tracing.shutdown())  # twice is harmless


def test_the_sampler_follows_daprs_ratio() -> None:
    provider = TracerProvider(sampler=dapr_sampler(0.5))
    tracer = provider.get_tracer("t")
    sampled = sum(tracer.start_span("x").get_span_context().trace_flags.sampled for _ in range(2000))
    assert 800 < sampled < 1200
    assert not any(
        TracerProvider(sampler=dapr_sampler(0)).get_tracer("t").start_span("x").is_recording()
        for _ in range(50)
    )


@pytest.mark.parametrize(
    ("traceparent", "tracestate"),
    [
        ("00-zz-zz-zz", "a=b"),
        (f"00-{TRACE}-{PARENT}-01", "BAD KEY=1,a=b,a=c"),
        ("\x00" * 80, "\udcff=1"),
        (f"00-{TRACE}-{PARENT}-ff", ""),
    ],
)
def test_bad_trace_context_from_a_caller_never_fails_the_call(
    traceparent: str, tracestate: str, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline, exporter = traced()
    token = tc.current_tracestate.set(tracestate)
    try:
        resp = run(
            pipeline,
            Call(Direction.INBOUND_HTTP, "state", "GET /v1.0/state/s/k", trace=traceparent),
            Response(200),
        )
    finally:
        tc.current_tracestate.reset(token)
    assert tc.parse_traceparent(resp.headers.get("traceparent") or "") is not None
    assert len(exporter.get_finished_spans()) <= 1
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # no per-call log spam


def test_an_invoke_service_span_takes_the_invocations_name() -> None:
    pipeline, exporter = traced()
    method = "/dapr.proto.runtime.v1.Dapr/InvokeService"

    async def serve() -> None:
        async def invoke() -> Any:
            return await pipeline.run(Call(Direction.OUTBOUND_INVOKE, "orders", "checkout"), proceed)

        async def proceed() -> None:
            return None

        await pipeline.run(Call(Direction.INBOUND_GRPC, method, method), invoke)
        # An invocation outside any InvokeService call renames nothing.
        await pipeline.run(Call(Direction.OUTBOUND_INVOKE, "orders", "other"), proceed)

    asyncio.run(serve())
    (span,) = exporter.get_finished_spans()
    assert span.name == "CallLocal/orders/checkout" and span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs["net.peer.name"] == "orders" and attrs["rpc.service"] == "ServiceInvocation"


def preset_traced(rate: float) -> tuple[Pipeline, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=dapr_sampler(rate), id_generator=PresetIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Pipeline([TracingSource(provider.get_tracer("test"), "me")]), exporter


def test_the_sidecars_provider_can_decide_a_new_trace_before_the_sdk() -> None:
    provider = tracer_provider("me", 0.0001, [InMemorySpanExporter()])
    try:
        source = TracingSource(provider.get_tracer("t"), "me")
        assert source.root_bound == TraceIdRatioBased.get_bound_for_rate(0.0001)
    finally:
        provider.shutdown()


@pytest.mark.parametrize(
    ("sampler", "ids"),
    [
        (ParentBased(TraceIdRatioBased(0.5)), PresetIdGenerator()),  # not daprd's: the SDK decides
        (dapr_sampler(0.5), RandomIdGenerator()),  # the SDK's trace id cannot be chosen
        (dapr_sampler(1.0), PresetIdGenerator()),  # every trace sampled: nothing to decide
    ],
)
def test_a_new_trace_is_left_to_the_sdk_unless_the_sampler_is_daprs(sampler: Any, ids: Any) -> None:
    source = TracingSource(TracerProvider(sampler=sampler, id_generator=ids).get_tracer("t"), "me")
    assert source.root_bound is None


def test_new_traces_decided_before_the_sdk_are_sampled_at_the_rate_on_their_own_trace_id() -> None:
    pipeline, exporter = preset_traced(0.5)
    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    random.seed(1616)
    seen: list[str] = []
    answers = [
        run(pipeline, Call(Direction.INBOUND_HTTP, "state", "GET /v1.0/state/s/k"), Response(200), seen)
        for _ in range(400)
    ]
    exported = {format(s.context.trace_id, "032x"): s for s in exporter.get_finished_spans() if s.context}
    sampled = 0
    for inside, resp in zip(seen, answers, strict=True):
        assert resp.headers.get("traceparent") == inside
        parsed = tc.parse_traceparent(inside)
        assert parsed is not None
        trace_id, span_id, flags = parsed
        # The ratio sampler's rule on the id the call carries, and only sampled calls are exported.
        assert flags == (1 if trace_id & (2**64 - 1) < bound else 0)
        span = exported.get(format(trace_id, "032x"))
        if flags:
            sampled += 1
            assert span is not None and span.context is not None and span.context.span_id == span_id
            assert span.parent is None and span.name == "/v1.0/state/s/k"
        else:
            assert span is None
    assert len(exported) == sampled and 150 < sampled < 250
    assert len({tc.parse_traceparent(t)[0] for t in seen}) == 400  # type: ignore[index]


def test_a_preset_trace_id_is_handed_out_once() -> None:
    ids = PresetIdGenerator()
    ids.preset = 12345
    assert ids.generate_trace_id() == 12345
    assert ids.generate_trace_id() not in (0, 12345)
