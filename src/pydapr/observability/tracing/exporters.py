"""The span exporters a Configuration's ``spec.tracing`` names, built as daprd builds them
(pkg/diagnostics/tracing.go): Zipkin JSON v2, OTLP over gRPC or HTTP/protobuf, stdout."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydapr.resources.models import TracingSpec

if TYPE_CHECKING:
    # The SDK is imported only for a spec that names an exporter (see the package's docstring).
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("pydapr.tracing")

OTLP_HTTP_PATH = "/v1/traces"


def build_exporters(spec: TracingSpec) -> list[SpanExporter]:
    """One exporter per destination the spec names (none: spans are sampled but go nowhere)."""
    out: list[SpanExporter] = []
    if spec.zipkin_endpoint:
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        out.append(ZipkinExporter(endpoint=spec.zipkin_endpoint))
    if spec.otel_endpoint:
        out.append(_otlp(spec))
    if spec.stdout:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        out.append(ConsoleSpanExporter(service_name=None))
    return out


def otlp_headers(spec: TracingSpec) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in spec.otel_headers:
        if item.value is None:
            # A secretKeyRef header: daprd reads only plain values here too.
            log.warning("spec.tracing.otel.headers: %s comes from a secret store and is not sent", item.name)
            continue
        headers[item.name] = item.value
    return headers


def _otlp(spec: TracingSpec) -> SpanExporter:
    assert spec.otel_endpoint is not None
    headers = otlp_headers(spec)
    timeout = spec.otel_timeout  # seconds; None = the exporter's default (10 s, as daprd)
    if spec.otel_protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(
            endpoint=otlp_http_url(spec.otel_endpoint, spec.otel_is_secure), headers=headers, timeout=timeout
        )
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(
        endpoint=otlp_grpc_target(spec.otel_endpoint),
        insecure=not spec.otel_is_secure,
        headers=headers,
        timeout=timeout,
    )


def otlp_http_url(endpoint: str, secure: bool) -> str:
    """daprd's ``endpointAddress`` is ``host:port`` (the scheme from ``isSecure``, the path
    ``/v1/traces``); a full URL is taken as given, with the path added when it has none."""
    if "://" not in endpoint:
        return f"{'https' if secure else 'http'}://{endpoint.rstrip('/')}{OTLP_HTTP_PATH}"
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + OTLP_HTTP_PATH
    return endpoint


def otlp_grpc_target(endpoint: str) -> str:
    """``host:port`` for the gRPC exporter (a scheme written in the address is dropped)."""
    if "://" in endpoint:
        return urlsplit(endpoint).netloc or endpoint
    return endpoint
