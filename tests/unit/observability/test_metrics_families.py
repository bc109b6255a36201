"""The text a scrape reads: daprd's series names (no _total added), cumulative buckets in ms."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from pydapr.observability.metrics.families import CounterFamily, FamilyCollector, HistogramFamily, render


def test_counters_keep_daprs_names_and_histograms_are_cumulative() -> None:
    count = CounterFamily("dapr_http_server_request_count", "Requests.", ("app_id", "status"))
    total = CounterFamily("dapr_runtime_service_invocation_req_sent_total", "Sent.", ("app_id",))
    latency = HistogramFamily("dapr_http_server_latency", "Latency.", ("app_id",), (1, 2, 5))
    count.inc(("a", "200"))
    count.inc(("a", "200"))
    total.inc(("a",))
    for value in (0.5, 1.0, 3.0, 7.0):
        latency.observe(("a",), value)
    registry = CollectorRegistry()
    registry.register(FamilyCollector([count, total, latency, CounterFamily("dapr_unused", "x", ())]))
    text = render(registry).decode()
    assert "# TYPE dapr_http_server_request_count counter\n" in text
    assert 'dapr_http_server_request_count{app_id="a",status="200"} 2.0\n' in text
    assert "_count_total" not in text
    assert "# TYPE dapr_runtime_service_invocation_req_sent_total counter\n" in text
    assert 'dapr_runtime_service_invocation_req_sent_total{app_id="a"} 1.0\n' in text
    # daprd's OpenCensus views put a value equal to a bound in the next bucket: 1.0 is not in le="1".
    assert 'dapr_http_server_latency_bucket{app_id="a",le="1"} 1.0\n' in text
    assert 'dapr_http_server_latency_bucket{app_id="a",le="2"} 2.0\n' in text
    assert 'dapr_http_server_latency_bucket{app_id="a",le="5"} 3.0\n' in text
    assert 'dapr_http_server_latency_bucket{app_id="a",le="+Inf"} 4.0\n' in text
    assert 'dapr_http_server_latency_sum{app_id="a"} 11.5\n' in text
    assert 'dapr_http_server_latency_count{app_id="a"} 4.0\n' in text
    assert "dapr_unused" not in text  # a family with no sample is not exported, as daprd's views
