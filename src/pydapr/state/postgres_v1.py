"""``state.postgresql`` v1: Dapr's v1 table (``value jsonb``, ``isbinary``, ``expiredate``; ETag = ``xmin``).

Values that are not JSON are kept as a base64 JSON string with ``isbinary`` set, as Dapr does; JSON
values come back as PostgreSQL's jsonb prints them (same data, normalised spacing and key order).
Queries run in SQL over the jsonb column.
"""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg
import msgspec

from pydapr.components.base import ComponentMetadata
from pydapr.state import _pg, _sql, codec
from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_KEYS_LIKE,
    FEATURE_QUERY,
    FEATURE_TRANSACTIONAL,
    FEATURE_TTL,
    Combine,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    Filter,
    GetRequest,
    KeyPage,
    Operation,
    Query,
    QueryResult,
    StateItem,
)

_LIVE = "(expiredate IS NULL OR expiredate > now())"


def _xmin(etag: str) -> str:
    value = codec.check_int_etag(etag)
    if value > 0xFFFFFFFF:
        raise ETagInvalid(etag)
    return str(value)


class PostgresV1StateStore(_pg.PostgresStore):
    expiry_column = "expiredate"

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_QUERY, FEATURE_KEYS_LIKE})

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self._table = _sql.table_name(metadata, "tableName", "state")
        self._pool = await _pg.open_pool(metadata)
        async with self._pool.acquire() as conn:
            with contextlib.suppress(asyncpg.UniqueViolationError):  # another sidecar made it just now
                await conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS {self._table} (
                        key text NOT NULL PRIMARY KEY,
                        value jsonb NOT NULL,
                        isbinary boolean NOT NULL,
                        insertdate TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
                        updatedate TIMESTAMP WITH TIME ZONE NULL,
                        expiredate TIMESTAMP WITH TIME ZONE NULL
                    )"""
                )
            # Tables made by Dapr before 1.11 lack the expiry column.
            await conn.execute(f"ALTER TABLE {self._table} ADD COLUMN IF NOT EXISTS expiredate TIMESTAMPTZ")
        self._start_sweeper(metadata)

    async def get(self, req: GetRequest) -> StateItem | None:
        row = await self._p.fetchrow(
            f"SELECT value::text, isbinary, xmin::text, expiredate FROM {self._table} "
            f"WHERE key = $1 AND {_LIVE}",
            req.key,
        )
        if row is None:
            return None
        return StateItem(codec.from_json_column(row[0], row[1]), row[2], row[3])

    async def _apply(self, conn: asyncpg.Connection, op: Operation) -> None:
        t = self._table
        if isinstance(op, DeleteRequest):
            if op.etag:
                status = await conn.execute(
                    f"DELETE FROM {t} WHERE key = $1 AND xmin::text = $2 AND {_LIVE}", op.key, _xmin(op.etag)
                )
                if _pg.rowcount(status) != 1:
                    raise ETagMismatch(op.key)
            else:
                await conn.execute(f"DELETE FROM {t} WHERE key = $1", op.key)
            return
        value, is_binary = codec.to_json_column(op.value)
        ttl = op.ttl or 0
        if op.etag:
            status = await conn.execute(
                f"UPDATE {t} SET value = $2::jsonb, isbinary = $3, updatedate = now(), "
                f"expiredate = {_pg.expire_sql('$4')} WHERE key = $1 AND xmin::text = $5 AND {_LIVE}",
                op.key,
                value,
                is_binary,
                ttl,
                _xmin(op.etag),
            )
            if _pg.rowcount(status) != 1:
                raise ETagMismatch(op.key)
            return
        # first-write without an ETag may only replace a row that has expired.
        guard = " WHERE t.expiredate IS NOT NULL AND t.expiredate <= now()" if op.first_write else ""
        status = await conn.execute(
            f"INSERT INTO {t} AS t (key, value, isbinary, expiredate) "
            f"VALUES ($1, $2::jsonb, $3, {_pg.expire_sql('$4')}) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, isbinary = excluded.isbinary, "
            "updatedate = now(), expiredate = excluded.expiredate" + guard,
            op.key,
            value,
            is_binary,
            ttl,
        )
        if op.first_write and _pg.rowcount(status) != 1:
            raise ETagMismatch(op.key)

    async def query(self, q: Query) -> QueryResult:
        params: list[Any] = [q.key_prefix]
        sql = (
            f"SELECT key, value::text, isbinary, xmin::text, expiredate FROM {self._table} "
            f"WHERE starts_with(key, $1) AND {_LIVE} AND NOT isbinary"
        )
        if q.filter is not None:
            sql += " AND " + _where(q.filter, params)
        order = []
        for s in q.sort:
            params.append(list(s.path))
            order.append(f"value #> ${len(params)}::text[] {'DESC' if s.descending else 'ASC'}")
        sql += " ORDER BY " + ", ".join([*order, 'key COLLATE "C"'])
        if q.limit:
            params.append(q.limit)
            sql += f" LIMIT ${len(params)}"
        if q.offset:
            params.append(q.offset)
            sql += f" OFFSET ${len(params)}"
        rows = await self._p.fetch(sql, *params)
        items = [(r[0], StateItem(codec.from_json_column(r[1], r[2]), r[3], r[4])) for r in rows]
        return QueryResult(items, str(q.offset + len(items)) if q.limit else "")

    async def list_keys(self, prefix: str, limit: int, token: str) -> KeyPage:
        rows = await self._p.fetch(
            f'SELECT key FROM {self._table} WHERE starts_with(key, $1) AND key COLLATE "C" > $2 AND {_LIVE} '
            'ORDER BY key COLLATE "C" LIMIT $3',
            prefix,
            token,
            limit + 1 if limit else None,
        )
        keys = [r[0] for r in rows]
        if limit and len(keys) > limit:
            return KeyPage(keys[:limit], keys[limit - 1])
        return KeyPage(keys)


def _where(flt: Filter, params: list[Any]) -> str:
    if isinstance(flt, Combine):
        return "(" + f" {flt.op} ".join(_where(f, params) for f in flt.filters) + ")"
    params.append(list(flt.path))
    field = f"(value #> ${len(params)}::text[])"
    if flt.op == "IN":
        params.append([msgspec.json.encode(v).decode() for v in flt.value])
        return f"{field} = ANY(${len(params)}::jsonb[])"
    params.append(msgspec.json.encode(flt.value).decode())
    arg = f"${len(params)}::jsonb"
    if flt.op == "EQ":
        return f"{field} = {arg}"
    if flt.op == "NEQ":
        return f"({field} IS NULL OR {field} <> {arg})"
    sql_op = {"GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}[flt.op]
    return f"(jsonb_typeof({field}) = 'number' AND {field} {sql_op} {arg})"
