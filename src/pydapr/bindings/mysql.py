"""``bindings.mysql``: run SQL on MySQL/MariaDB (components-contrib bindings/mysql).

Metadata: ``url`` (a Go MySQL DSN ``user:password@tcp(host:port)/database``; ``connectionString``
is accepted too). Operations with request metadata ``sql`` and optional ``params`` (a JSON array
for ``?`` placeholders): ``exec`` (answers metadata ``rows-affected``), ``query`` (answers a JSON
array of rows, each an object keyed by column name), ``close`` (closes the pool).
"""

from __future__ import annotations

from dataclasses import replace

import aiomysql
import msgspec

from pydapr.bindings._sql import Timing, json_value, sql_and_params
from pydapr.bindings.contract import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.state.mysql import connect_args


def to_format_placeholders(sql: str) -> str:
    """``?`` placeholders (Go's driver, Dapr's docs) as the ``%s`` aiomysql formats; quoted text untouched."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        else:
            out.append("%%" if ch == "%" else ch)
    return "".join(out)


class MySQLBinding(OutputBinding):
    def __init__(self) -> None:
        self._pool: aiomysql.Pool | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        dsn = metadata.get("url") or metadata.get("connectionString")
        if not dsn:
            raise ComponentConfigError(metadata.name, "url", "is required")
        args = connect_args(replace(metadata, properties={"connectionString": dsn}))
        database = dsn.rsplit(")/", 1)[-1].split("?", 1)[0] if ")/" in dsn else ""
        if database:
            args["db"] = database
        self._pool = await aiomysql.create_pool(minsize=1, maxsize=10, autocommit=True, **args)

    def operations(self) -> tuple[str, ...]:
        return ("exec", "query", "close")

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        if request.operation == "close":
            await self.close()
            return InvokeResponse()
        if self._pool is None:
            raise BindingError("the connection pool is closed")
        sql, params = sql_and_params(request)
        timing = Timing(request.operation, sql)
        try:
            async with self._pool.acquire() as conn, conn.cursor(aiomysql.DictCursor) as cur:
                affected = (
                    await cur.execute(to_format_placeholders(sql), params)
                    if params
                    else await cur.execute(sql)
                )
                if request.operation == "exec":
                    return InvokeResponse(None, timing.metadata(**{"rows-affected": str(affected)}))
                rows = await cur.fetchall()
        except aiomysql.Error as exc:
            raise BindingError(f"error executing {sql!r}: {exc}") from exc
        data = [{k: json_value(v) for k, v in row.items()} for row in rows]
        return InvokeResponse(msgspec.json.encode(data), timing.metadata())

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None
