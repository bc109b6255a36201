"""Configuration stores the conformance suite runs against, each with a writer that changes items
the way an operator would (redis-cli SET, SQL INSERT/UPDATE), in a key space or table of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest
import redis.asyncio as aioredis

from pydapr.components.base import ComponentMetadata
from pydapr.components.registry import registry
from pydapr.configuration.contract import ConfigurationStore

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Backend:
    id: str
    store: ConfigurationStore
    prefix: str  # every key a test writes starts with it
    subscribe_metadata: dict[str, str]
    # Redis keyspace events carry no value: quick successive writes may be reported once.
    every_change: bool
    reports_deletes: bool
    handle: Any = None
    extra: list[Any] = field(default_factory=list)

    async def set(self, key: str, value: str, version: str) -> None:
        if self.id == "redis":
            await self.handle.set(key, f"{value}||{version}")
        elif self.id == "postgresql":
            await self.handle.execute(
                f"INSERT INTO {self.extra[0]} (key, value, version) VALUES ($1, $2, $3) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version",
                key,
                value,
                version,
            )
        else:
            # Another connection, as a separate tool (sqlite3 on the command line) would write.
            await self.handle.execute(
                "INSERT INTO configuration (key, value, version) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version",
                (key, value, version),
            )

    async def delete(self, key: str) -> None:
        if self.id == "redis":
            await self.handle.delete(key)
        elif self.id == "postgresql":
            await self.handle.execute(f"DELETE FROM {self.extra[0]} WHERE key = $1", key)
        else:
            await self.handle.execute("DELETE FROM configuration WHERE key = ?", (key,))


async def _open(type_name: str, props: dict[str, str], tmp: Path) -> ConfigurationStore:
    store = registry.create(type_name, "v1")
    assert isinstance(store, ConfigurationStore)
    await store.init(ComponentMetadata("configstore", type_name, "v1", props, base_dir=tmp))
    return store


@pytest.fixture(params=["redis", "postgresql", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    suffix = uuid.uuid4().hex[:12]
    prefix = f"cfg-{suffix}-"
    if request.param == "redis":
        client = aioredis.Redis(host="127.0.0.1", port=6379)
        store = await _open("configuration.redis", {"redisHost": "127.0.0.1:6379"}, tmp_path)
        b = Backend("redis", store, prefix, {}, every_change=False, reports_deletes=True, handle=client)
        try:
            yield b
        finally:
            await store.close()
            keys = [k async for k in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
    elif request.param == "postgresql":
        table, channel = f"cfg_{suffix}", f"cfg_{suffix}"
        conn = await asyncpg.connect(PG_DSN)
        # The table and trigger exactly as Dapr's docs tell operators to create them.
        await conn.execute(
            f"CREATE TABLE {table} (KEY VARCHAR NOT NULL PRIMARY KEY, VALUE VARCHAR NOT NULL, "
            "VERSION VARCHAR NOT NULL, METADATA JSON)"
        )
        await conn.execute(
            f"CREATE FUNCTION notify_{table}() RETURNS TRIGGER AS $$ "
            "DECLARE data json; notification json; BEGIN "
            "IF (TG_OP = 'DELETE') THEN data = row_to_json(OLD); ELSE data = row_to_json(NEW); END IF; "
            "notification = json_build_object('table', TG_TABLE_NAME, 'action', TG_OP, 'data', data); "
            f"PERFORM pg_notify('{channel}', notification::text); RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        await conn.execute(
            f"CREATE TRIGGER {table}_trg AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE PROCEDURE notify_{table}()"
        )
        store = await _open(
            "configuration.postgresql",
            {"connectionString": PG_DSN.replace("postgresql", "postgres", 1), "table": table},
            tmp_path,
        )
        b = Backend(
            "postgresql",
            store,
            prefix,
            {"pgNotifyChannel": channel},
            every_change=True,
            reports_deletes=True,
            handle=conn,
            extra=[table],
        )
        try:
            yield b
        finally:
            await store.close()
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
            await conn.execute(f"DROP FUNCTION IF EXISTS notify_{table}()")
            await conn.close()
    else:
        db = tmp_path / "configuration.db"
        store = await _open(
            "configuration.sqlite", {"connectionString": str(db), "pollInterval": "20ms"}, tmp_path
        )
        writer = await aiosqlite.connect(str(db), isolation_level=None)
        b = Backend("sqlite", store, prefix, {}, every_change=True, reports_deletes=True, handle=writer)
        try:
            yield b
        finally:
            await store.close()
            await writer.close()
