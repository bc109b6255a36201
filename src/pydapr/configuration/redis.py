"""``configuration.redis``: items are Redis strings ``value||version``; changes come from keyspace
notifications (components-contrib configuration/redis).

Subscribing needs ``notify-keyspace-events`` to include ``K`` and the string and generic events
(``KA`` does). When the server has them off, the store turns them on with ``CONFIG SET`` if the
server allows that command, and otherwise logs what the operator must set. Keyspace events carry no
value, so an update reads the key when its event arrives: quick successive writes to one key may be
reported once, with the latest value (Redis has no change log to read them from).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from pydapr.components.base import ComponentMetadata
from pydapr.configuration._subscriptions import Subscriptions
from pydapr.configuration.contract import DELETED, ConfigurationItem, ConfigurationStore, UpdateHandler
from pydapr.lock._redis_client import redis_client

log = logging.getLogger("pydapr.configuration")

SEPARATOR = "||"
_REMOVALS = frozenset({"del", "expired", "evicted"})


def parse_item(raw: bytes | str) -> ConfigurationItem:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    value, sep, version = text.rpartition(SEPARATOR)
    return ConfigurationItem(value, version) if sep else ConfigurationItem(text, "")


class RedisConfigurationStore(ConfigurationStore):
    def __init__(self) -> None:
        self._client: aioredis.Redis | None = None
        self._subs = Subscriptions()
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self._start_lock = asyncio.Lock()

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self._db = metadata.get_int("redisDB", 0)
        self._client = redis_client(metadata)
        await self._client.ping()

    async def close(self) -> None:
        self._subs.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def _c(self) -> aioredis.Redis:
        assert self._client is not None, "configuration.redis used before init"
        return self._client

    async def get(self, keys: list[str], metadata: dict[str, str]) -> dict[str, ConfigurationItem]:
        if not keys:
            keys = [k.decode() if isinstance(k, bytes) else k async for k in self._c.scan_iter(count=500)]
        if not keys:
            return {}
        out: dict[str, ConfigurationItem] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            pipe = self._c.pipeline(transaction=False)
            for key in chunk:
                pipe.get(key)
            values = await pipe.execute(raise_on_error=False)
            for key, raw in zip(chunk, values, strict=True):
                # Non-string keys (hashes ...) are not configuration items; skip them like missing ones.
                if raw is not None and not isinstance(raw, Exception):
                    out[key] = parse_item(raw)
        return out

    async def _ensure_notifications(self) -> None:
        try:
            current = (await self._c.config_get("notify-keyspace-events")).get("notify-keyspace-events", "")
        except ResponseError as exc:
            log.warning(
                "configuration.redis %s: cannot read notify-keyspace-events (%s)", self.metadata.name, exc
            )
            return
        flags = set(str(current or ""))
        if "K" in flags and ("A" in flags or {"$", "g"} <= flags):
            return
        wanted = "".join(sorted(flags | {"K", "$", "g"}))
        try:
            await self._c.config_set("notify-keyspace-events", wanted)
            log.info("configuration.redis %s: set notify-keyspace-events to %s", self.metadata.name, wanted)
        except ResponseError as exc:
            log.warning(
                "configuration.redis %s: keyspace notifications are off and CONFIG SET is refused (%s); "
                "run CONFIG SET notify-keyspace-events KA on the server to receive updates",
                self.metadata.name,
                exc,
            )

    async def _start_listener(self) -> None:
        async with self._start_lock:
            if self._listener is not None:
                return
            await self._ensure_notifications()
            self._prefix = f"__keyspace@{self._db}__:"
            pubsub = self._c.pubsub()
            await pubsub.psubscribe(self._prefix + "*")
            # Wait for the server's confirmation: from then on no change can be missed.
            while True:
                msg = await pubsub.get_message(timeout=5.0)
                if msg is None:
                    raise TimeoutError("redis did not confirm the keyspace subscription")
                if msg["type"] == "psubscribe":
                    break
            self._pubsub = pubsub
            self._listener = asyncio.create_task(self._listen(pubsub))

    async def _listen(self, pubsub: Any) -> None:
        async for msg in pubsub.listen():
            if msg.get("type") != "pmessage":
                continue
            channel = msg["channel"].decode() if isinstance(msg["channel"], bytes) else msg["channel"]
            event = msg["data"].decode() if isinstance(msg["data"], bytes) else str(msg["data"])
            key = channel[len(self._prefix) :]
            if not self._subs.wants(key):
                continue
            try:
                if event in _REMOVALS:
                    item = ConfigurationItem("", "", dict(DELETED))
                elif event in ("set", "setrange", "append", "incrby", "incrbyfloat", "rename_to", "restore"):
                    raw = await self._c.get(key)
                    item = ConfigurationItem("", "", dict(DELETED)) if raw is None else parse_item(raw)
                else:
                    continue
            except ResponseError:
                continue  # the key now holds another type: not a configuration item
            await self._subs.dispatch({key: item})

    async def subscribe(self, keys: list[str], metadata: dict[str, str], handler: UpdateHandler) -> str:
        await self._start_listener()
        return self._subs.add(keys, handler)

    async def unsubscribe(self, subscription_id: str) -> None:
        self._subs.remove(subscription_id)
