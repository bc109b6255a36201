"""``bindings.redis``: an output binding for Redis strings (components-contrib bindings/redis).

Metadata: common Redis metadata (``redisHost`` ...). Operations with request metadata ``key``:
``create`` (SET the data; ``ttlInSeconds`` sets an expiry), ``get`` (answers the value; none when
absent), ``delete``.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from pydapr.bindings.contract import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from pydapr.components.base import ComponentMetadata
from pydapr.lock._redis_client import redis_client


class RedisBinding(OutputBinding):
    def __init__(self) -> None:
        self._client: aioredis.Redis | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self._client = redis_client(metadata)
        await self._client.ping()

    def operations(self) -> tuple[str, ...]:
        return ("create", "get", "delete")

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        assert self._client is not None, "bindings.redis used before init"
        key = request.metadata.get("key", "")
        if not key:
            raise BindingError("required metadata 'key' missing")
        if request.operation == "create":
            ttl_text = request.metadata.get("ttlInSeconds", "")
            try:
                ttl = int(ttl_text) if ttl_text else None
            except ValueError:
                raise BindingError(f"ttlInSeconds must be an integer, got {ttl_text!r}") from None
            await self._client.set(key, request.data, ex=ttl if ttl and ttl > 0 else None)
            return InvokeResponse()
        if request.operation == "get":
            value = await self._client.get(key)
            if value is None:
                return InvokeResponse()
            return InvokeResponse(value if isinstance(value, bytes) else str(value).encode())
        await self._client.delete(key)
        return InvokeResponse()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
