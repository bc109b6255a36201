"""The state management building block: the API both transports call, and the state stores."""

from __future__ import annotations

# Dapr component type and version -> "module:Class", imported only when a component of that type loads.
REGISTRY: dict[tuple[str, str], str] = {
    ("state.in-memory", "v1"): "pydapr.state.memory:InMemoryStateStore",
    ("state.sqlite", "v1"): "pydapr.state.sqlite:SQLiteStateStore",
    ("state.sqlite3", "v1"): "pydapr.state.sqlite:SQLiteStateStore",
    ("state.redis", "v1"): "pydapr.state.redis:RedisStateStore",
    ("state.postgresql", "v1"): "pydapr.state.postgres_v1:PostgresV1StateStore",
    ("state.postgresql", "v2"): "pydapr.state.postgres_v2:PostgresV2StateStore",
    ("state.postgres", "v1"): "pydapr.state.postgres_v1:PostgresV1StateStore",
    ("state.postgres", "v2"): "pydapr.state.postgres_v2:PostgresV2StateStore",
    # daprd serves YugabyteDB (v2 only) with its PostgreSQL v2 store (cmd/daprd/components).
    # Not state.cockroachdb: its default v1 is another implementation, and a file without a
    # version must not end up on the v2 tables.
    ("state.yugabytedb", "v2"): "pydapr.state.postgres_v2:PostgresV2StateStore",
    ("state.yugabyte", "v2"): "pydapr.state.postgres_v2:PostgresV2StateStore",
    ("state.mysql", "v1"): "pydapr.state.mysql:MySQLStateStore",
}
