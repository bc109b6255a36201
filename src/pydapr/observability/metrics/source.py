"""Metrics as one pipeline source: per direction, one interceptor that times the call and records
it in daprd's families (catalog.py). A target no family describes gets no interceptor.

What each direction records (daprd's call sites in brackets):

* INBOUND_HTTP: ``dapr_http_server_*`` (its HTTP middleware).
* INBOUND_GRPC: ``dapr_grpc_io_server_*`` (its unary/stream server interceptors).
* OUTBOUND_APP: ``dapr_http_client_*`` or ``dapr_grpc_io_client_*``, health probes apart.
* OUTBOUND_INVOKE: ``..._req_sent_total``, ``..._res_recv_total``, ``..._res_recv_latency_ms``, for
  another app's sidecar only (as daprd's ``invokeRemote``; the own app and external URLs are not).
* INBOUND_INTERNAL: ``..._req_recv_total``, ``..._res_sent_total``.
* OUTBOUND_COMPONENT: the component family's ``dapr_component_*`` by the component's type.
* INBOUND_COMPONENT: pub/sub ingress or input binding, by the component's type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydapr import rpc
from pydapr.errors import DaprError
from pydapr.http.messages import Response
from pydapr.pipeline import Call, Direction, Interceptor, Operation
from pydapr.resources.models import MetricSpec

from . import error_codes
from .catalog import SidecarMetrics
from .families import CounterFamily, HistogramFamily
from .labels import HttpLabels

# Go's codes.Code.String(), which daprd's labels carry (grpc.StatusCode names are upper snake case).
_GO_CODE = {code: "".join(part.capitalize() for part in code.name.split("_")) for code in rpc.StatusCode}
_GO_CODE[rpc.StatusCode.OK] = "OK"
_GO_CODE[rpc.StatusCode.CANCELLED] = "Canceled"
_GO_NAME = {code.name: name for code, name in _GO_CODE.items()}

# pydapr's operation names (sidecar/components.py _FAMILIES) → daprd's.
_COMPONENT_OPERATIONS = {"bulkGetSecret": "bulk_get", "getSecret": "get", "listKeys": "list_keys"}

# The app's RPCs by service, for daprd's full method label.
_APP_SERVICES = {
    "HealthCheck": "dapr.proto.runtime.v1.AppCallbackHealthCheck",
    "OnBulkTopicEvent": "dapr.proto.runtime.v1.AppCallbackAlpha",
    "OnBulkTopicEventAlpha1": "dapr.proto.runtime.v1.AppCallbackAlpha",
    "OnJobEventAlpha1": "dapr.proto.runtime.v1.AppCallbackAlpha",
}

ComponentType = Callable[[str], str]  # component name → its type ("state.redis"), "" when unknown
IsRemoteApp = Callable[[str], bool]  # an invocation target → is it another app's sidecar?


def _now() -> float:
    return time.perf_counter()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class MetricsSource:
    """The pipeline source; ``metrics`` holds what it records (collected by the registry)."""

    def __init__(
        self,
        metrics: SidecarMetrics,
        spec: MetricSpec,
        *,
        app_id: str,
        namespace: str,
        app_uses_grpc: bool,
        health_check_path: str,
        component_type: ComponentType,
        is_remote_app: IsRemoteApp,
    ) -> None:
        self.metrics = metrics
        self.http = HttpLabels(spec)
        self.legacy = spec.increased_cardinality
        self.app_id = app_id
        self.namespace = namespace
        self.app_uses_grpc = app_uses_grpc
        self.health_check_path = health_check_path
        self.component_type = component_type
        self.is_remote_app = is_remote_app

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        if direction is Direction.INBOUND_HTTP:
            return self._http_server()
        if direction is Direction.INBOUND_GRPC:
            return self._grpc_server(target)
        if direction is Direction.OUTBOUND_APP:
            return self._grpc_client() if self.app_uses_grpc else self._http_client()
        if direction is Direction.OUTBOUND_INVOKE:
            return self._invoke_sent(target) if self.is_remote_app(target) else None
        if direction is Direction.INBOUND_INTERNAL:
            return self._invoke_received(target)
        if direction is Direction.OUTBOUND_COMPONENT:
            return self._component(target)
        if direction is Direction.INBOUND_COMPONENT:
            return self._component_event(target)
        return None  # OUTBOUND_ACTOR: the actor metrics are recorded by the actor runtime

    # --- the public APIs -------------------------------------------------------------------------
    def _http_server(self) -> Interceptor:
        m, labels, app_id = self.metrics, self.http, self.app_id
        count, latency = m.http_server_request_count, m.http_server_latency
        request_bytes, response_bytes = m.http_server_request_bytes, m.http_server_response_bytes
        response_count = m.http_server_response_count if self.legacy else None
        # The default drops the path (and keeps the verb): decided once here, not per call.
        path_label = None if labels.matcher is None and not labels.legacy else labels.path
        method_label = labels.method
        only_app = (app_id,)
        clock = time.perf_counter

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            started = clock()
            resp = None
            try:
                resp = await proceed()
                return resp
            except DaprError as err:  # answered as its JSON error by the transport
                error_codes.observe(err)
                raise
            finally:
                elapsed = (clock() - started) * 1000.0
                verb, _, path = call.operation.partition(" ")
                status = call.status.partition(" ")[0] or "500"
                path = "" if path_label is None else path_label(path, server=True)
                key = (app_id, method_label(verb), path, status)
                count.inc(key)
                latency.observe(key, elapsed)
                if response_count is not None:
                    response_count.inc(key)
                request_bytes.observe(only_app, call.request_size)
                body = resp.body if isinstance(resp, Response) else b""
                response_bytes.observe(only_app, len(body))

        return _observer(record)

    def _grpc_server(self, method: str) -> Interceptor:
        m, app_id = self.metrics, self.app_id
        completed, latency = m.grpc_server_completed_rpcs, m.grpc_server_latency
        sent, received = m.grpc_server_sent_bytes, m.grpc_server_received_bytes
        by_method = (app_id, method)

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            started = _now()
            result = None
            try:
                result = await proceed()
                return result
            finally:
                status = _go_status(call.status, result)
                key = (app_id, method, status)
                completed.inc(key)
                latency.observe(key, _ms(started))
                if call.request_size >= 0:  # a unary request, answered or not
                    received.observe(by_method, call.request_size)
                byte_size = getattr(result, "ByteSize", None)
                if callable(byte_size):  # a unary answer; a stream's messages are not measured
                    sent.observe(by_method, byte_size())

        return _observer(record)

    # --- the app channel --------------------------------------------------------------------------
    def _http_client(self) -> Interceptor:
        m, labels, app_id, health_path = self.metrics, self.http, self.app_id, self.health_check_path
        count, latency, received, sent = (
            m.http_client_completed_count,
            m.http_client_roundtrip_latency,
            m.http_client_received_bytes,
            m.http_client_sent_bytes,
        )
        probes, probe_latency = m.http_healthprobes_completed_count, m.http_healthprobes_roundtrip_latency
        only_app = (app_id,)

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            started = _now()
            resp = None
            try:
                resp = await proceed()
                return resp
            finally:
                elapsed = _ms(started)
                path, verb = call.operation, call.verb
                status_code = getattr(resp, "status", None)
                status = str(status_code) if status_code is not None else ""
                if path == health_path:
                    probes.inc((app_id, status))
                    probe_latency.observe((app_id, status), elapsed)
                else:
                    key = (app_id, labels.method(verb) if verb else "", labels.path(path), status)
                    count.inc(key)
                    latency.observe(key, elapsed)
                    sent.observe(key, call.request_size)
                    body = getattr(resp, "body", b"")
                    received.observe(only_app, len(body) if isinstance(body, bytes | bytearray) else 0)

        return _observer(record)

    def _grpc_client(self) -> Interceptor:
        import grpc  # an app served over gRPC: its channel is grpcio's

        m, app_id = self.metrics, self.app_id
        count, latency, received, sent = (
            m.grpc_client_completed_rpcs,
            m.grpc_client_roundtrip_latency,
            m.grpc_client_received_bytes,
            m.grpc_client_sent_bytes,
        )
        probes, probe_latency = m.grpc_healthprobes_completed_count, m.grpc_healthprobes_roundtrip_latency

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            started = _now()
            result: Any = None
            status = "OK"
            try:
                result = await proceed()
                return result
            except grpc.aio.AioRpcError as exc:
                status = _GO_CODE.get(rpc.code_of(exc.code()), "Unknown")
                raise
            except BaseException:
                status = "Unknown"
                raise
            finally:
                elapsed = _ms(started)
                name = call.operation
                if name == "HealthCheck":
                    probes.inc((app_id, status))
                    probe_latency.observe((app_id, status), elapsed)
                else:
                    method = f"/{_APP_SERVICES.get(name, 'dapr.proto.runtime.v1.AppCallback')}/{name}"
                    count.inc((app_id, method, status))
                    latency.observe((app_id, method, status), elapsed)
                    message = call.request  # the request message, sized here only
                    size = message.ByteSize() if message is not None else call.request_size
                    sent.observe((app_id, method), size)
                    byte_size = getattr(result, "ByteSize", None)
                    if callable(byte_size):
                        received.observe((app_id, method), byte_size())

        return _observer(record)

    # --- service invocation ----------------------------------------------------------------------
    def _invoke_sent(self, target: str) -> Interceptor:
        m, app_id = self.metrics, self.app_id
        callee = target.partition(".")[0]
        sent_key = (app_id, callee, "unary")
        sent, received, latency = m.invocation_req_sent, m.invocation_res_recv, m.invocation_res_recv_latency

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            sent.inc(sent_key)
            started = _now()
            resp = None
            try:
                resp = await proceed()
                return resp
            finally:
                status = _invoke_status(resp)
                received.inc((app_id, callee, status, "unary"))
                latency.observe((app_id, callee, status), _ms(started))

        return _observer(record)

    def _invoke_received(self, caller: str) -> Interceptor:
        m, app_id = self.metrics, self.app_id
        recv_key = (app_id, caller)
        received, sent = m.invocation_req_recv, m.invocation_res_sent

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            received.inc(recv_key)
            resp = None
            try:
                resp = await proceed()
                return resp
            finally:
                sent.inc((app_id, caller, _invoke_status(resp)))

        return _observer(record)

    # --- components ------------------------------------------------------------------------------
    def _component(self, name: str) -> Interceptor | None:
        family = self.component_type(name).partition(".")[0]
        m = self.metrics
        pairs: dict[str, tuple[CounterFamily, HistogramFamily]] = {
            "state": (m.state_count, m.state_latencies),
            "bindings": (m.output_binding_count, m.output_binding_latencies),
            "secretstores": (m.secret_count, m.secret_latencies),
            "configuration": (m.configuration_count, m.configuration_latencies),
            "crypto": (m.crypto_count, m.crypto_latencies),
        }
        app_id, namespace = self.app_id, self.namespace
        if family == "pubsub":
            return self._publish(name)
        if family == "conversation":
            count, latency = m.conversation_count, m.conversation_latencies

            async def converse(call: Call, proceed: Operation[Any]) -> Any:
                started, ok = _now(), False
                try:
                    result = await proceed()
                    ok = True
                    return result
                finally:
                    key = (app_id, name, namespace, "true" if ok else "false")
                    count.inc(key)
                    latency.observe(key, _ms(started))

            return _observer(converse)
        if family not in pairs:
            return None  # lock and middleware components: daprd has no metric for them
        count, latency = pairs[family]
        # daprd labels every crypto operation alike ("crypto_op", universal/crypto.go).
        fixed = "crypto_op" if family == "crypto" else None
        bindings = family == "bindings"

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            started, ok = _now(), False
            try:
                result = await proceed()
                ok = True
                return result
            finally:
                # An output binding's operation is the request's (create, get ...), as daprd labels it.
                operation = fixed or (
                    call.instance
                    if bindings and call.instance
                    else _COMPONENT_OPERATIONS.get(call.operation, call.operation)
                )
                key = (app_id, name, namespace, operation, "true" if ok else "false")
                count.inc(key)
                latency.observe(key, _ms(started))

        return _observer(record)

    def _publish(self, name: str) -> Interceptor:
        m, app_id, namespace = self.metrics, self.app_id, self.namespace

        async def record(call: Call, proceed: Operation[Any]) -> Any:
            started, ok = _now(), False
            try:
                result = await proceed()
                ok = True
                return result
            finally:
                bulk = call.operation == "bulkPublish"
                count = m.pubsub_egress_bulk_count if bulk else m.pubsub_egress_count
                latency = m.pubsub_egress_bulk_latencies if bulk else m.pubsub_egress_latencies
                # The topic is the call's instance when the component store names it (see docs).
                key = (app_id, name, namespace, "true" if ok else "false", call.instance)
                count.inc(key)
                latency.observe(key, _ms(started))

        return _observer(record)

    def _component_event(self, name: str) -> Interceptor | None:
        family = self.component_type(name).partition(".")[0]
        m, app_id, namespace = self.metrics, self.app_id, self.namespace
        if family == "pubsub":
            count, latency = m.pubsub_ingress_count, m.pubsub_ingress_latencies
            bulk_count, bulk_latency = m.pubsub_ingress_bulk_count, m.pubsub_ingress_bulk_latencies
            bulk_events = m.pubsub_ingress_bulk_event_count

            async def deliver(call: Call, proceed: Operation[Any]) -> Any:
                started = _now()
                outcome: Any = None
                try:
                    outcome = await proceed()
                    return outcome
                finally:
                    if call.operation.startswith("bulk "):
                        # daprd: one per bulk call (its process_status left empty), and the
                        # entries by the status the app gave each, over every attempt.
                        topic = call.operation.removeprefix("bulk deliver ")
                        key = (app_id, name, namespace, "", topic)
                        bulk_count.inc(key)
                        bulk_latency.observe(key, _ms(started))
                        for status, n in getattr(outcome, "statuses", {}).items():
                            if n:
                                bulk_events.inc((app_id, name, namespace, status, topic), n)
                    else:
                        topic = call.operation.removeprefix("deliver ")
                        process = _process_status(outcome)
                        # daprd leaves ``status`` empty except for an app's DROP of a success (grpc.go).
                        labels = (app_id, name, namespace, process, topic, "")
                        count.inc(labels)
                        latency.observe(labels, _ms(started))

            return _observer(deliver)
        if family == "bindings":
            count_b, latency_b = m.input_binding_count, m.input_binding_latencies

            async def trigger(call: Call, proceed: Operation[Any]) -> Any:
                started, ok = _now(), False
                try:
                    reply = await proceed()
                    ok = _reply_ok(reply)
                    return reply
                finally:
                    key = (app_id, name, namespace, "true" if ok else "false")
                    count_b.inc(key)
                    latency_b.observe(key, _ms(started))

            return _observer(trigger)
        return None


def _observer(interceptor: Interceptor) -> Interceptor:
    # Metrics only watch a call: a block whose chain holds only observers keeps its own default
    # policy (pipeline/chain.py Chain.observes_only).
    interceptor.observes_only = True  # type: ignore[attr-defined]
    return interceptor


def _go_status(status: str, result: object) -> str:
    """A gRPC server call's code as Go names it: "" (no error) is OK."""
    if not status:
        return "OK"
    return _GO_NAME.get(status, status)


def _invoke_status(resp: object) -> str:
    # daprd labels the invocation response with its status code: the app's HTTP status (or the
    # sidecar's error status) for HTTP; an exception that escaped is the 500 the caller sees.
    status = getattr(resp, "status", None)
    return str(status) if isinstance(status, int) else "500"


def _process_status(outcome: object) -> str:
    """A delivery's outcome as daprd's ``process_status``: success, retry or drop."""
    if outcome is None:
        return "retry"  # an exception: the message is not acknowledged
    text = str(getattr(outcome, "value", outcome)).lower()
    for known in ("success", "retry", "drop"):
        if known in text:
            return known
    return text


def _reply_ok(reply: object) -> bool:
    status = getattr(reply, "status", None)
    return not isinstance(status, int) or 200 <= status < 300
