"""Jobs, leases and heartbeats in PostgreSQL (asyncpg) for schedulers running as several replicas.

Lease times use the database clock, so replicas on hosts with skewed clocks still agree on who owns
a partition. Replicas are woken by LISTEN/NOTIFY when a job is scheduled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import asyncpg

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

CHANNEL = "pydapr_scheduler_jobs"
_NOW = "SELECT extract(epoch from clock_timestamp())::float8"


# The batch arrives as one array per column; the lease check runs on the database's clock.
_HELD = (
    "SELECT part FROM pydapr_scheduler_leases WHERE owner = $1 "
    "AND expires_at >= extract(epoch from clock_timestamp()) FOR SHARE"
)
_KEYS = "$2::text[], $3::text[], $4::text[], $5::text[]"
_MATCH = (
    "j.namespace = b.namespace AND j.app_id = b.app_id AND j.name = b.name AND j.uid = b.uid "
    "AND j.part IN (SELECT part FROM held)"
)
_ADVANCE = (
    f"WITH held AS ({_HELD}) UPDATE pydapr_scheduler_jobs j SET next_at = b.next_at, occ_at = b.occ_at, "
    "count = b.count, attempts = b.attempts "
    f"FROM unnest({_KEYS}, $6::float8[], $7::float8[], $8::int[], $9::int[]) "
    f"AS b(namespace, app_id, name, uid, next_at, occ_at, count, attempts) WHERE {_MATCH}"
)
_REMOVE = (
    f"WITH held AS ({_HELD}) DELETE FROM pydapr_scheduler_jobs j "
    f"USING unnest({_KEYS}) AS b(namespace, app_id, name, uid) WHERE {_MATCH}"
)


def _record(row: Any) -> JobRecord:
    return JobRecord(*row.values())


class PostgresJobStore:
    def __init__(self, dsn: str, partitions: int = DEFAULT_PARTITIONS, pool_size: int = 10) -> None:
        self.dsn = dsn
        self.partitions = partitions
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self.on_notify: Callable[[], None] | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "store not opened"
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self._pool_size)
            async with self.pool.acquire() as conn, conn.transaction():
                # Serialise schema creation between replicas starting at the same time.
                await conn.execute("SELECT pg_advisory_xact_lock(727274)")
                await conn.execute(_sql.SCHEMA.format(blob="BYTEA", float="DOUBLE PRECISION"))
                await conn.execute(
                    "INSERT INTO pydapr_scheduler_leases (part) SELECT generate_series(0, $1 - 1) "
                    "ON CONFLICT DO NOTHING",
                    self.partitions,
                )
            self._listener = await asyncpg.connect(self.dsn)
            await self._listener.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:
            await self.close()
            raise StoreError(f"postgresql: {exc}") from exc

    def _notified(self, *_: object) -> None:
        if self.on_notify is not None:
            self.on_notify()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def put(self, job: JobRecord, overwrite: bool) -> None:
        sql = _sql.INSERT + (_sql.ON_CONFLICT_OVERWRITE if overwrite else _sql.ON_CONFLICT_KEEP)
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                sql,
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
            )
            if status.endswith(" 0"):
                raise JobExistsError(job.name)
            await conn.execute("SELECT pg_notify($1, '')", CHANNEL)

    async def get(self, namespace: str, app_id: str, name: str) -> JobRecord | None:
        row = await self.pool.fetchrow(_sql.SELECT_ONE, namespace, app_id, name)
        return _record(row) if row is not None else None

    async def delete(self, namespace: str, app_id: str, name: str) -> bool:
        status = await self.pool.execute(_sql.DELETE_ONE, namespace, app_id, name)
        return not status.endswith(" 0")

    async def list_jobs(self, namespace: str, app_id: str) -> list[JobRecord]:
        return [_record(r) for r in await self.pool.fetch(_sql.SELECT_APP, namespace, app_id)]

    async def delete_prefix(self, namespace: str, app_id: str, prefix: str) -> int:
        status = await self.pool.execute(
            "DELETE FROM pydapr_scheduler_jobs WHERE namespace = $1 AND app_id = $2 "
            "AND left(name, length($3)) = $3",
            namespace,
            app_id,
            prefix,
        )
        return int(status.rsplit(" ", 1)[1])

    async def due(
        self, partitions: list[int], apps: list[str], until: float, limit: int, after: DueCursor | None = None
    ) -> list[JobRecord]:
        if not partitions or not apps:
            return []
        rest = ""
        params: tuple[Any, ...] = (partitions, until, apps, limit)
        if after is not None:
            rest = "AND (next_at, namespace, app_id, name) > ($5, $6, $7, $8) "
            params += after
        rows = await self.pool.fetch(
            f"SELECT {_sql.JOB_COLUMNS} FROM pydapr_scheduler_jobs WHERE part = ANY($1::int[]) "
            f"AND next_at <= $2 AND (namespace || '/' || app_id) = ANY($3::text[]) {rest}"
            f"ORDER BY {_sql.DUE_ORDER} LIMIT $4",
            *params,
        )
        return [_record(r) for r in rows]

    async def apply(self, owner: str, changes: list[Advance | Remove]) -> None:
        adv: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
        rem: tuple[list[Any], ...] = ([], [], [], [])
        for c in changes:
            if isinstance(c, Advance):
                row: tuple[Any, ...] = (
                    c.namespace,
                    c.app_id,
                    c.name,
                    c.uid,
                    c.next_at,
                    c.occ_at,
                    c.count,
                    c.attempts,
                )
                for column, value in zip(adv, row, strict=True):
                    column.append(value)
            else:
                for column, value in zip(rem, (c.namespace, c.app_id, c.name, c.uid), strict=True):
                    column.append(value)
        async with self.pool.acquire() as conn, conn.transaction():
            # One statement per kind for the whole batch, the lease checked in it (FOR SHARE: no
            # replica takes the partition before this transaction ends).
            if adv[0]:
                await conn.execute(_ADVANCE, owner, *adv)
            if rem[0]:
                await conn.execute(_REMOVE, owner, *rem)

    async def lease(self, owner: str, ttl: float) -> set[int]:
        async with self.pool.acquire() as conn, conn.transaction():
            now = await conn.fetchval(_NOW)
            await conn.execute(
                "INSERT INTO pydapr_scheduler_replicas (id, expires_at) VALUES ($1, $2) "
                "ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
                owner,
                now + ttl,
            )
            await conn.execute("DELETE FROM pydapr_scheduler_replicas WHERE expires_at < $1", now)
            live = await conn.fetchval("SELECT count(*) FROM pydapr_scheduler_replicas")
            target = math.ceil(self.partitions / max(1, live))
            rows = await conn.fetch(
                "UPDATE pydapr_scheduler_leases SET expires_at = $2 WHERE owner = $1 RETURNING part",
                owner,
                now + ttl,
            )
            owned = sorted(r["part"] for r in rows)
            if len(owned) > target:
                extra = owned[target:]
                await conn.execute(
                    "UPDATE pydapr_scheduler_leases SET owner = NULL, expires_at = 0 "
                    "WHERE part = ANY($1::int[])",
                    extra,
                )
                owned = owned[:target]
            elif len(owned) < target:
                rows = await conn.fetch(
                    "UPDATE pydapr_scheduler_leases SET owner = $1, expires_at = $2 WHERE part IN ("
                    " SELECT part FROM pydapr_scheduler_leases WHERE owner IS NULL OR expires_at < $3"
                    " ORDER BY part LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING part",
                    owner,
                    now + ttl,
                    now,
                    target - len(owned),
                )
                owned += [r["part"] for r in rows]
            return set(owned)

    async def release(self, owner: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE pydapr_scheduler_leases SET owner = NULL, expires_at = 0 WHERE owner = $1", owner
            )
            await conn.execute("DELETE FROM pydapr_scheduler_replicas WHERE id = $1", owner)
