"""The HTTP API's chain is chosen by daprd's endpoint group of the path."""

from __future__ import annotations

import asyncio
from typing import Any

from pydapr.api.api_logging import ApiLoggingSource
from pydapr.api.http.inbound import api_group, pipeline_middleware
from pydapr.http.messages import Headers, Request, Response
from pydapr.pipeline import Pipeline


def test_api_group() -> None:
    assert api_group("/v1.0/state/store/key") == "state"
    assert api_group("/v1.0-alpha1/state/store/query") == "state"
    assert api_group("/v1.0/healthz") == "healthz"
    assert api_group("/v1.0/healthz/outbound") == "healthz"
    assert api_group("/v1.0-alpha1/publish/bulk/p/t") == "publish"
    assert api_group("/orders/42") == "invoke"  # the dapr-app-id header fallback
    assert api_group("/") == "invoke"


def test_logging_step_sees_the_status(caplog: Any) -> None:
    pipeline = Pipeline([ApiLoggingSource(omit_health_checks=True)])
    middleware = pipeline_middleware(pipeline)

    async def handler(req: Request) -> Response:
        return Response(204, Headers(), b"")

    async def main() -> None:
        await middleware(Request("GET", "/v1.0/metadata", "", Headers(), b""), handler)
        await middleware(Request("GET", "/v1.0/healthz", "", Headers(), b""), handler)

    with caplog.at_level("INFO", logger="pydapr.runtime.http-info"):
        asyncio.run(main())
    lines = [(r.getMessage(), r.dapr_fields["method"], r.dapr_fields["code"]) for r in caplog.records]
    assert lines == [("HTTP API Called", "GET /v1.0/metadata", 204)], lines
