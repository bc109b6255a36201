"""The OTLP exporter from the OpenTelemetry environment variables, as daprd reads them."""

from __future__ import annotations

import pytest

from pydapr.observability.tracing.otlp_env import parse_headers, with_environment
from pydapr.resources.models import MetadataItem, TracingSpec


def test_an_endpoint_from_the_environment_exports_every_trace_over_grpc_by_default() -> None:
    spec = with_environment(TracingSpec(), {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317"})
    assert spec.otel_endpoint == "collector:4317"
    assert spec.otel_protocol == "grpc" and spec.otel_is_secure
    assert spec.sampling_rate == 1.0


def test_traces_variables_win_and_a_given_rate_is_kept() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://everything:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": " api-key = s%20ecret ,b=2",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1500",
    }
    spec = with_environment(TracingSpec(sampling_rate=0.5, sampling_rate_given=True), env)
    assert (spec.otel_endpoint, spec.otel_protocol, spec.otel_is_secure) == ("traces:4318", "http", False)
    assert spec.otel_headers == (MetadataItem("api-key", "s ecret"), MetadataItem("b", "2"))
    assert spec.otel_timeout == 1.5 and spec.sampling_rate == 0.5


def test_a_configured_endpoint_is_not_overridden() -> None:
    mine = TracingSpec(otel_endpoint="mine:4317", otel_protocol="grpc")
    assert with_environment(mine, {"OTEL_EXPORTER_OTLP_ENDPOINT": "other:4317"}) is mine
    assert with_environment(TracingSpec(), {}) == TracingSpec()


@pytest.mark.parametrize(
    ("value", "said"),
    [("novalue", "missing '='"), ("bad name=1", "invalid OTLP exporter header name 'bad name'")],
)
def test_headers_that_do_not_parse_are_an_error(value: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_headers(value)
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_"):
        with_environment(TracingSpec(), {"OTEL_EXPORTER_OTLP_HEADERS": value})


def test_a_timeout_that_is_not_milliseconds_is_an_error() -> None:
    with pytest.raises(ValueError, match="TIMEOUT: '2s' is not in ms"):
        with_environment(TracingSpec(), {"OTEL_EXPORTER_OTLP_TIMEOUT": "2s"})
