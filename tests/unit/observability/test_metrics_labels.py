"""The label values metrics may take: daprd's path rules, verbs and spec.metric.rules."""

from __future__ import annotations

import pytest

from pydapr.observability.metrics.labels import HttpLabels, PathMatcher, Relabel, apply_rewrites, legacy_path
from pydapr.resources.models import MetricRule, MetricSpec


def test_default_drops_the_path_whatever_the_url() -> None:
    labels = HttpLabels(MetricSpec())
    assert {labels.path(f"/v1.0/state/s/key-{i}") for i in range(1000)} == {""}
    assert labels.path("/v1.0/invoke/app/method/orders/17") == ""
    # the app channel's own calls keep their static path, the server drops even those
    assert labels.path("/dapr/config") == "/dapr/config"
    assert labels.path("/dapr/config", server=True) == ""


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/v1.0/state/store/key1", "/v1.0/state/store"),
        ("/v1.0/secrets/vault/name", "/v1.0/secrets/vault"),
        ("/v1.0/actors/Demo/1/method/m", "/v1.0/actors/Demo/{id}/method"),
        ("/actors/Demo/1/method/m", "actors/Demo/{id}/method/m"),
        ("/v1.0-beta1/workflows/dapr/abc", "/v1.0-beta1/workflows/dapr/{instanceId}"),
        ("/v1.0-beta1/workflows/dapr/wf/start", "/v1.0-beta1/workflows/dapr/wf/start"),
        (
            "/v1.0-beta1/workflows/dapr/abc/raiseEvent/ev",
            "/v1.0-beta1/workflows/dapr/{instanceId}/raiseEvent/{eventName}",
        ),
        ("/v1.0/invoke/app/method/orders/17", "/v1.0/invoke/app/method/orders/17"),
        ("//v1.0//healthz", "/v1.0/healthz"),
    ],
)
def test_increased_cardinality_is_daprs_legacy_label(path: str, label: str) -> None:
    assert legacy_path(path) == label
    assert HttpLabels(MetricSpec(increased_cardinality=True)).path(path) == label


def test_path_matching_gives_the_pattern_and_drops_the_rest() -> None:
    labels = HttpLabels(MetricSpec(path_matching=("/orders/{orderID}", "/static/")))
    assert labels.path("/orders/123") == "/orders/{orderID}"
    assert labels.path("/v1.0/invoke/shop/method/orders/9") == "/v1.0/invoke/{app_id}/method/orders/{orderID}"
    assert labels.path("/static/css/site.css") == "/static/"
    assert labels.path("/users/1") == ""
    assert labels.path("/orders/1/items") == ""


def test_the_most_specific_pattern_wins() -> None:
    matcher = PathMatcher(["/orders/{id}", "/orders/special", "/"])
    assert matcher.match("/orders/special") == "/orders/special"
    assert matcher.match("/orders/7") == "/orders/{id}"
    assert matcher.match("/anything/else") == "/"


def test_path_matching_with_increased_cardinality_keeps_unmatched_paths_legacy() -> None:
    labels = HttpLabels(MetricSpec(increased_cardinality=True, path_matching=("/orders/{id}",)))
    assert labels.path("/orders/5") == "/orders/{id}"
    assert labels.path("/v1.0/state/s/k") == "/v1.0/state/s"


def test_verbs_are_bounded_and_can_be_excluded() -> None:
    labels = HttpLabels(MetricSpec())
    assert labels.method("GET") == "GET"
    assert labels.method("BREW") == "UNKNOWN"
    assert HttpLabels(MetricSpec(exclude_verbs=True)).method("GET") == ""


def test_rules_rewrite_one_label_of_one_metric_with_go_replacements() -> None:
    rule = MetricRule(
        name="dapr_runtime_service_invocation_req_sent_total",
        labels=(("dst_app_id", (("app-$1", r"^orders-(\w+)-\d+$"),)),),
    )
    relabel = Relabel([rule])
    names = ("app_id", "dst_app_id", "type")
    rewrites = relabel.for_metric("dapr_runtime_service_invocation_req_sent_total", names)
    assert apply_rewrites(("me", "orders-eu-17", "unary"), rewrites) == ("me", "app-eu", "unary")
    assert relabel.for_metric("dapr_http_server_request_count", ("app_id", "dst_app_id")) == []
    # the metric may be named without daprd's dapr_ prefix, as daprd's CreateRulesMap strips it
    short = Relabel([MetricRule(name="runtime_service_invocation_req_sent_total", labels=rule.labels)])
    assert short.for_metric("dapr_runtime_service_invocation_req_sent_total", names)
