"""Every middleware type Dapr registers resolves, is an HttpMiddleware, and gives a middleware after init."""

from __future__ import annotations

import pytest

from pydapr.components.registry import registry
from pydapr.middleware import REGISTRY
from pydapr.middleware.contract import HttpMiddleware, status_response, text_response
from tests.unit.middleware.conftest import pipeline

KINDS = ["uppercase", "ratelimit", "routeralias", "routerchecker"]


@pytest.mark.parametrize("kind", [*KINDS, "bearer"])
def test_registered_as_daprd_names_it(kind: str) -> None:
    cls = registry.resolve(f"middleware.http.{kind}", "v1")
    assert issubclass(cls, HttpMiddleware)
    assert (f"middleware.http.{kind}", "v1") in REGISTRY


@pytest.mark.parametrize("kind", KINDS)
async def test_no_metadata_passes_requests(kind: str) -> None:
    p = await pipeline(kind)
    resp = await p.send("/v1.0/state/store", body=b"x")
    assert resp.status == 200
    assert p.echo.last.path == "/v1.0/state/store"


def test_plain_text_answers_as_contrib_writes_them() -> None:
    resp = text_response(400, "invalid router")
    assert (resp.status, resp.body) == (400, b"invalid router")
    assert resp.headers.get("content-type") == "text/plain; charset=utf-8"
    assert status_response(401).body == b"Unauthorized"
