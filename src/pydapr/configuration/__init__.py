"""The configuration building block: the API both transports call, subscriptions, and the stores."""

from __future__ import annotations

# Dapr component type and version -> "module:Class", imported only when a component of that type loads.
REGISTRY: dict[tuple[str, str], str] = {
    ("configuration.redis", "v1"): "pydapr.configuration.redis:RedisConfigurationStore",
    ("configuration.postgresql", "v1"): "pydapr.configuration.postgres:PostgresConfigurationStore",
    ("configuration.postgres", "v1"): "pydapr.configuration.postgres:PostgresConfigurationStore",
    ("configuration.sqlite", "v1"): "pydapr.configuration.sqlite:SQLiteConfigurationStore",
}
