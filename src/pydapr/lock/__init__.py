"""The distributed lock building block: the API both transports call, and the lock stores."""

from __future__ import annotations

# Dapr component type and version -> "module:Class", imported only when a component of that type loads.
REGISTRY: dict[tuple[str, str], str] = {
    ("lock.redis", "v1"): "pydapr.lock.redis:RedisLockStore",
    ("lock.sqlite", "v1"): "pydapr.lock.sqlite:SQLiteLockStore",
}
