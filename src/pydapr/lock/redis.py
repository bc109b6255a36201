"""``lock.redis``: a lock is a key holding its owner, set with NX and an expiry; unlock is one Lua
script that deletes the key only when the caller owns it (components-contrib lock/redis)."""

from __future__ import annotations

import redis.asyncio as aioredis

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.lock._redis_client import redis_client
from pydapr.lock.contract import LockStore, UnlockStatus

# -1: no such lock, -2: held by someone else, 1: deleted.
_UNLOCK = """
local v = redis.call("GET", KEYS[1])
if v == false then return -1 end
if v ~= ARGV[1] then return -2 end
return redis.call("DEL", KEYS[1])
"""


class RedisLockStore(LockStore):
    def __init__(self) -> None:
        self._client: aioredis.Redis | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        # As in Dapr: a lock needs one primary, so failover/cluster setups are refused.
        if metadata.get_bool("failover", False):
            raise ComponentConfigError(metadata.name, "failover", "is not supported by lock.redis")
        if (metadata.get("redisType") or "node").lower() == "cluster":
            raise ComponentConfigError(metadata.name, "redisType", "cluster is not supported by lock.redis")
        self._client = redis_client(metadata)
        self._unlock = self._client.register_script(_UNLOCK)
        await self._client.ping()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def _c(self) -> aioredis.Redis:
        assert self._client is not None, "lock.redis used before init"
        return self._client

    async def try_lock(self, resource_id: str, owner: str, expiry_seconds: int) -> bool:
        return bool(await self._c.set(resource_id, owner, nx=True, ex=expiry_seconds))

    async def unlock(self, resource_id: str, owner: str) -> UnlockStatus:
        result = int(await self._unlock(keys=[resource_id], args=[owner]))
        if result == -1:
            return UnlockStatus.LOCK_DOES_NOT_EXIST
        if result == -2:
            return UnlockStatus.LOCK_BELONGS_TO_OTHERS
        return UnlockStatus.SUCCESS if result >= 1 else UnlockStatus.INTERNAL_ERROR
