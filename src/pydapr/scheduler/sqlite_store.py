"""Jobs, leases and heartbeats in one SQLite file: the local control plane's scheduler storage.

aiosqlite runs the connection on its own thread so the event loop never blocks on disk I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import re
import sqlite3
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import aiosqlite

from pydapr.scheduler import _sql
from pydapr.scheduler.store import (
    DEFAULT_PARTITIONS,
    Advance,
    DueCursor,
    JobExistsError,
    JobRecord,
    Remove,
    StoreError,
)


def _q(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"?\1", sql)


_BY_KEY = "WHERE namespace = ?1 AND app_id = ?2 AND name = ?3 AND uid = ?4"
_ADVANCE = f"UPDATE pydapr_scheduler_jobs SET next_at = ?5, occ_at = ?6, count = ?7, attempts = ?8 {_BY_KEY}"
_REMOVE = f"DELETE FROM pydapr_scheduler_jobs {_BY_KEY}"


def _record(row: Any) -> JobRecord:
    values = list(row)
    values[7] = bool(values[7])
    return JobRecord(*values)


P = ParamSpec("P")
R = TypeVar("R")


def _locked(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """One statement or transaction at a time on the shared connection: a transaction must not
    pick up another coroutine's statements."""

    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        store: SqliteJobStore = args[0]  # type: ignore[assignment]
        async with store._lock:
            return await fn(*args, **kwargs)

    return call


def _marks(n: int, start: int) -> str:
    return ", ".join(f"?{i}" for i in range(start, start + n))


