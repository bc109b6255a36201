# ruff: noqa: E501  (a table: one family per line, daprd's descriptions verbatim)
"""The sidecar's metrics, with daprd's names, labels and buckets (dapr/dapr pkg/diagnostics:
http_monitoring.go, grpc_monitoring.go, service_monitoring.go, component_monitoring.go).

Every family carries ``app_id`` first. Families are created once per sidecar, with the
``latencyDistributionBuckets`` and ``rules`` of its Configuration, and collected into ``REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydapr.resources.models import MetricSpec

from .families import CounterFamily, Family, HistogramFamily
from .labels import Relabel

# daprd's defaults (pkg/config MetricSpec.GetLatencyDistribution, diagnostics defaultSizeDistribution).
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 65, 80, 100, 130, 160, 200, 250, 300, 400,
    500, 650, 800, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
)  # fmt: skip
SIZE_BUCKETS_BYTES: tuple[float, ...] = (
    1 << 10, 2 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20,
    256 << 20, 1 << 30, 4 << 30,
)  # fmt: skip

_HTTP = ("app_id", "method", "path", "status")
_COMPONENT_OP = ("app_id", "component", "namespace", "operation", "success")


class SidecarMetrics:
    """All of one sidecar's families. Attribute names say what is measured; ``name`` is daprd's."""

    def __init__(self, spec: MetricSpec) -> None:
        self._relabel = Relabel(spec.rules)
        self._latency = tuple(float(b) for b in spec.latency_buckets) if spec.latency_buckets else LATENCY_BUCKETS_MS
        self.families: list[Family] = []
        c, h, lat, size = self._counter, self._histogram, self._latency, SIZE_BUCKETS_BYTES

        # HTTP server (the public API)
        self.http_server_request_count = c("dapr_http_server_request_count", "Count of HTTP requests processed by the server.", _HTTP)
        self.http_server_latency = h("dapr_http_server_latency", "HTTP request end-to-end latency in server.", _HTTP, lat)
        self.http_server_request_bytes = h("dapr_http_server_request_bytes", "HTTP request body size if set as ContentLength (uncompressed) in server.", ("app_id",), size)
        self.http_server_response_bytes = h("dapr_http_server_response_bytes", "HTTP response body size (uncompressed) in server.", ("app_id",), size)
        # Only with increasedCardinality, as daprd registers it only in its legacy mode.
        self.http_server_response_count = c("dapr_http_server_response_count", "The number of HTTP responses", _HTTP)
        # HTTP client (the app channel to an HTTP app)
        self.http_client_completed_count = c("dapr_http_client_completed_count", "Count of completed requests", _HTTP)
        self.http_client_roundtrip_latency = h("dapr_http_client_roundtrip_latency", "Time between first byte of request headers sent to last byte of response received, or terminal error", _HTTP, lat)
        self.http_client_sent_bytes = h("dapr_http_client_sent_bytes", "Total bytes sent in request body (not including headers)", _HTTP, size)
        self.http_client_received_bytes = h("dapr_http_client_received_bytes", "Total bytes received in response bodies (not including headers but including error responses with bodies)", ("app_id",), size)
        self.http_healthprobes_completed_count = c("dapr_http_healthprobes_completed_count", "Count of completed health probes", ("app_id", "status"))
        self.http_healthprobes_roundtrip_latency = h("dapr_http_healthprobes_roundtrip_latency", "Time between first byte of health probes headers sent to last byte of response received, or terminal error", ("app_id", "status"), lat)

        # gRPC server (the public API)
        server = ("app_id", "grpc_server_method", "grpc_server_status")
        self.grpc_server_completed_rpcs = c("dapr_grpc_io_server_completed_rpcs", "Count of RPCs by method and status.", server)
        self.grpc_server_latency = h("dapr_grpc_io_server_server_latency", "Time between first byte of request received to last byte of response sent, or terminal error.", server, lat)
        self.grpc_server_sent_bytes = h("dapr_grpc_io_server_sent_bytes_per_rpc", "Distribution of total bytes sent per RPC, by method.", ("app_id", "grpc_server_method"), size)
        self.grpc_server_received_bytes = h("dapr_grpc_io_server_received_bytes_per_rpc", "Total bytes received across all messages per RPC.", ("app_id", "grpc_server_method"), size)
        # gRPC client (the app channel to a gRPC app)
        client = ("app_id", "grpc_client_method", "grpc_client_status")
        self.grpc_client_completed_rpcs = c("dapr_grpc_io_client_completed_rpcs", "Count of RPCs by method and status.", client)
        self.grpc_client_roundtrip_latency = h("dapr_grpc_io_client_roundtrip_latency", "Time between first byte of request sent to last byte of response received, or terminal error.", client, lat)
        self.grpc_client_received_bytes = h("dapr_grpc_io_client_received_bytes_per_rpc", "Distribution of total bytes received per RPC, by method.", ("app_id", "grpc_client_method"), size)
        self.grpc_client_sent_bytes = h("dapr_grpc_io_client_sent_bytes_per_rpc", "Total bytes sent across all request messages per RPC.", ("app_id", "grpc_client_method"), size)
        self.grpc_healthprobes_completed_count = c("dapr_grpc_io_healthprobes_completed_count", "Count of completed health probes", ("app_id", "grpc_client_status"))
        self.grpc_healthprobes_roundtrip_latency = h("dapr_grpc_io_healthprobes_roundtrip_latency", "Time between first byte of health probes sent to last byte of response received, or terminal error", ("app_id", "grpc_client_status"), lat)

        # Service invocation between sidecars
        self.invocation_req_sent = c("dapr_runtime_service_invocation_req_sent_total", "The number of requests sent via service invocation.", ("app_id", "dst_app_id", "type"))
        self.invocation_res_recv = c("dapr_runtime_service_invocation_res_recv_total", "The number of responses received via service invocation.", ("app_id", "src_app_id", "status", "type"))
        self.invocation_res_recv_latency = h("dapr_runtime_service_invocation_res_recv_latency_ms", "The latency of service invocation response.", ("app_id", "src_app_id", "status"), lat)
        self.invocation_req_recv = c("dapr_runtime_service_invocation_req_recv_total", "The number of requests received via service invocation.", ("app_id", "src_app_id"))
        self.invocation_res_sent = c("dapr_runtime_service_invocation_res_sent_total", "The number of responses sent via service invocation.", ("app_id", "dst_app_id", "status"))

        # Components
        ingress = ("app_id", "component", "namespace", "process_status", "topic", "status")
        egress = ("app_id", "component", "namespace", "success", "topic")
        self.pubsub_ingress_count = c("dapr_component_pubsub_ingress_count", "The number of incoming messages arriving from the pub/sub component.", ingress)
        self.pubsub_ingress_latencies = h("dapr_component_pubsub_ingress_latencies", "The consuming app event processing latency.", ingress, lat)
        self.pubsub_ingress_bulk_count = c("dapr_component_pubsub_ingress_bulk_count", "The number of incoming bulk subscribe calls arriving from the bulk pub/sub component.", ingress[:-1])
        self.pubsub_ingress_bulk_event_count = c("dapr_component_pubsub_ingress_bulk_event_count", "Total number of incoming messages arriving from the bulk pub/sub component via Bulk Subscribe.", ingress[:-1])
        self.pubsub_ingress_bulk_latencies = h("dapr_component_pubsub_ingress_bulk_latencies", "The consuming app event processing latency for the bulk pub/sub component.", ingress[:-1], lat)
        self.pubsub_egress_count = c("dapr_component_pubsub_egress_count", "The number of outgoing messages published to the pub/sub component.", egress)
        self.pubsub_egress_latencies = h("dapr_component_pubsub_egress_latencies", "The latency of the response from the pub/sub component.", egress, lat)
        self.pubsub_egress_bulk_count = c("dapr_component_pubsub_egress_bulk_count", "The number of bulk publish calls to the pub/sub component.", egress)
        self.pubsub_egress_bulk_latencies = h("dapr_component_pubsub_egress_bulk_latencies", "The latency of the response for the bulk publish call from the pub/sub component.", egress, lat)
        binding_in = ("app_id", "component", "namespace", "success")
        self.input_binding_count = c("dapr_component_input_binding_count", "The number of incoming events arriving from the input binding component.", binding_in)
        self.input_binding_latencies = h("dapr_component_input_binding_latencies", "The triggered app event processing latency.", binding_in, lat)
        self.output_binding_count = c("dapr_component_output_binding_count", "The number of operations invoked on the output binding component.", _COMPONENT_OP)
        self.output_binding_latencies = h("dapr_component_output_binding_latencies", "The latency of the response from the output binding component.", _COMPONENT_OP, lat)
        self.state_count = c("dapr_component_state_count", "The number of operations performed on the state component.", _COMPONENT_OP)
        self.state_latencies = h("dapr_component_state_latencies", "The latency of the response from the state component.", _COMPONENT_OP, lat)
        self.configuration_count = c("dapr_component_configuration_count", "The number of operations performed on the configuration component.", _COMPONENT_OP)
        self.configuration_latencies = h("dapr_component_configuration_latencies", "The latency of the response from the configuration component.", _COMPONENT_OP, lat)
        self.secret_count = c("dapr_component_secret_count", "The number of operations performed on the secret component.", _COMPONENT_OP)
        self.secret_latencies = h("dapr_component_secret_latencies", "The latency of the response from the secret component.", _COMPONENT_OP, lat)
        self.crypto_count = c("dapr_component_crypto_count", "The number of operations performed on the crypto component.", _COMPONENT_OP)
        self.crypto_latencies = h("dapr_component_crypto_latencies", "The latency of the response from the crypto component.", _COMPONENT_OP, lat)
        conversation = ("app_id", "component", "namespace", "success")
        self.conversation_count = c("dapr_component_conversation_count", "The number of operations performed on the conversation component.", conversation)
        self.conversation_latencies = h("dapr_component_conversation_latencies", "The latency of the response from the conversation component.", conversation, lat)

        # Runtime, at startup
        self.component_loaded = c("dapr_runtime_component_loaded", "The number of successfully loaded components.", ("app_id",))
        self.component_init = c("dapr_runtime_component_init_total", "The number of initialized components.", ("app_id", "component"))
        self.component_init_fail = c("dapr_runtime_component_init_fail_total", "The number of component initialization failures.", ("app_id", "component", "reason", "componentName"))
        self.mtls_init = c("dapr_runtime_mtls_init_total", "The number of successful mTLS authenticator initialization.", ("app_id",))

    def _counter(self, name: str, doc: str, labels: Sequence[str]) -> CounterFamily:
        family = CounterFamily(name, doc, labels, self._relabel.for_metric(name, labels))
        self.families.append(family)
        return family

    def _histogram(self, name: str, doc: str, labels: Sequence[str], bounds: Sequence[float]) -> HistogramFamily:
        family = HistogramFamily(name, doc, labels, bounds, self._relabel.for_metric(name, labels))
        self.families.append(family)
        return family
