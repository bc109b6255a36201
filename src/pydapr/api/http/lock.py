"""Dapr's lock HTTP routes (``POST /v1.0-alpha1/lock|unlock/{store}``) over ``LockAPI``.

Bodies are decoded as daprd's protojson does: a field is its JSON name (``resourceId``,
``lockOwner``, ``expiryInSeconds``) or its proto name (``resource_id``...), case-sensitive, other
keys ignored, and ``expiryInSeconds`` must fit the proto's int32 (else 400 ERR_MALFORMED_REQUEST).
Answers are ``{"success": bool}`` and ``{"status": <number>}`` as Dapr writes them.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from pydapr.api.http.jsonbody import BodyDecoder
from pydapr.api.http.router import Router
from pydapr.http.messages import Request, Response
from pydapr.lock import errors as E
from pydapr.lock.api import LockAPI

Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]


class _TryLockBody(msgspec.Struct, forbid_unknown_fields=True):
    # Field names are the wire names (protobuf JSON).
    resourceId: str = ""
    lockOwner: str = ""
    expiryInSeconds: Int32 = 0


class _UnlockBody(msgspec.Struct, forbid_unknown_fields=True):
    resourceId: str = ""
    lockOwner: str = ""


_TRY: BodyDecoder[_TryLockBody] = BodyDecoder(_TryLockBody, "protojson")
_UNLOCK: BodyDecoder[_UnlockBody] = BodyDecoder(_UnlockBody, "protojson")


def _decode(decoder: BodyDecoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body or b"{}")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise E.MALFORMED_REQUEST(exc) from None


def register(router: Router, api: LockAPI) -> None:
    async def try_lock(req: Request, params: dict[str, str]) -> Response:
        body: _TryLockBody = _decode(_TRY, req.body)
        ok = await api.try_lock(params["storeName"], body.resourceId, body.lockOwner, body.expiryInSeconds)
        return Response.json(msgspec.json.encode({"success": ok}))

    async def unlock(req: Request, params: dict[str, str]) -> Response:
        body: _UnlockBody = _decode(_UNLOCK, req.body)
        status = await api.unlock(params["storeName"], body.resourceId, body.lockOwner)
        return Response.json(msgspec.json.encode({"status": int(status)}))

    router.add("POST", "/v1.0-alpha1/lock/{storeName}", try_lock)
    router.add("POST", "/v1.0-alpha1/unlock/{storeName}", unlock)
