"""spec.api rules compiled as daprd matches them (pkg/api/http/endpoints, pkg/api/grpc/endpoints.go)."""

from __future__ import annotations

from pydapr.api.access import ApiAccess
from pydapr.resources import Configuration
from pydapr.resources.models import APIRule


def _access(allowed: tuple[APIRule, ...] = (), denied: tuple[APIRule, ...] = ()) -> ApiAccess:
    return ApiAccess.from_configuration(Configuration(api_allowed=allowed, api_denied=denied))


def test_no_rules_serve_everything() -> None:
    access = _access()
    assert access.serves_route("/v1.0/state/{storeName}/{key}")
    assert access.serves_method("/dapr.proto.runtime.v1.Dapr/GetState")


def test_http_rule_by_group_version_or_url_prefix() -> None:
    by_group = _access(allowed=(APIRule("state", "v1", "http"),))
    by_url = _access(allowed=(APIRule("state", "v1.0", "http"),))
    for access in (by_group, by_url):
        assert access.serves_route("/v1.0/state/{storeName}/{key}")
        assert not access.serves_route("/v1.0/publish/{pubsubname}/{topic:*}")
    # The query API is group state v1alpha1: not covered by a v1 rule, covered by its own.
    assert not by_group.serves_route("/v1.0-alpha1/state/{storeName}/query")
    assert _access(allowed=(APIRule("state", "v1alpha1", "http"),)).serves_route(
        "/v1.0-alpha1/state/{storeName}/query"
    )
    # daprd's legacy match is a plain prefix of "<version>/<route>".
    assert _access(allowed=(APIRule("st", "v1.0", "http"),)).serves_route("/v1.0/state/{storeName}")


def test_denied_wins_and_healthz_is_always_served() -> None:
    access = _access(
        allowed=(APIRule("metadata", "v1", "http"),), denied=(APIRule("metadata", "v1.0", "http"),)
    )
    assert not access.serves_route("/v1.0/metadata")
    assert access.serves_route("/v1.0/healthz")
    assert access.serves_route("/v1.0/healthz/outbound")


def test_rules_apply_only_to_their_protocol() -> None:
    access = _access(denied=(APIRule("state", "v1", "grpc"),))
    assert access.serves_route("/v1.0/state/{storeName}/{key}")
    assert not access.serves_method("/dapr.proto.runtime.v1.Dapr/SaveState")
    assert access.serves_method("/dapr.proto.runtime.v1.Dapr/QueryStateAlpha1")  # state.v1alpha1


def test_grpc_allowlist_ignores_proxied_methods() -> None:
    access = _access(allowed=(APIRule("publish", "v1", "grpc"),))
    assert access.serves_method("/dapr.proto.runtime.v1.Dapr/PublishEvent")
    assert access.serves_method("/dapr.proto.runtime.v1.Dapr/BulkPublishEvent")
    assert not access.serves_method("/dapr.proto.runtime.v1.Dapr/GetState")
    assert access.serves_method("/helloworld.Greeter/SayHello")  # an app's own service, proxied


def test_rule_without_protocol_applies_nowhere_and_is_reported() -> None:
    access = _access(denied=(APIRule("state", "v1.0", None),))
    assert access.serves_route("/v1.0/state/{storeName}/{key}")
    assert access.serves_method("/dapr.proto.runtime.v1.Dapr/GetState")
    (problem,) = access.problems("config.yaml")
    assert "config.yaml" in problem and "state/v1.0" in problem and "no protocol" in problem
