"""The exporters a Configuration's spec.tracing names, addressed as daprd addresses them."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from pydapr.observability.tracing.exporters import (
    build_exporters,
    otlp_grpc_target,
    otlp_headers,
    otlp_http_url,
)
from pydapr.resources.models import MetadataItem, SecretKeyRef, TracingSpec


def test_each_destination_named_gets_its_exporter() -> None:
    spec = TracingSpec(
        sampling_rate=1,
        stdout=True,
        zipkin_endpoint="http://localhost:9411/api/v2/spans",
        otel_endpoint="localhost:4317",
        otel_is_secure=False,
    )
    kinds = [type(e) for e in build_exporters(spec)]
    assert kinds == [ZipkinExporter, GrpcExporter, ConsoleSpanExporter]
    assert build_exporters(TracingSpec()) == []


def test_otlp_http_is_chosen_by_protocol() -> None:
    (exporter,) = build_exporters(
        TracingSpec(otel_endpoint="localhost:4318", otel_protocol="http", otel_is_secure=False)
    )
    assert isinstance(exporter, HttpExporter)


@pytest.mark.parametrize(
    ("endpoint", "secure", "url"),
    [
        ("localhost:4318", False, "http://localhost:4318/v1/traces"),
        ("collector:4318", True, "https://collector:4318/v1/traces"),
        ("http://collector:4318", True, "http://collector:4318/v1/traces"),
        ("http://collector:4318/custom/path", False, "http://collector:4318/custom/path"),
    ],
)
def test_otlp_http_url(endpoint: str, secure: bool, url: str) -> None:
    assert otlp_http_url(endpoint, secure) == url


def test_otlp_grpc_target_drops_a_scheme() -> None:
    assert otlp_grpc_target("localhost:4317") == "localhost:4317"
    assert otlp_grpc_target("http://collector:4317") == "collector:4317"


def test_otlp_headers_send_plain_values_only(caplog: pytest.LogCaptureFixture) -> None:
    spec = TracingSpec(
        otel_headers=(
            MetadataItem("api-key", "k1"),
            MetadataItem("secret", None, SecretKeyRef("s", "k")),
        )
    )
    assert otlp_headers(spec) == {"api-key": "k1"}
    assert "secret" in caplog.text
