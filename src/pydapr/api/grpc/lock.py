"""``TryLockAlpha1`` and ``UnlockAlpha1`` over ``LockAPI``."""

from __future__ import annotations

from typing import Any

from pydapr.api.grpc.wire import runtime
from pydapr.lock.api import LockAPI


class LockGrpc:
    def __init__(self, api: LockAPI) -> None:
        self.api = api

    async def TryLockAlpha1(self, request: Any, context: Any) -> Any:
        ok = await self.api.try_lock(
            request.store_name, request.resource_id, request.lock_owner, request.expiry_in_seconds
        )
        return runtime.TryLockResponse(success=ok)

    async def UnlockAlpha1(self, request: Any, context: Any) -> Any:
        status = await self.api.unlock(request.store_name, request.resource_id, request.lock_owner)
        return runtime.UnlockResponse(status=runtime.UnlockResponse.Status.ValueType(int(status)))
