"""Delivers an invocation to the sidecar's own app, over HTTP or as a gRPC ``OnInvoke``."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2

from pydapr import errors
from pydapr.api.grpc.wire import common
from pydapr.http.client import ConnectError, HttpClientError, RequestTimeout
from pydapr.http.messages import Headers, Response
from pydapr.invoke import headers as h
from pydapr.invoke.codes import http_status_from_grpc
from pydapr.sidecar.app_channel import AppChannel

_VERBS = {name: value for name, value in common.HTTPExtension.Verb.items()}


async def deliver_to_app(
    channel: AppChannel, app_id: str, method: str, verb: str, query: str, headers: Headers, body: bytes
) -> Response:
    if channel.protocol == "grpc":
        return await _deliver_grpc(channel, app_id, method, verb, query, headers, body)
    try:
        return await channel.http(verb, "/" + method.lstrip("/"), query=query, headers=headers, body=body)
    except ConnectError as exc:
        raise errors.DIRECT_INVOKE(app_id, f"app not reachable on its port: {exc}") from exc
    except RequestTimeout as exc:
        raise errors.DIRECT_INVOKE(app_id, f"app did not answer in time: {exc}") from exc
    except HttpClientError as exc:
        raise errors.DIRECT_INVOKE(app_id, f"app closed the connection: {exc}") from exc


async def _deliver_grpc(
    channel: AppChannel, app_id: str, method: str, verb: str, query: str, headers: Headers, body: bytes
) -> Response:
    content_type = headers.get("content-type") or ""
    request = common.InvokeRequest(
        method=method,
        data=any_pb2.Any(value=body),
        content_type=content_type,
        http_extension=common.HTTPExtension(verb=_VERBS.get(verb, _VERBS["POST"]), querystring=query),
    )
    metadata = (*h.to_grpc_metadata(headers), *channel.grpc_metadata())
    try:
        async with channel.slot():
            call = channel.callback_stub().OnInvoke(request, metadata=metadata)
            reply: Any = await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            raise errors.DIRECT_INVOKE(app_id, f"app not reachable: {exc.details()}") from exc
        status = http_status_from_grpc(exc.code())
        import msgspec

        payload = msgspec.json.encode(
            {"code": exc.code().value[0], "message": exc.details() or "", "details": []}
        )
        return Response(
            status,
            Headers.from_lowercase(
                [
                    ("content-type", "application/json"),
                    (h.GRPC_STATUS, str(exc.code().value[0])),
                    (h.GRPC_MESSAGE, exc.details() or ""),
                ]
            ),
            payload,
        )
    out = Headers()
    if reply.content_type:
        out.add("content-type", reply.content_type)
    return Response(200, out, reply.data.value)
