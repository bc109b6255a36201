"""``state.redis``: one hash per key (fields ``data`` and ``version``, Dapr's layout); TTL is Redis's own.

Every write, single or transactional, is one Lua script: it checks each operation's ETag or
first-write condition against the state as the earlier operations leave it, and only if all pass
applies them. A script runs atomically in Redis, so a failing operation leaves nothing applied.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.state import codec
from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_KEYS_LIKE,
    FEATURE_TRANSACTIONAL,
    FEATURE_TTL,
    DeleteRequest,
    ETagMismatch,
    GetRequest,
    KeyPage,
    Operation,
    SetRequest,
    StateItem,
    StateStore,
)

# ARGV holds 5 values per operation: kind (s|d), data, etag ("" = none), first-write (1|0), ttl ms.
_WRITE = """
local sim = {}
local function current(key)
  if sim[key] == nil then
    local t = redis.call("TYPE", key).ok
    if t == "hash" then
      local v = redis.call("HGET", key, "version")
      sim[key] = v and tonumber(v) or 0
    elseif t == "none" then
      sim[key] = false
    else
      sim[key] = 0
    end
  end
  return sim[key]
end
local versions = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local base = (i - 1) * 5
  local kind, etag, fw = ARGV[base + 1], ARGV[base + 3], ARGV[base + 4]
  local ver = current(key)
  if etag ~= "" then
    -- As contrib's scripts: an ETag on a key that does not exist is no conflict (the set
    -- creates it, the delete does nothing).
    if ver ~= false and tostring(ver) ~= etag then
      return redis.error_reply("ETAG_MISMATCH " .. i)
    end
  elseif kind == "s" and fw == "1" and ver ~= false then
    return redis.error_reply("ETAG_MISMATCH " .. i)
  end
  if kind == "s" then
    sim[key] = (ver or 0) + 1
    versions[i] = sim[key]
  else
    sim[key] = false
  end
end
for i = 1, #KEYS do
  local key = KEYS[i]
  local base = (i - 1) * 5
  if ARGV[base + 1] == "s" then
    if redis.call("TYPE", key).ok ~= "hash" then
      redis.call("DEL", key)
    end
    redis.call("HSET", key, "data", ARGV[base + 2], "version", versions[i])
    local ttl = tonumber(ARGV[base + 5])
    if ttl > 0 then
      redis.call("PEXPIRE", key, ttl)
    else
      redis.call("PERSIST", key)
    end
  else
    redis.call("DEL", key)
  end
end
return #KEYS
"""

_READ = """
if redis.call("TYPE", KEYS[1]).ok ~= "hash" then
  return false
end
local v = redis.call("HMGET", KEYS[1], "data", "version")
return {v[1], v[2], redis.call("PTTL", KEYS[1])}
"""


class RedisStateStore(StateStore):
    def __init__(self) -> None:
        self._client: aioredis.Redis | None = None
        self._default_ttl: int | None = None

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_KEYS_LIKE})

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        host_port = metadata.require("redisHost")
        host, _, port = host_port.rpartition(":")
        if not host or not port.isdigit():
            raise ComponentConfigError(metadata.name, "redisHost", f"must be host:port, got {host_port!r}")
        default_ttl = metadata.get_int("ttlInSeconds", 0)
        self._default_ttl = default_ttl if default_ttl > 0 else None
        # A blocking pool, as go-redis's (Dapr's poolSize / poolTimeout): a burst of more calls
        # than connections waits for one instead of failing with "Too many connections".
        tls: dict[str, Any] = (
            {"connection_class": aioredis.SSLConnection} if metadata.get_bool("enableTLS", False) else {}
        )
        pool = aioredis.BlockingConnectionPool(
            host=host,
            port=int(port),
            db=metadata.get_int("redisDB", 0),
            username=metadata.get("redisUsername") or None,
            password=metadata.get("redisPassword") or None,
            socket_timeout=codec.parse_duration(metadata.get("timeout") or "30s"),
            socket_connect_timeout=codec.parse_duration(metadata.get("dialTimeout") or "5s"),
            max_connections=max(1, metadata.get_int("poolSize", 100)),
            timeout=codec.parse_duration(metadata.get("poolTimeout") or "5s"),
            **tls,
        )
        self._pool = pool
        self._client = aioredis.Redis(connection_pool=pool)
        self._write = self._client.register_script(_WRITE)
        self._read = self._client.register_script(_READ)
        await self._client.ping()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            await self._pool.disconnect()  # a pool handed to Redis() is the caller's to close

    @property
    def _c(self) -> aioredis.Redis:
        assert self._client is not None, "state.redis used before init"
        return self._client

    async def get(self, req: GetRequest) -> StateItem | None:
        res = await self._read(keys=[req.key])
        if not res or res[0] is None:
            return None
        data, version, pttl = res
        expires = codec.utcnow() + timedelta(milliseconds=pttl) if pttl > 0 else None
        return StateItem(bytes(data), version.decode() if version else "0", expires)

    async def set(self, req: SetRequest) -> None:
        await self.transact([req])

    async def delete(self, req: DeleteRequest) -> None:
        await self.transact([req])

    async def transact(self, ops: Sequence[Operation]) -> None:
        if not ops:
            return
        keys: list[str] = []
        args: list[Any] = []
        for op in ops:
            if op.etag:
                codec.check_int_etag(op.etag)
            keys.append(op.key)
            if isinstance(op, SetRequest):
                ttl = op.ttl if op.ttl is not None else self._default_ttl
                args += ["s", op.value, op.etag or "", "1" if op.first_write else "0", (ttl or 0) * 1000]
            else:
                args += ["d", b"", op.etag or "", "0", 0]
        try:
            await self._write(keys=keys, args=args)
        except ResponseError as exc:
            match = re.search(r"ETAG_MISMATCH (\d+)", str(exc))
            if match is None:
                raise
            raise ETagMismatch(ops[int(match.group(1)) - 1].key) from None

    async def list_keys(self, prefix: str, limit: int, token: str) -> KeyPage:
        # SCAN's cursor is the token; a page may hold a few more keys than ``limit`` (SCAN returns
        # whole batches) and never misses or repeats a key that exists throughout the listing.
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
        cursor = int(token) if token.isdigit() else 0
        keys: list[str] = []
        while True:
            cursor, batch = await self._c.scan(cursor=cursor, match=pattern, count=max(limit, 100))
            keys.extend(k.decode() if isinstance(k, bytes) else k for k in batch)
            if cursor == 0 or (limit and len(keys) >= limit):
                break
        keys.sort()
        return KeyPage(keys, str(cursor) if cursor else "")
