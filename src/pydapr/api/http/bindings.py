"""Dapr's output binding HTTP route, ``POST|PUT /v1.0/bindings/{name}``, over ``BindingsAPI``.

Body ``{"data": <any JSON>, "metadata": {...}, "operation": "create"}``: a JSON string is passed to
the binding as its text, anything else as its JSON encoding. The answer is the binding's data
(200, or 204 when it has none) with its metadata as ``metadata.<name>`` headers.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import msgspec

from pydapr.api.http.jsonbody import BodyDecoder
from pydapr.api.http.router import Router
from pydapr.bindings import errors as E
from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import InvokeRequest
from pydapr.http.messages import Headers, Request, Response


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    data: msgspec.Raw = msgspec.Raw(b"null")
    metadata: dict[str, str] | None = None
    operation: str = ""


_DECODER: BodyDecoder[_Body] = BodyDecoder(_Body)


def request_data(raw: bytes) -> bytes:
    if raw in (b"", b"null"):
        return b""
    if raw.startswith(b'"'):
        text: str = msgspec.json.decode(raw)
        return text.encode()
    return raw


def register(router: Router, api: BindingsAPI) -> None:
    async def invoke(req: Request, params: dict[str, str]) -> Response:
        try:
            body = _DECODER.decode(req.body or b"{}")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise E.MALFORMED_REQUEST(str(exc)) from None
        metadata = dict(body.metadata or {})
        for name, value in parse_qsl(req.query, keep_blank_values=True):
            if name.startswith("metadata."):
                metadata.setdefault(name[len("metadata.") :], value)
        result = await api.invoke(
            params["name"], InvokeRequest(body.operation, request_data(bytes(body.data)), metadata)
        )
        headers = Headers([("metadata." + k, v) for k, v in result.metadata.items() if "\n" not in v])
        if not result.data:
            return Response(204, headers)
        return Response(200, headers, result.data)

    router.add(("POST", "PUT"), "/v1.0/bindings/{name}", invoke)
