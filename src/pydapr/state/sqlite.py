"""``state.sqlite``: a SQLite file in Dapr's table layout, WAL mode; the embedded default store.

SQLite has no async driver: aiosqlite runs each connection on its own thread. Writes go through one
connection under an asyncio lock (so a transaction never interleaves with another coroutine's
statements); reads use a second connection, which WAL lets run beside the writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import msgspec

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.state import _sql, codec
from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_KEYS_LIKE,
    FEATURE_QUERY,
    FEATURE_TRANSACTIONAL,
    FEATURE_TTL,
    Combine,
    DeleteRequest,
    ETagMismatch,
    Filter,
    GetRequest,
    KeyPage,
    Operation,
    Query,
    QueryResult,
    SetRequest,
    StateItem,
    StateStore,
)

_TS = "%Y-%m-%d %H:%M:%S.%f"
_LIVE = "(expiration_time IS NULL OR expiration_time > ?)"


def _ts(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).strftime(_TS)


def _parse_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    fmt = _TS if "." in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


class SQLiteStateStore(StateStore):
    def __init__(self) -> None:
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._table = "state"
        self._sweeper: _sql.ExpirySweeper | None = None

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_QUERY, FEATURE_KEYS_LIKE})

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        conn_str = metadata.require("connectionString")
        self._table = _sql.table_name(metadata, "tableName", "state")
        busy_ms = int(_sql.duration(metadata, "busyTimeout", 2.0) * 1000)
        wal = not metadata.get_bool("disableWAL", False)
        memory = conn_str == ":memory:" or "mode=memory" in conn_str
        uri = conn_str.startswith("file:")
        target = conn_str
        if not uri and not memory:
            path = metadata.resolve_path(conn_str)
            path.parent.mkdir(parents=True, exist_ok=True)
            target = str(path)
        try:
            self._writer = await aiosqlite.connect(target, uri=uri, isolation_level=None)
            await self._writer.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if wal and not memory:
                await self._writer.execute("PRAGMA journal_mode = WAL")
            await self._writer.execute(
                f"""CREATE TABLE IF NOT EXISTS {self._table} (
                    key TEXT NOT NULL PRIMARY KEY,
                    value TEXT NOT NULL,
                    is_binary BOOLEAN NOT NULL,
                    etag TEXT NOT NULL,
                    expiration_time TIMESTAMP DEFAULT NULL,
                    update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
                )"""
            )
            if memory:
                # A second connection to :memory: would be another, empty database.
                self._reader = self._writer
            else:
                self._reader = await aiosqlite.connect(target, uri=uri, isolation_level=None)
                await self._reader.execute(f"PRAGMA busy_timeout = {busy_ms}")
        except sqlite3.Error as exc:
            await self.close()
            problem = f"cannot open {conn_str!r}: {exc}"
            raise ComponentConfigError(metadata.name, "connectionString", problem) from exc
        interval = _sql.duration(metadata, "cleanupInterval", 3600)
        self._sweeper = _sql.ExpirySweeper(metadata.name, self._sweep, interval)
        self._sweeper.start()

    async def close(self) -> None:
        if self._sweeper is not None:
            await self._sweeper.stop()
        for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            await conn.close()
        self._reader = self._writer = None

    @property
    def _r(self) -> aiosqlite.Connection:
        assert self._reader is not None, "state.sqlite used before init"
        return self._reader

    @property
    def _w(self) -> aiosqlite.Connection:
        assert self._writer is not None, "state.sqlite used before init"
        return self._writer

    async def _sweep(self) -> None:
        async with self._lock:
            sql = f"DELETE FROM {self._table} WHERE expiration_time <= ?"
            await self._w.execute(sql, (_ts(codec.utcnow()),))

    def _reader_lock(self) -> asyncio.Lock | None:
        # With a shared :memory: connection a read could see another coroutine's open transaction.
        return self._lock if self._reader is self._writer else None

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        lock = self._reader_lock()
        if lock is None:
            async with self._r.execute(sql, params) as cur:
                return list(await cur.fetchall())
        async with lock, self._r.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def get(self, req: GetRequest) -> StateItem | None:
        rows = await self._fetch(
            f"SELECT value, is_binary, etag, expiration_time FROM {self._table} "
            "WHERE key = ? AND (expiration_time IS NULL OR expiration_time > ?)",
            (req.key, _ts(codec.utcnow())),
        )
        if not rows:
            return None
        value, is_binary, etag, expires = rows[0]
        return StateItem(codec.from_text_column(value, bool(is_binary)), etag, _parse_ts(expires))

    async def _apply(self, op: Operation) -> None:
        now = _ts(codec.utcnow())
        t = self._table
        if isinstance(op, DeleteRequest):
            if op.etag:
                etag = codec.check_uuid_etag(op.etag)
                cur = await self._w.execute(
                    f"DELETE FROM {t} WHERE key = ? AND etag = ? AND {_LIVE}",
                    (op.key, etag, now),
                )
                if cur.rowcount != 1:
                    raise ETagMismatch(op.key)
            else:
                await self._w.execute(f"DELETE FROM {t} WHERE key = ?", (op.key,))
            return
        text, is_binary = codec.to_text_column(op.value)
        new_etag = codec.new_uuid_etag()
        expires = _ts(codec.expiry(op.ttl))
        if op.etag:
            etag = codec.check_uuid_etag(op.etag)
            cur = await self._w.execute(
                f"UPDATE {t} SET value = ?, is_binary = ?, etag = ?, expiration_time = ?, update_time = ? "
                f"WHERE key = ? AND etag = ? AND {_LIVE}",
                (text, is_binary, new_etag, expires, now, op.key, etag, now),
            )
            if cur.rowcount != 1:
                raise ETagMismatch(op.key)
            return
        # first-write without an ETag: only an absent or expired row may be replaced.
        guard = f" WHERE {t}.expiration_time <= ?" if op.first_write else ""
        params: tuple[Any, ...] = (op.key, text, is_binary, new_etag, expires, now)
        cur = await self._w.execute(
            f"INSERT INTO {t} (key, value, is_binary, etag, expiration_time, update_time) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "is_binary = excluded.is_binary, etag = excluded.etag, "
            "expiration_time = excluded.expiration_time, update_time = excluded.update_time" + guard,
            (*params, now) if op.first_write else params,
        )
        if op.first_write and cur.rowcount != 1:
            raise ETagMismatch(op.key)

    async def set(self, req: SetRequest) -> None:
        async with self._lock:
            await self._apply(req)

    async def delete(self, req: DeleteRequest) -> None:
        async with self._lock:
            await self._apply(req)

    async def transact(self, ops: Sequence[Operation]) -> None:
        async with self._lock:
            await self._w.execute("BEGIN IMMEDIATE")
            try:
                for op in ops:
                    await self._apply(op)
            except BaseException:
                await self._w.execute("ROLLBACK")
                raise
            await self._w.execute("COMMIT")

    async def query(self, q: Query) -> QueryResult:
        params: list[Any] = [len(q.key_prefix), q.key_prefix, _ts(codec.utcnow())]
        sql = (
            f"SELECT key, value, is_binary, etag, expiration_time FROM {self._table} "
            "WHERE substr(key, 1, ?) = ? AND (expiration_time IS NULL OR expiration_time > ?) "
            "AND is_binary = 0 AND json_valid(value)"
        )
        if q.filter is not None:
            sql += " AND " + _where(q.filter, params)
        order = [f"{_field(s.path)} {'DESC' if s.descending else 'ASC'}" for s in q.sort]
        sql += " ORDER BY " + ", ".join([*order, "key"])
        if q.limit or q.offset:
            sql += " LIMIT ? OFFSET ?"
            params += [q.limit or -1, q.offset]
        rows = await self._fetch(sql, params)
        items = [
            (k, StateItem(codec.from_text_column(v, bool(b)), e, _parse_ts(x))) for k, v, b, e, x in rows
        ]
        return QueryResult(items, str(q.offset + len(items)) if q.limit else "")

    async def list_keys(self, prefix: str, limit: int, token: str) -> KeyPage:
        rows = await self._fetch(
            f"SELECT key FROM {self._table} WHERE substr(key, 1, ?) = ? AND key > ? "
            "AND (expiration_time IS NULL OR expiration_time > ?) ORDER BY key LIMIT ?",
            (len(prefix), prefix, token, _ts(codec.utcnow()), limit + 1 if limit else -1),
        )
        keys = [r[0] for r in rows]
        if limit and len(keys) > limit:
            return KeyPage(keys[:limit], keys[limit - 1])
        return KeyPage(keys)


def _field(path: tuple[str, ...]) -> str:
    # Path parts are bound into a JSON path literal: escape the quote so no part can end it early.
    json_path = "$" + "".join('."' + p.replace('"', '\\"').replace("'", "''") + '"' for p in path)
    return f"json_extract(CASE WHEN json_valid(value) THEN value ELSE 'null' END, '{json_path}')"


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return msgspec.json.encode(value).decode()
    return value


def _where(flt: Filter, params: list[Any]) -> str:
    if isinstance(flt, Combine):
        return "(" + f" {flt.op} ".join(_where(f, params) for f in flt.filters) + ")"
    field = _field(flt.path)
    if flt.op == "IN":
        params.extend(_param(v) for v in flt.value)
        return f"{field} IN ({', '.join('?' * len(flt.value))})"
    if flt.value is None:
        return f"{field} IS NULL" if flt.op == "EQ" else f"{field} IS NOT NULL"
    sql_op = {"EQ": "=", "NEQ": "IS NOT", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}[flt.op]
    params.append(_param(flt.value))
    return f"{field} {sql_op} ?"
