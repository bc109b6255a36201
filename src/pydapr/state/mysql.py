"""``state.mysql`` (MySQL and MariaDB): Dapr's table layout (``id``, ``value JSON``, ``isbinary``,
``eTag`` a UUID, ``expiredate``) in the schema ``schemaName``; no query API, as in Dapr.

Keys use a binary collation so ``a`` and ``A`` are two keys, as in every other store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC
from typing import Any

import aiomysql
import pymysql

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.state import _sql, codec
from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_KEYS_LIKE,
    FEATURE_TRANSACTIONAL,
    FEATURE_TTL,
    DeleteRequest,
    ETagMismatch,
    GetRequest,
    KeyPage,
    Operation,
    SetRequest,
    StateItem,
    StateStore,
)

_LIVE = "(expiredate IS NULL OR expiredate > NOW(6))"
_EXPIRES = "IF(%s > 0, NOW(6) + INTERVAL %s SECOND, NULL)"
_DSN = re.compile(
    r"^(?:(?P<user>[^:@/]*)(?::(?P<password>[^@]*))?@)?"
    r"(?:(?P<proto>\w+)\((?P<addr>[^)]*)\))?"
    r"/(?P<db>[^?]*)(?:\?(?P<params>.*))?$"
)
_DUPLICATE_KEY = 1062


def connect_args(meta: ComponentMetadata) -> dict[str, Any]:
    """aiomysql arguments from a Go MySQL DSN (``user:pass@tcp(host:port)/db?params``), as Dapr takes."""
    dsn = meta.require("connectionString")
    m = _DSN.match(dsn)
    if m is None:
        raise ComponentConfigError(
            meta.name, "connectionString", "must be like user:password@tcp(host:port)/"
        )
    host, _, port = (m["addr"] or "127.0.0.1:3306").rpartition(":")
    if not port.isdigit():
        host, port = m["addr"] or "127.0.0.1", "3306"
    args: dict[str, Any] = {"host": host or "127.0.0.1", "port": int(port), "user": m["user"] or "root"}
    if m["password"]:
        args["password"] = m["password"]
    if m["proto"] == "unix":
        del args["host"], args["port"]
        args["unix_socket"] = m["addr"]
    return args


class MySQLStateStore(StateStore):
    def __init__(self) -> None:
        self._pool: aiomysql.Pool | None = None
        self._table = "state"
        self._sweeper: _sql.ExpirySweeper | None = None

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_KEYS_LIKE})

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        args = connect_args(metadata)
        schema = _sql.table_name(metadata, "schemaName", "dapr_state_store")
        self._table = _sql.table_name(metadata, "tableName", "state")
        timeout = _sql.duration(metadata, "timeoutInSeconds", _sql.duration(metadata, "timeout", 20.0))
        try:
            conn = await aiomysql.connect(connect_timeout=timeout, **args)
            try:
                async with conn.cursor() as cur:
                    # Look before creating: "IF NOT EXISTS" on an existing one makes the driver warn.
                    await cur.execute(
                        "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (schema,)
                    )
                    if not await cur.fetchall():
                        await cur.execute(f"CREATE DATABASE IF NOT EXISTS {schema}")
            finally:
                conn.close()
            self._pool = await aiomysql.create_pool(
                minsize=1,
                maxsize=metadata.get_int("maxOpenConns", 10),
                db=schema,
                autocommit=True,
                connect_timeout=timeout,
                init_command="SET time_zone = '+00:00'",
                **args,
            )
            async with self._pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(
                    "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (schema, self._table),
                )
                if await cur.fetchall():
                    return self._start_sweeper()
                await cur.execute(
                    f"""CREATE TABLE IF NOT EXISTS {self._table} (
                        id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
                        value JSON NOT NULL,
                        isbinary BOOLEAN NOT NULL,
                        insertDate TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                        updateDate TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
                        eTag VARCHAR(36) NOT NULL,
                        expiredate TIMESTAMP(6) NULL,
                        INDEX expiredate_idx(expiredate)
                    )"""
                )
        except (OSError, pymysql.MySQLError) as exc:
            await self.close()
            raise ComponentConfigError(metadata.name, "connectionString", f"cannot connect: {exc}") from exc
        self._start_sweeper()

    def _start_sweeper(self) -> None:
        interval = _sql.duration(self.metadata, "cleanupInterval", 3600)
        self._sweeper = _sql.ExpirySweeper(self.metadata.name, self._sweep, interval)
        self._sweeper.start()

    async def close(self) -> None:
        if self._sweeper is not None:
            await self._sweeper.stop()
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None

    @property
    def _p(self) -> aiomysql.Pool:
        assert self._pool is not None, "state.mysql used before init"
        return self._pool

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        async with self._p.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, params)
            return list(await cur.fetchall())

    async def _sweep(self) -> None:
        await self._fetch(f"DELETE FROM {self._table} WHERE expiredate <= NOW(6)", ())

    async def get(self, req: GetRequest) -> StateItem | None:
        sql = f"SELECT value, isbinary, eTag, expiredate FROM {self._table} WHERE id = %s AND {_LIVE}"
        rows = await self._fetch(sql, (req.key,))
        if not rows:
            return None
        value, is_binary, etag, expires = rows[0]
        expires_at = expires.replace(tzinfo=UTC) if expires else None
        return StateItem(codec.from_json_column(value, bool(is_binary)), etag, expires_at)

    async def _apply(self, cur: aiomysql.Cursor, op: Operation) -> None:
        t = self._table
        if isinstance(op, DeleteRequest):
            if op.etag:
                etag = codec.check_uuid_etag(op.etag)
                await cur.execute(f"DELETE FROM {t} WHERE id = %s AND eTag = %s AND {_LIVE}", (op.key, etag))
                if cur.rowcount != 1:
                    raise ETagMismatch(op.key)
            else:
                await cur.execute(f"DELETE FROM {t} WHERE id = %s", (op.key,))
            return
        value, is_binary = codec.to_json_column(op.value)
        ttl = op.ttl or 0
        new_etag = codec.new_uuid_etag()
        if op.etag:
            etag = codec.check_uuid_etag(op.etag)
            await cur.execute(
                f"UPDATE {t} SET value = %s, eTag = %s, isbinary = %s, expiredate = {_EXPIRES} "
                f"WHERE id = %s AND eTag = %s AND {_LIVE}",
                (value, new_etag, is_binary, ttl, ttl, op.key, etag),
            )
            if cur.rowcount != 1:
                raise ETagMismatch(op.key)
            return
        if op.first_write:
            # An expired row may be replaced; a live one makes the insert fail (duplicate key).
            await cur.execute(f"DELETE FROM {t} WHERE id = %s AND NOT {_LIVE}", (op.key,))
            try:
                await cur.execute(
                    f"INSERT INTO {t} (id, value, eTag, isbinary, expiredate) "
                    f"VALUES (%s, %s, %s, %s, {_EXPIRES})",
                    (op.key, value, new_etag, is_binary, ttl, ttl),
                )
            except pymysql.err.IntegrityError as exc:
                if exc.args[0] == _DUPLICATE_KEY:
                    raise ETagMismatch(op.key) from None
                raise
            return
        await cur.execute(
            f"INSERT INTO {t} (id, value, eTag, isbinary, expiredate) VALUES (%s, %s, %s, %s, {_EXPIRES}) "
            "ON DUPLICATE KEY UPDATE value = VALUES(value), eTag = VALUES(eTag), "
            "isbinary = VALUES(isbinary), expiredate = VALUES(expiredate)",
            (op.key, value, new_etag, is_binary, ttl, ttl),
        )

    async def set(self, req: SetRequest) -> None:
        async with self._p.acquire() as conn, conn.cursor() as cur:
            await self._apply(cur, req)

    async def delete(self, req: DeleteRequest) -> None:
        async with self._p.acquire() as conn, conn.cursor() as cur:
            await self._apply(cur, req)

    async def transact(self, ops: Sequence[Operation]) -> None:
        async with self._p.acquire() as conn:
            await conn.begin()
            try:
                async with conn.cursor() as cur:
                    for op in ops:
                        await self._apply(cur, op)
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def list_keys(self, prefix: str, limit: int, token: str) -> KeyPage:
        sql = (
            f"SELECT id FROM {self._table} "
            f"WHERE LEFT(id, CHAR_LENGTH(%s)) = %s AND id > %s AND {_LIVE} ORDER BY id"
        )
        params: list[Any] = [prefix, prefix, token]
        if limit:
            sql += " LIMIT %s"
            params.append(limit + 1)
        keys = [r[0] for r in await self._fetch(sql, params)]
        if limit and len(keys) > limit:
            return KeyPage(keys[:limit], keys[limit - 1])
        return KeyPage(keys)
