"""Dapr's conversation HTTP routes (``POST /v1.0-alpha1|alpha2/conversation/{name}/converse``).

As daprd's universal handler does, the body is the protobuf JSON of the gRPC request (field names
in JSON or proto spelling, unknown fields ignored) and the answer the protobuf JSON of the gRPC
response (camelCase names, 64-bit counts as strings, empty fields left out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from pydapr.api.grpc.wire import runtime
from pydapr.api.http.router import Router
from pydapr.conversation import errors as E
from pydapr.http.messages import Request, Response

if TYPE_CHECKING:
    from pydapr.conversation.api import ConversationAPI


def _json_format() -> Any:
    """protobuf's JSON module, imported by the first conversation request rather than at startup."""
    # The well-known types are imported for their side effect: ``parameters`` values are Any, whose
    # JSON form names its type, which must be in the descriptor pool (daprd links them the same way).
    from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2, wrappers_pb2  # noqa: F401

    return json_format


def _parse(body: bytes, message: Any) -> Any:
    json_format = _json_format()
    if body:
        try:
            json_format.Parse(body.decode("utf-8"), message, ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            raise E.MALFORMED_REQUEST(exc) from None
    return message


def _answer(message: Any) -> Response:
    json_format = _json_format()
    return Response.json(msgspec.json.encode(json_format.MessageToDict(message)))


def register(router: Router, api: Callable[[], ConversationAPI]) -> None:
    """``api`` gives the block's API on first use: the mapping and the conversation model are
    imported by the first request, so a sidecar without conversation components never loads them."""

    async def alpha1(req: Request, params: dict[str, str]) -> Response:
        from pydapr.api.grpc import conversation as mapping

        msg = _parse(req.body, runtime.ConversationRequest())
        msg.name = params["name"]
        results = await api().converse_alpha1(mapping.alpha1_request(msg))
        return _answer(mapping.alpha1_response(msg, results))

    async def alpha2(req: Request, params: dict[str, str]) -> Response:
        from pydapr.api.grpc import conversation as mapping

        msg = _parse(req.body, runtime.ConversationRequestAlpha2())
        msg.name = params["name"]
        result = await api().converse_alpha2(mapping.alpha2_request(msg))
        return _answer(mapping.alpha2_response(msg, result))

    router.add("POST", "/v1.0-alpha1/conversation/{name}/converse", alpha1)
    if runtime.has("ConversationRequestAlpha2"):
        router.add("POST", "/v1.0-alpha2/conversation/{name}/converse", alpha2)
