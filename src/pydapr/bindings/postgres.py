"""``bindings.postgresql``: run SQL on PostgreSQL (components-contrib bindings/postgres).

Metadata: ``connectionString`` (URL or libpq ``key=value``). Operations with request metadata
``sql`` and optional ``params`` (a JSON array for ``$1``, ``$2`` ...): ``exec`` (answers metadata
``rows-affected``), ``query`` (answers a JSON array of rows, each an array of column values),
``close`` (closes the pool).
"""

from __future__ import annotations

import asyncpg
import msgspec

from pydapr.bindings._sql import Timing, json_value, sql_and_params
from pydapr.bindings.contract import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from pydapr.components.base import ComponentMetadata
from pydapr.state._pg import connect_args


class PostgresBinding(OutputBinding):
    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        self._pool = await asyncpg.create_pool(min_size=1, max_size=10, **connect_args(metadata))

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
            if request.operation == "exec":
                status = await self._pool.execute(sql, *params)
                # asyncpg answers the command tag ("INSERT 0 3", "UPDATE 2"): its last word is the count.
                last = status.rsplit(" ", 1)[-1]
                affected = last if last.isdigit() else "0"
                return InvokeResponse(None, timing.metadata(**{"rows-affected": affected}))
            rows = await self._pool.fetch(sql, *params)
        except asyncpg.PostgresError as exc:
            raise BindingError(f"error executing {sql!r}: {exc}") from exc
        data = [[json_value(v) for v in row.values()] for row in rows]
        return InvokeResponse(msgspec.json.encode(data), timing.metadata())

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
