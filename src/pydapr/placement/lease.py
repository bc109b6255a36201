"""The leader lease several placement replicas share, held in a database they all reach.

No consensus of our own: one row (SQLite, PostgreSQL) or key (Redis) names the leader and when its
lease ends. The leader renews it every ``renew`` seconds; a replica takes it once it expired. A
leader that fails to renew steps down at once, before its lease can pass to another replica.

``--store`` URLs: ``sqlite://`` (the pydapr home's placement/leader.db), ``sqlite:///path``,
``postgresql://...``, ``redis://host:port/db``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("pydapr.placement.lease")

DEFAULT_LEASE_NAME = "placement"


class LeaseError(Exception):
    """The store cannot be reached or used."""


class LeaseStore(Protocol):
    async def open(self) -> None: ...

    async def acquire(self, owner: str, ttl: float) -> bool:
        """Takes or renews the lease for ``ttl`` seconds; whether ``owner`` holds it now."""
        ...

    async def release(self, owner: str) -> None: ...

    async def close(self) -> None: ...


def default_sqlite_path() -> Path:
    from pydapr.home import pydapr_home

    return pydapr_home() / "placement" / "leader.db"


def open_lease_store(url: str, name: str = DEFAULT_LEASE_NAME) -> LeaseStore:
    if url.startswith(("postgres://", "postgresql://")):
        return PostgresLease(url, name)
    if url.startswith(("redis://", "rediss://")):
        return RedisLease(url, name)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        return SqliteLease(Path(path) if path else default_sqlite_path(), name)
    raise ValueError(
        f"unsupported placement store {url!r}: use sqlite://, sqlite:///path, postgresql://... or redis://..."
    )


class SqliteLease:
    """The lease in a SQLite file: replicas on one machine (the local control plane's home)."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._db: Any = None

    async def open(self) -> None:
        import aiosqlite

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path, timeout=2.0)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute(
                "CREATE TABLE IF NOT EXISTS pydapr_placement_leases "
                "(name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)"
            )
            await self._db.commit()
        except (OSError, aiosqlite.Error) as exc:
            raise LeaseError(f"{self.path}: {exc}") from exc

    async def acquire(self, owner: str, ttl: float) -> bool:
        import aiosqlite

        now = time.time()
        try:
            # One statement, so atomic: insert, or take over an expired lease, or renew our own.
            cursor = await self._db.execute(
                "INSERT INTO pydapr_placement_leases (name, owner, expires_at) VALUES (?1, ?2, ?3) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
                "WHERE pydapr_placement_leases.owner = excluded.owner "
                "OR pydapr_placement_leases.expires_at < ?4",
                (self.name, owner, now + ttl, now),
            )
            await self._db.commit()
            return bool(cursor.rowcount > 0)
        except aiosqlite.Error as exc:
            raise LeaseError(str(exc)) from exc

    async def release(self, owner: str) -> None:
        await self._db.execute(
            "DELETE FROM pydapr_placement_leases WHERE name = ?1 AND owner = ?2", (self.name, owner)
        )
        await self._db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None


class PostgresLease:
    """The lease in PostgreSQL; expiry is judged by the database's clock, the same for every replica."""

    def __init__(self, dsn: str, name: str) -> None:
        self.dsn = dsn
        self.name = name
        self._pool: Any = None

    async def open(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2, timeout=5.0)
            await self._pool.execute(
                "CREATE TABLE IF NOT EXISTS pydapr_placement_leases "
                "(name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL)"
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise LeaseError(str(exc)) from exc

    async def acquire(self, owner: str, ttl: float) -> bool:
        import asyncpg

        try:
            row = await self._pool.fetchval(
                "INSERT INTO pydapr_placement_leases AS l (name, owner, expires_at) "
                "VALUES ($1, $2, now() + make_interval(secs => $3)) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
                "WHERE l.owner = excluded.owner OR l.expires_at < now() RETURNING owner",
                self.name,
                owner,
                ttl,
                timeout=max(ttl / 2, 0.5),
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise LeaseError(str(exc)) from exc
        return bool(row == owner)

    async def release(self, owner: str) -> None:
        await self._pool.execute(
            "DELETE FROM pydapr_placement_leases WHERE name = $1 AND owner = $2", self.name, owner
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


_REDIS_ACQUIRE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_REDIS_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisLease:
    """The lease as a Redis key with a TTL (``pydapr:placement:<name>:leader``)."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.key = f"pydapr:placement:{name}:leader"
        self._client: Any = None

    async def open(self) -> None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        try:
            self._client = aioredis.Redis.from_url(self.url, socket_timeout=2.0, socket_connect_timeout=2.0)
            await self._client.ping()
        except (OSError, RedisError, ValueError) as exc:
            raise LeaseError(str(exc)) from exc

    async def acquire(self, owner: str, ttl: float) -> bool:
        from redis.exceptions import RedisError

        try:
            got = await self._client.eval(_REDIS_ACQUIRE, 1, self.key, owner, int(ttl * 1000))
        except (OSError, RedisError) as exc:
            raise LeaseError(str(exc)) from exc
        return bool(got)

    async def release(self, owner: str) -> None:
        await self._client.eval(_REDIS_RELEASE, 1, self.key, owner)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class Leadership:
    """Holds (or waits for) the lease; tells the service when it becomes or stops being the leader.

    A new leader waits ``grace`` seconds before its first round (``ready_in``), so the sidecars
    reconnecting from the old leader have reported and the table is not rebuilt from a part of them.
    """

    def __init__(
        self,
        store: LeaseStore | None,
        owner: str,
        *,
        ttl: float = 3.0,
        renew: float = 1.0,
        grace: float = 3.0,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.ttl = ttl
        self.renew = renew
        self.grace = grace
        self.on_change = on_change
        self.is_leader = store is None  # no store: a single replica that leads from the start
        self._since = time.monotonic() if store is None else 0.0
        self._task: asyncio.Task[None] | None = None

    def ready_in(self) -> float:
        """Seconds until this leader may run rounds (0 when it may now)."""
        return max(0.0, self._since + self.grace - time.monotonic()) if self.is_leader else self.renew

    async def start(self) -> None:
        if self.store is not None and self._task is None:
            await self._tick()
            self._task = asyncio.create_task(self._loop(), name="placement-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.store is not None and self.is_leader:
            self._set(False)
            with contextlib.suppress(Exception):
                await self.store.release(self.owner)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.renew)
            await self._tick()

    async def _tick(self) -> None:
        assert self.store is not None
        try:
            # A renewal slower than this could end after the lease did: count it as lost.
            async with asyncio.timeout(max(self.renew, self.ttl - self.renew)):
                held = await self.store.acquire(self.owner, self.ttl)
        except (LeaseError, TimeoutError) as exc:
            if self.is_leader:
                log.warning("cannot renew the leader lease (%s): stepping down", str(exc) or "timed out")
            held = False
        self._set(held)

    def _set(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        self.is_leader = leader
        if leader:
            self._since = time.monotonic()
            log.info("%s is the placement leader", self.owner)
        else:
            log.info("%s is no longer the placement leader", self.owner)
        if self.on_change is not None:
            self.on_change(leader)
