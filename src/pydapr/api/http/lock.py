"""Dapr's lock HTTP routes (``POST /v1.0-alpha1/lock|unlock/{store}``) over ``LockAPI``.

Bodies use the protobuf JSON names (``resourceId``, ``lockOwner``, ``expiryInSeconds``); answers
are ``{"success": bool}`` and ``{"status": <number>}`` as Dapr writes them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pydapr.api.http.router import Router
from pydapr.http.messages import Request, Response
from pydapr.lock import errors as E
from pydapr.lock.api import LockAPI


class _TryLockBody(msgspec.Struct):
    # Field names are the wire names (protobuf JSON).
    resourceId: str = ""
    lockOwner: str = ""
    expiryInSeconds: int = 0


class _UnlockBody(msgspec.Struct):
    resourceId: str = ""
    lockOwner: str = ""


_TRY = msgspec.json.Decoder(_TryLockBody)
_UNLOCK = msgspec.json.Decoder(_UnlockBody)


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
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
