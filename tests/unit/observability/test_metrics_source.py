"""The metrics source in a real pipeline: what one call of each direction records, and that a
sidecar with metrics off has no interceptor at all."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from pydapr.http.messages import Response
from pydapr.observability.metrics.catalog import SidecarMetrics
from pydapr.observability.metrics.lifecycle import start_metrics
from pydapr.observability.metrics.source import MetricsSource
from pydapr.pipeline import Call, Direction, Pipeline
from pydapr.pubsub.delivery import Outcome
from pydapr.resources.models import MetricSpec

TYPES = {"store": "state.redis", "bus": "pubsub.redis", "cron": "bindings.cron", "lock": "lock.redis"}


DEFAULTS = MetricSpec()


def _pipeline(spec: MetricSpec = DEFAULTS, *, grpc_app: bool = False) -> tuple[Pipeline, SidecarMetrics]:
    families = SidecarMetrics(spec)
    source = MetricsSource(
        families,
        spec,
        app_id="me",
        namespace="ns",
        app_uses_grpc=grpc_app,
        health_check_path="/healthz",
        component_type=lambda name: TYPES.get(name, ""),
        is_remote_app=lambda target: target != "me",
    )
    return Pipeline([source]), families


def _run(pipeline: Pipeline, call: Call, result: Any = None, error: BaseException | None = None) -> None:
    async def proceed() -> Any:
        if error is not None:
            raise error
        return result

    async def go() -> None:
        try:
            await pipeline.run(call, proceed)
        except BaseException as exc:
            if exc is not error:
                raise

    asyncio.run(go())


def test_http_server_call_has_no_path_label_by_default() -> None:
    pipeline, m = _pipeline()
    for key in ("a", "b", "c"):
        call = Call(Direction.INBOUND_HTTP, "state", f"GET /v1.0/state/store/{key}")
        call.status = "200"
        _run(pipeline, call, Response(200, body=b"12345"))
    call = Call(Direction.INBOUND_HTTP, "state", "GET /v1.0/state/nostore/k")
    call.status = "400 ERR_STATE_STORE_NOT_FOUND"
    _run(pipeline, call, error=RuntimeError("refused"))
    assert m.http_server_request_count.values == {("me", "GET", "", "200"): 3, ("me", "GET", "", "400"): 1}
    assert m.http_server_response_bytes.values[("me",)][-1] == 15  # the sum of the bodies
    assert not m.http_server_response_count.values  # daprd has it in its legacy mode only


def test_grpc_server_status_is_gos_code_name() -> None:
    pipeline, m = _pipeline()
    method = "/dapr.proto.runtime.v1.Dapr/GetState"
    _run(pipeline, Call(Direction.INBOUND_GRPC, method, method))
    failed = Call(Direction.INBOUND_GRPC, method, method)
    failed.status = "NOT_FOUND"
    _run(pipeline, failed, error=RuntimeError())
    cancelled = Call(Direction.INBOUND_GRPC, method, method)
    cancelled.status = "CANCELLED"
    _run(pipeline, cancelled, error=RuntimeError())
    assert m.grpc_server_completed_rpcs.values == {
        ("me", method, "OK"): 1,
        ("me", method, "NotFound"): 1,
        ("me", method, "Canceled"): 1,
    }


def test_invocation_counts_the_remote_hop_only() -> None:
    pipeline, m = _pipeline()
    _run(pipeline, Call(Direction.OUTBOUND_INVOKE, "other", "orders"), Response(201))
    _run(pipeline, Call(Direction.OUTBOUND_INVOKE, "me", "orders"), Response(200))
    assert m.invocation_req_sent.values == {("me", "other", "unary"): 1}
    assert m.invocation_res_recv.values == {("me", "other", "201", "unary"): 1}
    assert m.invocation_res_recv_latency.values[("me", "other", "201")][-2] == 0  # one +Inf-free observation
    _run(pipeline, Call(Direction.INBOUND_INTERNAL, "caller", "orders", caller="caller"), Response(404))
    assert m.invocation_req_recv.values == {("me", "caller"): 1}
    assert m.invocation_res_sent.values == {("me", "caller", "404"): 1}


def test_component_calls_by_family() -> None:
    pipeline, m = _pipeline()
    _run(pipeline, Call(Direction.OUTBOUND_COMPONENT, "store", "get"), {"v": 1})
    _run(pipeline, Call(Direction.OUTBOUND_COMPONENT, "store", "set"), error=ValueError("etag"))
    _run(pipeline, Call(Direction.OUTBOUND_COMPONENT, "bus", "publish"))
    _run(pipeline, Call(Direction.INBOUND_COMPONENT, "bus", "deliver orders"), Outcome.RETRY)
    assert m.state_count.values == {
        ("me", "store", "ns", "get", "true"): 1,
        ("me", "store", "ns", "set", "false"): 1,
    }
    assert m.pubsub_egress_count.values == {("me", "bus", "ns", "true", ""): 1}
    assert m.pubsub_ingress_count.values == {("me", "bus", "ns", "retry", "orders", ""): 1}
    assert pipeline.chain(Direction.OUTBOUND_COMPONENT, "lock").empty  # daprd has no lock metric


def test_grpc_app_channel_and_health_probes() -> None:
    pipeline, m = _pipeline(grpc_app=True)
    _run(pipeline, Call(Direction.OUTBOUND_APP, "me", "OnInvoke", request_size=42))
    _run(pipeline, Call(Direction.OUTBOUND_APP, "me", "HealthCheck"))
    error = grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata())
    _run(pipeline, Call(Direction.OUTBOUND_APP, "me", "OnTopicEvent"), error=error)
    assert m.grpc_client_completed_rpcs.values == {
        ("me", "/dapr.proto.runtime.v1.AppCallback/OnInvoke", "OK"): 1,
        ("me", "/dapr.proto.runtime.v1.AppCallback/OnTopicEvent", "Unavailable"): 1,
    }
    assert m.grpc_healthprobes_completed_count.values == {("me", "OK"): 1}
    # The request sizes the channel gave, failed calls too (the cells end with the sum).
    sent = m.grpc_client_sent_bytes.values
    assert sent[("me", "/dapr.proto.runtime.v1.AppCallback/OnInvoke")][-1] == 42
    assert ("me", "/dapr.proto.runtime.v1.AppCallback/OnTopicEvent") in sent


def test_latency_buckets_and_rules_from_the_configuration() -> None:
    from pydapr.resources.models import MetricRule

    spec = MetricSpec(
        latency_buckets=(10, 100),
        rules=(MetricRule("dapr_component_state_count", (("component", (("stores", ".*"),)),)),),
    )
    pipeline, m = _pipeline(spec)
    _run(pipeline, Call(Direction.OUTBOUND_COMPONENT, "store", "get"))
    assert m.state_latencies.bounds == (10.0, 100.0)
    assert m.state_count.values == {("me", "stores", "ns", "get", "true"): 1}


@pytest.mark.parametrize(("flag", "configured"), [(False, True), (True, False)])
def test_off_by_flag_or_configuration_means_no_source(flag: bool, configured: bool) -> None:
    from pydapr.resources.models import Configuration

    metrics = start_metrics(
        flag,
        Configuration(metric=MetricSpec(enabled=configured)),
        app_id="off",
        namespace="ns",
        app_uses_grpc=False,
        health_check_path="/healthz",
        component_type=lambda _: "",
        is_remote_app=lambda _: True,
    )
    assert metrics.source is None and not metrics.enabled
