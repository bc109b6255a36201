"""Dapr's secrets HTTP routes (``GET /v1.0/secrets/{store}/{key}`` and ``/bulk``) over ``SecretsAPI``."""

from __future__ import annotations

from urllib.parse import parse_qsl

import msgspec

from pydapr.api.http.router import Router
from pydapr.http.messages import Request, Response
from pydapr.secrets.api import SecretsAPI

METADATA_PREFIX = "metadata."


def request_metadata(req: Request) -> dict[str, str]:
    """``metadata.<name>=<value>`` query parameters; the first value of a name wins."""
    meta: dict[str, str] = {}
    for name, value in parse_qsl(req.query, keep_blank_values=True):
        if name.startswith(METADATA_PREFIX):
            meta.setdefault(name[len(METADATA_PREFIX) :], value)
    return meta


def register(router: Router, api: SecretsAPI) -> None:
    async def get_secret(req: Request, params: dict[str, str]) -> Response:
        data = await api.get(params["secretStoreName"], params["key"], request_metadata(req))
        return Response.json(msgspec.json.encode(data))

    async def bulk(req: Request, params: dict[str, str]) -> Response:
        data = await api.bulk_get(params["secretStoreName"], request_metadata(req))
        return Response.json(msgspec.json.encode(data))

    # The literal "bulk" wins over a key of that name, as with Dapr's router.
    router.add("GET", "/v1.0/secrets/{secretStoreName}/bulk", bulk)
    router.add("GET", "/v1.0/secrets/{secretStoreName}/{key}", get_secret)
