"""What both PostgreSQL layouts share: reading Dapr's connection string and opening the pool."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import asyncpg

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.state import _sql
from pydapr.state.contract import DeleteRequest, Operation, SetRequest, StateStore

# libpq keywords Dapr's docs use, mapped to asyncpg.connect arguments.
_KEYWORDS = {
    "host": "host",
    "hostaddr": "host",
    "port": "port",
    "user": "user",
    "password": "password",
    "database": "database",
    "dbname": "database",
    "sslmode": "ssl",
    "connect_timeout": "timeout",
    "application_name": None,
    "pool_max_conns": None,
    "search_path": None,
}


def connect_args(meta: ComponentMetadata) -> dict[str, Any]:
    """asyncpg arguments from ``connectionString``: a URL, or libpq ``key=value`` pairs as in Dapr's docs."""
    conn = meta.require("connectionString").strip()
    if conn.startswith(("postgres://", "postgresql://")):
        return {"dsn": conn}
    args: dict[str, Any] = {}
    server_settings: dict[str, str] = {}
    try:
        pairs = shlex.split(conn)
    except ValueError as exc:
        raise ComponentConfigError(meta.name, "connectionString", f"cannot parse: {exc}") from None
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ComponentConfigError(meta.name, "connectionString", f"expected key=value, got {pair!r}")
        key = key.strip().lower()
        if key not in _KEYWORDS:
            raise ComponentConfigError(meta.name, "connectionString", f"unknown keyword {key!r}")
        target = _KEYWORDS[key]
        if key == "search_path":
            server_settings["search_path"] = value
        elif key == "application_name":
            server_settings["application_name"] = value
        elif target == "port":
            args["port"] = int(value)
        elif target == "timeout":
            args["timeout"] = float(value)
        elif target == "ssl":
            args["ssl"] = None if value in ("disable", "allow") else value
        elif target is not None:
            args[target] = value
    if server_settings:
        args["server_settings"] = server_settings
    return args


async def open_pool(meta: ComponentMetadata) -> asyncpg.Pool:
    args = connect_args(meta)
    args.setdefault("timeout", _sql.duration(meta, "timeout", 20.0))
    try:
        pool = await asyncpg.create_pool(min_size=1, max_size=meta.get_int("maxConns", 10), **args)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ComponentConfigError(meta.name, "connectionString", f"cannot connect: {exc}") from exc
    assert pool is not None
    return pool


def rowcount(status: str) -> int:
    """Rows touched, from a command status such as ``INSERT 0 1`` or ``UPDATE 0``."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# SQL for an expiry computed by the database clock from a ttl parameter (seconds; <= 0: never).
def expire_sql(param: str) -> str:
    return f"CASE WHEN {param}::int > 0 THEN now() + make_interval(secs => {param}::int) ELSE NULL END"


class PostgresStore(StateStore):
    """What both PostgreSQL table layouts share: the pool, the table name and the expiry sweeper.

    Subclasses name their expiry column in ``expiry_column``.
    """

    expiry_column = ""

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self._table = "state"
        self._sweeper: _sql.ExpirySweeper | None = None

    def _start_sweeper(self, metadata: ComponentMetadata) -> None:
        interval = _sql.duration(metadata, "cleanupInterval", 3600)
        self._sweeper = _sql.ExpirySweeper(metadata.name, self._sweep, interval)
        self._sweeper.start()

    async def close(self) -> None:
        if self._sweeper is not None:
            await self._sweeper.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def _p(self) -> asyncpg.Pool:
        assert self._pool is not None, "state.postgresql used before init"
        return self._pool

    async def _sweep(self) -> None:
        await self._p.execute(f"DELETE FROM {self._table} WHERE {self.expiry_column} <= now()")

    async def _apply(self, conn: asyncpg.Connection, op: Operation) -> None:
        """Write one operation on ``conn`` (each table layout has its own SQL)."""
        raise NotImplementedError

    async def set(self, req: SetRequest) -> None:
        async with self._p.acquire() as conn:
            await self._apply(conn, req)

    async def delete(self, req: DeleteRequest) -> None:
        async with self._p.acquire() as conn:
            await self._apply(conn, req)

    async def transact(self, ops: Sequence[Operation]) -> None:
        async with self._p.acquire() as conn, conn.transaction():
            for op in ops:
                await self._apply(conn, op)
