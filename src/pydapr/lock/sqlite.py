"""``lock.sqlite``: the embedded lock store, one SQLite file shared by every sidecar on the machine.

pydapr's own type (Dapr has no SQLite lock). Metadata: ``connectionString`` (a file path; default
``$PYDAPR_HOME/lock.db``), ``tableName`` (default ``locks``). A lock is one row with its owner and
wall-clock expiry; taking it is one upsert that only overwrites an expired row, so two sidecars (two
processes on one file) can never both succeed. aiosqlite runs the connection on its own thread.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiosqlite

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.home import pydapr_home
from pydapr.lock.contract import LockStore, UnlockStatus


def _identifier(meta: ComponentMetadata, key: str, default: str) -> str:
    value = meta.get(key) or default
    if not value.replace("_", "").isalnum() or value[0].isdigit():
        raise ComponentConfigError(meta.name, key, f"must be a plain SQL identifier, got {value!r}")
    return value


def sqlite_path(meta: ComponentMetadata, default_name: str) -> Path:
    """The database file from ``connectionString`` (a path, ``file:`` URI prefix allowed)."""
    text = (meta.get("connectionString") or "").strip()
    if not text:
        return pydapr_home() / default_name
    if text.startswith("file:"):
        text = text[len("file:") :].split("?", 1)[0]
    return meta.resolve_path(text)


class SQLiteLockStore(LockStore):
    def __init__(self) -> None:
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self._table = _identifier(metadata, "tableName", "locks")
        path = sqlite_path(metadata, "lock.db")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(str(path), timeout=10.0, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} "
            "(key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)"
        )

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def _c(self) -> aiosqlite.Connection:
        assert self._db is not None, "lock.sqlite used before init"
        return self._db

    async def try_lock(self, resource_id: str, owner: str, expiry_seconds: int) -> bool:
        now = time.time()
        async with self._lock:
            cursor = await self._c.execute(
                f"INSERT INTO {self._table} (key, owner, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
                f"WHERE {self._table}.expires_at <= ?",
                (resource_id, owner, now + expiry_seconds, now),
            )
            return cursor.rowcount == 1

    async def unlock(self, resource_id: str, owner: str) -> UnlockStatus:
        now = time.time()
        async with self._lock:
            # One write transaction: the owner check and the delete see the same row.
            await self._c.execute("BEGIN IMMEDIATE")
            try:
                cursor = await self._c.execute(
                    f"SELECT owner FROM {self._table} WHERE key = ? AND expires_at > ?", (resource_id, now)
                )
                row = await cursor.fetchone()
                if row is None:
                    status = UnlockStatus.LOCK_DOES_NOT_EXIST
                elif row[0] != owner:
                    status = UnlockStatus.LOCK_BELONGS_TO_OTHERS
                else:
                    await self._c.execute(f"DELETE FROM {self._table} WHERE key = ?", (resource_id,))
                    status = UnlockStatus.SUCCESS
                await self._c.execute("COMMIT")
            except BaseException:
                await self._c.execute("ROLLBACK")
                raise
            return status
