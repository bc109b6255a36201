"""Answers ERR_API_UNIMPLEMENTED for Dapr HTTP APIs that no installed building block serves yet.

Registered last and only as catch-alls, so any block that serves a route wins over these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydapr import errors
from pydapr.http.messages import Request, Response
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router

# (route prefix, API name) for every Dapr HTTP API family (dapr/dapr pkg/api/http/*.go).
DAPR_HTTP_APIS = (
    ("/v1.0/state", "state"),
    ("/v1.0-alpha1/state", "state query"),
    ("/v1.0/publish", "publish"),
    ("/v1.0-alpha1/publish", "bulk publish"),
    ("/v1.0/bindings", "bindings"),
    ("/v1.0/secrets", "secrets"),
    ("/v1.0/configuration", "configuration"),
    ("/v1.0-alpha1/configuration", "configuration"),
    ("/v1.0-alpha1/lock", "lock"),
    ("/v1.0-alpha1/unlock", "lock"),
    ("/v1.0-alpha1/jobs", "jobs"),
    ("/v1.0/jobs", "jobs"),
    ("/v1.0-alpha1/crypto", "crypto"),
    ("/v1.0-alpha1/subtlecrypto", "subtle crypto"),
    ("/v1.0/workflows", "workflows"),
    ("/v1.0-beta1/workflows", "workflows"),
    ("/v1.0-alpha1/workflows", "workflows"),
    ("/v1.0-alpha1/conversation", "conversation"),
    ("/v1.0-alpha2/conversation", "conversation"),
)


class UnimplementedBlock(BuildingBlock):
    name = "unimplemented"

    def register_http(self, router: Router) -> None:
        for prefix, api in DAPR_HTTP_APIS:
            router.add("*", prefix + "/{rest:*}", self._handler(api))

    @staticmethod
    def _handler(api: str):  # type: ignore[no-untyped-def]
        async def handle(req: Request, params: dict[str, str]) -> Response:
            raise errors.API_UNIMPLEMENTED(api)

        return handle
