"""The route a request matched is known after routing, for logs and metrics that must not carry
one label value per distinct path (Configuration metric.http.increasedCardinality false)."""

from __future__ import annotations

from pydapr.api.http.dispatch import Routes
from pydapr.api.http.router import Router
from pydapr.http.messages import Request, Response


async def ok(req: Request, params: dict[str, str]) -> Response:
    return Response(200)


def test_match_route_names_the_pattern_for_params_and_catch_all() -> None:
    router = Router()
    router.add("GET", "/v1.0/state/{storeName}/{key}", ok)
    router.add("*", "/v1.0/invoke/{id}/method/{method:*}", ok)
    found = router.match_route("GET", "/v1.0/state/s1/k%2F1")
    assert found is not None
    assert found[1:] == ({"storeName": "s1", "key": "k/1"}, "/v1.0/state/{storeName}/{key}")
    found = router.match_route("POST", "/v1.0/invoke/app/method/a/b/c")
    assert found is not None and found[2] == "/v1.0/invoke/{id}/method/{method:*}"
    assert router.match_route("GET", "/v1.0/nothing") is None


async def test_the_request_carries_its_route_after_dispatch() -> None:
    router = Router()
    router.add("GET", "/v1.0/metadata", ok)
    req = Request("GET", "/v1.0/metadata")
    assert req.route == ""
    resp = await Routes(router, None)(req)
    assert (resp.status, req.route) == (200, "/v1.0/metadata")
