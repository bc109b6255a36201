"""Every state store, against its real server: each test gets a fresh table (or key space) and an API
over it, and everything it wrote is removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pydapr.components.base import ComponentMetadata
from pydapr.components.registry import registry
from pydapr.state.api import StateAPI, StoreEntry
from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_KEYS_LIKE,
    FEATURE_QUERY,
    FEATURE_TRANSACTIONAL,
    FEATURE_TTL,
    StateStore,
)

PG = "host=127.0.0.1 port=5432 user=postgres database=test"
MYSQL = "root:@tcp(127.0.0.1:3306)/"

# (id, component type, version): six stores, postgresql in both table layouts.
BACKENDS = [
    ("in-memory", "state.in-memory", "v1"),
    ("sqlite", "state.sqlite", "v1"),
    ("redis", "state.redis", "v1"),
    ("postgresql-v1", "state.postgresql", "v1"),
    ("postgresql-v2", "state.postgresql", "v2"),
    ("mysql", "state.mysql", "v1"),
]


def properties(backend: str, suffix: str, tmp: Path) -> dict[str, str]:
    if backend == "sqlite":
        return {"connectionString": str(tmp / "state.db")}
    if backend == "redis":
        return {"redisHost": "127.0.0.1:6379"}
    if backend == "postgresql-v1":
        return {"connectionString": PG, "tableName": f"state_{suffix}", "cleanupInterval": "0"}
    if backend == "postgresql-v2":
        return {"connectionString": PG, "tablePrefix": f"t{suffix}_", "cleanupInterval": "0"}
    if backend == "mysql":
        return {"connectionString": MYSQL, "schemaName": "test", "tableName": f"state_{suffix}"}
    return {}


@dataclass
class Backend:
    id: str
    type: str
    version: str
    base: str  # every key this test writes starts with it
    stores: list[StateStore]
    props: dict[str, str]

    async def open(self, name: str = "store", **extra: str) -> StateStore:
        if self.id == "in-memory" and self.stores:
            return self.stores[0]  # another "connection" to an in-memory store is the same dict
        store = registry.create(self.type, self.version)
        assert isinstance(store, StateStore)
        meta = ComponentMetadata(name, self.type, self.version, {**self.props, **extra}, app_id=self.base)
        await store.init(meta)
        self.stores.append(store)
        return store

    async def api(self, app_id: str | None = None, name: str = "store", **extra: str) -> StateAPI:
        """An API over a new connection to this backend, as app ``app_id`` (default: this test's)."""
        store = await self.open(name, **extra)
        meta = ComponentMetadata(
            name, self.type, self.version, {**self.props, **extra}, app_id=app_id or self.base
        )
        return StateAPI({name: StoreEntry.from_metadata(store, meta)})


# What each backend declares; tests marked ``requires_features`` run only where all are declared.
EXPECTED_FEATURES = {
    "in-memory": {FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_QUERY, FEATURE_KEYS_LIKE},
    "sqlite": {FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_QUERY, FEATURE_KEYS_LIKE},
    "redis": {FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_KEYS_LIKE},
    "postgresql-v1": {FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_QUERY, FEATURE_KEYS_LIKE},
    "postgresql-v2": {FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_KEYS_LIKE},
    "mysql": {FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_KEYS_LIKE},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) feature tests on backends that do not declare the feature."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("requires_features")
        callspec = getattr(item, "callspec", None)
        if marker is not None and callspec is not None and "backend" in callspec.params:
            ident = callspec.params["backend"][0]
            if set(marker.args) - EXPECTED_FEATURES[ident]:
                dropped.append(item)
                continue
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(params=BACKENDS, ids=[b[0] for b in BACKENDS])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    ident, type_name, version = request.param
    suffix = uuid.uuid4().hex[:10]
    b = Backend(ident, type_name, version, f"t{suffix}", [], properties(ident, suffix, tmp_path))
    try:
        yield b
    finally:
        await _cleanup(b, suffix)
        for store in {id(s): s for s in b.stores}.values():
            await store.close()


async def _cleanup(b: Backend, suffix: str) -> None:
    if b.id == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis(host="127.0.0.1", port=6379)
        keys = [k async for k in client.scan_iter(match=f"*{b.base}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    elif b.id.startswith("postgresql"):
        import asyncpg

        table = f"state_{suffix}" if b.id == "postgresql-v1" else f"t{suffix}_state"
        conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="test")
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()
    elif b.id == "mysql":
        import aiomysql

        conn = await aiomysql.connect(host="127.0.0.1", user="root", db="test")
        async with conn.cursor() as cur:
            await cur.execute("SHOW TABLES LIKE %s", (f"state_{suffix}",))
            if await cur.fetchall():
                await cur.execute(f"DROP TABLE state_{suffix}")
        conn.close()


@pytest.fixture
async def api(backend: Backend) -> StateAPI:
    return await backend.api()


def json_equal(a: bytes, b: Any) -> bool:
    import json

    return bool(json.loads(a) == b)


Checker = Callable[[bytes, Any], bool]
