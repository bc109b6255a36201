"""``state.postgresql`` v2: Dapr's v2 table (``value bytea``, ``etag uuid``, ``expires_at``); no query API.

Values are stored byte for byte. The table is ``<tablePrefix>state``.
"""

from __future__ import annotations

import contextlib
import uuid

import asyncpg

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.state import _pg, codec
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
    StateItem,
)

_LIVE = "(expires_at IS NULL OR expires_at > now())"


class PostgresV2StateStore(_pg.PostgresStore):
    expiry_column = "expires_at"

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_ETAG, FEATURE_TRANSACTIONAL, FEATURE_TTL, FEATURE_KEYS_LIKE})

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        prefix = metadata.get("tablePrefix") or ""
        self._table = prefix + "state"
        if not codec.is_identifier(self._table):
            raise ComponentConfigError(
                metadata.name, "tablePrefix", f"{prefix!r} makes an invalid table name"
            )
        self._pool = await _pg.open_pool(metadata)
        async with self._pool.acquire() as conn:
            with contextlib.suppress(asyncpg.UniqueViolationError):  # another sidecar made it just now
                await conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS {self._table} (
                        key text NOT NULL PRIMARY KEY,
                        value bytea NOT NULL,
                        etag uuid NOT NULL DEFAULT gen_random_uuid(),
                        created_at timestamp with time zone NOT NULL DEFAULT now(),
                        updated_at timestamp with time zone,
                        expires_at timestamp with time zone
                    )"""
                )
                index = self._table.replace(".", "_") + "_expires_at_idx"
                await conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {self._table} (expires_at)")
        self._start_sweeper(metadata)

    async def get(self, req: GetRequest) -> StateItem | None:
        row = await self._p.fetchrow(
            f"SELECT value, etag, expires_at FROM {self._table} WHERE key = $1 AND {_LIVE}", req.key
        )
        if row is None:
            return None
        return StateItem(bytes(row[0]), str(row[1]), row[2])

    async def _apply(self, conn: asyncpg.Connection, op: Operation) -> None:
        t = self._table
        if isinstance(op, DeleteRequest):
            if op.etag:
                etag = uuid.UUID(codec.check_uuid_etag(op.etag))
                sql = f"DELETE FROM {t} WHERE key = $1 AND etag = $2 AND {_LIVE}"
                status = await conn.execute(sql, op.key, etag)
                if _pg.rowcount(status) != 1:
                    raise ETagMismatch(op.key)
            else:
                await conn.execute(f"DELETE FROM {t} WHERE key = $1", op.key)
            return
        ttl = op.ttl or 0
        new_etag = uuid.uuid4()
        if op.etag:
            etag = uuid.UUID(codec.check_uuid_etag(op.etag))
            status = await conn.execute(
                f"UPDATE {t} SET value = $2, etag = $3, updated_at = now(), "
                f"expires_at = {_pg.expire_sql('$4')} "
                f"WHERE key = $1 AND etag = $5 AND {_LIVE}",
                op.key,
                op.value,
                new_etag,
                ttl,
                etag,
            )
            if _pg.rowcount(status) != 1:
                raise ETagMismatch(op.key)
            return
        guard = " WHERE t.expires_at IS NOT NULL AND t.expires_at <= now()" if op.first_write else ""
        status = await conn.execute(
            f"INSERT INTO {t} AS t (key, value, etag, expires_at) "
            f"VALUES ($1, $2, $3, {_pg.expire_sql('$4')}) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, "
            "updated_at = now(), expires_at = excluded.expires_at" + guard,
            op.key,
            op.value,
            new_etag,
            ttl,
        )
        if op.first_write and _pg.rowcount(status) != 1:
            raise ETagMismatch(op.key)

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