class SqliteJobStore:
    def __init__(self, path: str | Path, partitions: int = DEFAULT_PARTITIONS) -> None:
        self.path = Path(path)
        self.partitions = partitions
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        # Every replica sharing a SQLite file runs on this host; writes from this process wake it.
        self.on_notify: Callable[[], None] | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, "store not opened"
        return self._db

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self.db.execute("PRAGMA journal_mode=WAL")
            await self.db.execute("PRAGMA synchronous=NORMAL")
            await self.db.execute("PRAGMA busy_timeout=5000")
            await self.db.executescript(_sql.SCHEMA.format(blob="BLOB", float="REAL"))
            await self.db.executemany(
                "INSERT OR IGNORE INTO pydapr_scheduler_leases (part) VALUES (?)",
                [(p,) for p in range(self.partitions)],
            )
        except (OSError, sqlite3.Error) as exc:
            await self.close()
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @_locked
    async def put(self, job: JobRecord, overwrite: bool) -> None:
        sql = _q(_sql.INSERT + (_sql.ON_CONFLICT_OVERWRITE if overwrite else _sql.ON_CONFLICT_KEEP))
        cur = await self.db.execute(
            sql,
            (
                job.namespace,
                job.app_id,
                job.name,
                job.uid,
                job.partition,
                job.spec,
                job.begin_at,
                job.begin_is_due,
                job.expires_at,
                job.next_at,
                job.occ_at,
                job.count,
                job.attempts,
            ),
        )
        if cur.rowcount == 0:
            raise JobExistsError(job.name)
        if self.on_notify is not None:
            self.on_notify()

    @_locked
    async def get(self, namespace: str, app_id: str, name: str) -> JobRecord | None:
        cur = await self.db.execute(_q(_sql.SELECT_ONE), (namespace, app_id, name))
        row = await cur.fetchone()
        return _record(row) if row is not None else None

    @_locked
    async def delete(self, namespace: str, app_id: str, name: str) -> bool:
        cur = await self.db.execute(_q(_sql.DELETE_ONE), (namespace, app_id, name))
        return cur.rowcount > 0

    @_locked
    async def list_jobs(self, namespace: str, app_id: str) -> list[JobRecord]:
        cur = await self.db.execute(_q(_sql.SELECT_APP), (namespace, app_id))
        return [_record(r) for r in await cur.fetchall()]

    @_locked
    async def delete_prefix(self, namespace: str, app_id: str, prefix: str) -> int:
        cur = await self.db.execute(
            "DELETE FROM pydapr_scheduler_jobs WHERE namespace = ?1 AND app_id = ?2 "
            "AND substr(name, 1, length(?3)) = ?3",
            (namespace, app_id, prefix),
        )
        return cur.rowcount

    @_locked
    async def due(
        self, partitions: list[int], apps: list[str], until: float, limit: int, after: DueCursor | None = None
    ) -> list[JobRecord]:
        if not partitions or not apps:
            return []
        n, m = len(partitions), len(apps)
        rest = ""
        params: tuple[Any, ...] = (*partitions, until, *apps, limit)
        if after is not None:
            k = n + m + 3
            rest = f"AND (next_at, namespace, app_id, name) > (?{k}, ?{k + 1}, ?{k + 2}, ?{k + 3}) "
            params += after
        sql = (
            f"SELECT {_sql.JOB_COLUMNS} FROM pydapr_scheduler_jobs WHERE part IN ({_marks(n, 1)}) "
            f"AND next_at <= ?{n + 1} AND (namespace || '/' || app_id) IN ({_marks(m, n + 2)}) {rest}"
            f"ORDER BY {_sql.DUE_ORDER} LIMIT ?{n + m + 2}"
        )
        cur = await self.db.execute(sql, params)
        return [_record(r) for r in await cur.fetchall()]

    @_locked
    async def apply(self, owner: str, changes: list[Advance | Remove]) -> None:
        db = self.db
        await db.execute("BEGIN IMMEDIATE")
        try:
            # The write lock is held from here to COMMIT: no lease moves in between.
            cur = await db.execute(_q(_sql.HELD_PARTS), (owner, time.time()))
            held = {r[0] for r in await cur.fetchall()}
            adv = []
            rem = []
            for c in changes:
                if c.part not in held:
                    continue
                if isinstance(c, Advance):
                    adv.append(
                        (c.namespace, c.app_id, c.name, c.uid, c.next_at, c.occ_at, c.count, c.attempts)
                    )
                else:
                    rem.append((c.namespace, c.app_id, c.name, c.uid))
            if adv:
                await db.executemany(_ADVANCE, adv)
            if rem:
                await db.executemany(_REMOVE, rem)
            await db.execute("COMMIT")
        except BaseException:
            # A failed statement may have ended the transaction already: the first error is the one to see.
            with contextlib.suppress(sqlite3.Error):
                await db.execute("ROLLBACK")
            raise

    @_locked
    async def lease(self, owner: str, ttl: float) -> set[int]:
        now = time.time()
        db = self.db
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute(
                "INSERT INTO pydapr_scheduler_replicas (id, expires_at) VALUES (?1, ?2) "
                "ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
                (owner, now + ttl),
            )
            await db.execute("DELETE FROM pydapr_scheduler_replicas WHERE expires_at < ?1", (now,))
            cur = await db.execute("SELECT count(*) FROM pydapr_scheduler_replicas")
            row = await cur.fetchone()
            target = math.ceil(self.partitions / max(1, row[0] if row else 1))
            await db.execute(
                "UPDATE pydapr_scheduler_leases SET expires_at = ?2 WHERE owner = ?1", (owner, now + ttl)
            )
            cur = await db.execute(
                "SELECT part FROM pydapr_scheduler_leases WHERE owner = ?1 ORDER BY part", (owner,)
            )
            owned = [r[0] for r in await cur.fetchall()]
            if len(owned) > target:
                await db.executemany(
                    "UPDATE pydapr_scheduler_leases SET owner = NULL, expires_at = 0 WHERE part = ?1",
                    [(p,) for p in owned[target:]],
                )
                owned = owned[:target]
            elif len(owned) < target:
                cur = await db.execute(
                    "SELECT part FROM pydapr_scheduler_leases WHERE owner IS NULL OR expires_at < ?1 "
                    "ORDER BY part LIMIT ?2",
                    (now, target - len(owned)),
                )
                free = [r[0] for r in await cur.fetchall()]
                await db.executemany(
                    "UPDATE pydapr_scheduler_leases SET owner = ?1, expires_at = ?2 WHERE part = ?3",
                    [(owner, now + ttl, p) for p in free],
                )
                owned += free
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return set(owned)

    @_locked
    async def release(self, owner: str) -> None:
        await self.db.execute(
            "UPDATE pydapr_scheduler_leases SET owner = NULL, expires_at = 0 WHERE owner = ?1", (owner,)
        )
        await self.db.execute("DELETE FROM pydapr_scheduler_replicas WHERE id = ?1", (owner,))
