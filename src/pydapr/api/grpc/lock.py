"""``TryLockAlpha1`` and ``UnlockAlpha1`` over ``LockAPI``."""

from __future__ import annotations

from typing import Any

from dapr.proto.runtime.v1 import lock_pb2

from pydapr.lock.api import LockAPI


class LockGrpc:
    def __init__(self, api: LockAPI) -> None:
        self.api = api

    async def TryLockAlpha1(self, request: Any, context: Any) -> lock_pb2.TryLockResponse:
        ok = await self.api.try_lock(
            request.store_name, request.resource_id, request.lock_owner, request.expiry_in_seconds
        )
        return lock_pb2.TryLockResponse(success=ok)

    async def UnlockAlpha1(self, request: Any, context: Any) -> lock_pb2.UnlockResponse:
        status = await self.api.unlock(request.store_name, request.resource_id, request.lock_owner)
        return lock_pb2.UnlockResponse(status=lock_pb2.UnlockResponse.Status.ValueType(int(status)))
