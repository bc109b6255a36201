"""``configuration.sqlite``: the embedded configuration store, a SQLite file any local tool can edit.

pydapr's own type. Metadata: ``connectionString`` (file path; default
``$PYDAPR_HOME/configuration.db``), ``tableName`` (default ``configuration``), ``pollInterval``
(default ``100ms``). Items live in ``<table>(key, value, version, metadata)``; triggers append every
insert, update and delete to ``<table>_changes``, and one poller per store reads that log in order,
so a subscriber sees every change made after it subscribed, even by another process (``sqlite3``
on the command line, a script). Log rows older than an hour are pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiosqlite
import msgspec

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.configuration._subscriptions import Subscriptions
from pydapr.configuration.contract import DELETED, ConfigurationItem, ConfigurationStore, UpdateHandler
from pydapr.lock.sqlite import sqlite_path
from pydapr.resources.durations import parse_duration

log = logging.getLogger("pydapr.configuration")

_PRUNE_AFTER = 3600.0


def _metadata(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else msgspec.json.encode(v).decode() for k, v in value.items()}


def schema(table: str) -> list[str]:
    log_table = f"{table}_changes"
    row = "NEW.key, NEW.value, NEW.version, NEW.metadata, 0, (julianday('now') - 2440587.5) * 86400.0"
    return [
        f"CREATE TABLE IF NOT EXISTS {table} "
        "(key TEXT PRIMARY KEY, value TEXT NOT NULL, version TEXT NOT NULL DEFAULT '', metadata TEXT)",
        f"CREATE TABLE IF NOT EXISTS {log_table} (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
        "value TEXT, version TEXT, metadata TEXT, deleted INTEGER NOT NULL, at REAL NOT NULL)",
        f"CREATE TRIGGER IF NOT EXISTS {table}_ins AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {log_table} (key, value, version, metadata, deleted, at) VALUES ({row}); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_upd AFTER UPDATE ON {table} BEGIN "
        f"INSERT INTO {log_table} (key, value, version, metadata, deleted, at) VALUES ({row}); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_del AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {log_table} (key, value, version, metadata, deleted, at) "
        "VALUES (OLD.key, '', '', NULL, 1, (julianday('now') - 2440587.5) * 86400.0); END",
    ]


class SQLiteConfigurationStore(ConfigurationStore):
    def __init__(self) -> None:
        self._db: aiosqlite.Connection | None = None
        self._subs = Subscriptions()
        self._poller: asyncio.Task[None] | None = None
        self._last_seq = 0
        self._lock = asyncio.Lock()

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        table = metadata.get("tableName") or "configuration"
        if not table.replace("_", "").isalnum() or table[0].isdigit():
            raise ComponentConfigError(
                metadata.name, "tableName", f"must be a plain SQL identifier, got {table!r}"
            )
        self._table = table
        interval = metadata.get("pollInterval") or "100ms"
        try:
            self._interval = parse_duration(interval)
        except ValueError as exc:
            raise ComponentConfigError(
                metadata.name, "pollInterval", f"bad duration {interval!r}: {exc}"
            ) from None
        path = sqlite_path(metadata, "configuration.db")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(str(path), timeout=10.0, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        for statement in schema(table):
            await self._db.execute(statement)

    async def close(self) -> None:
        self._subs.clear()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def _c(self) -> aiosqlite.Connection:
        assert self._db is not None, "configuration.sqlite used before init"
        return self._db

    async def set(
        self, key: str, value: str, version: str = "", metadata: dict[str, str] | None = None
    ) -> None:
        """Write one item (for tools and tests; apps have no write API in Dapr)."""
        meta = msgspec.json.encode(metadata).decode() if metadata else None
        async with self._lock:
            await self._c.execute(
                f"INSERT INTO {self._table} (key, value, version, metadata) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version, "
                "metadata = excluded.metadata",
                (key, value, version, meta),
            )

    async def delete(self, key: str) -> None:
        async with self._lock:
            await self._c.execute(f"DELETE FROM {self._table} WHERE key = ?", (key,))

    async def get(self, keys: list[str], metadata: dict[str, str]) -> dict[str, ConfigurationItem]:
        sql = f"SELECT key, value, version, metadata FROM {self._table}"
        params: tuple[Any, ...] = ()
        if keys:
            sql += f" WHERE key IN ({', '.join('?' * len(keys))})"
            params = tuple(keys)
        async with self._lock:
            cursor = await self._c.execute(sql, params)
            rows = await cursor.fetchall()
        return {r[0]: ConfigurationItem(r[1], r[2], _metadata(r[3])) for r in rows}

    async def subscribe(self, keys: list[str], metadata: dict[str, str], handler: UpdateHandler) -> str:
        async with self._lock:
            if self._poller is None:
                cursor = await self._c.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {self._table}_changes")
                row = await cursor.fetchone()
                self._last_seq = int(row[0]) if row else 0
                self._poller = asyncio.create_task(self._poll())
            # Changes logged up to _last_seq are older than this subscription; the poller only
            # dispatches later ones, and registering happens under the same lock as reading the log.
            return self._subs.add(keys, handler)

    async def unsubscribe(self, subscription_id: str) -> None:
        self._subs.remove(subscription_id)

    async def _poll(self) -> None:
        last_prune = 0.0
        while True:
            try:
                async with self._lock:
                    cursor = await self._c.execute(
                        f"SELECT seq, key, value, version, metadata, deleted FROM {self._table}_changes "
                        "WHERE seq > ? ORDER BY seq LIMIT 1000",
                        (self._last_seq,),
                    )
                    rows = list(await cursor.fetchall())
                    if rows:
                        self._last_seq = int(rows[-1][0])
                    now = time.time()
                    if now - last_prune > 60:
                        last_prune = now
                        await self._c.execute(
                            f"DELETE FROM {self._table}_changes WHERE at < ? AND seq < ?",
                            (now - _PRUNE_AFTER, self._last_seq),
                        )
                for _, key, value, version, meta, deleted in rows:
                    item = (
                        ConfigurationItem("", "", dict(DELETED))
                        if deleted
                        else ConfigurationItem(value or "", version or "", _metadata(meta))
                    )
                    await self._subs.dispatch({key: item})
                if len(rows) == 1000:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("configuration.sqlite %s: reading the change log failed", self.metadata.name)
            await asyncio.sleep(self._interval)
