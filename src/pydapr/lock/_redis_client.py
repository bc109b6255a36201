"""One Redis client from Dapr's common Redis metadata, shared by the lock, configuration and binding
components (``redisHost``, ``redisPassword``, ``redisUsername``, ``redisDB``, ``enableTLS``, timeouts)."""

from __future__ import annotations

import redis.asyncio as aioredis

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.resources.durations import parse_duration


def _duration(meta: ComponentMetadata, key: str, default: str) -> float:
    text = meta.get(key) or default
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ComponentConfigError(
            meta.name, key, f"must be a duration like 5s, got {text!r}: {exc}"
        ) from None


def redis_client(meta: ComponentMetadata, *, host_key: str = "redisHost") -> aioredis.Redis:
    """A client for ``host:port`` in ``host_key``; connects lazily, so callers ping to check it."""
    host_port = meta.require(host_key)
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise ComponentConfigError(meta.name, host_key, f"must be host:port, got {host_port!r}")
    return aioredis.Redis(
        host=host,
        port=int(port),
        db=meta.get_int("redisDB", 0),
        username=meta.get("redisUsername") or None,
        password=meta.get("redisPassword") or None,
        ssl=meta.get_bool("enableTLS", False),
        socket_timeout=_duration(meta, "readTimeout", "30s"),
        socket_connect_timeout=_duration(meta, "dialTimeout", "5s"),
    )
