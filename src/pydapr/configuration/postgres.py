"""``configuration.postgresql``: items are rows of a table the operator creates; changes come from a
trigger that calls ``pg_notify`` (components-contrib configuration/postgres, Dapr's docs).

Metadata: ``connectionString`` (URL or libpq ``key=value``), ``table`` (required, must exist).
Table: ``key``, ``value``, ``version`` text columns and an optional ``metadata`` JSON column.
Subscribing needs the request metadata ``pgNotifyChannel``: the channel the table's trigger notifies
with ``{"table", "action", "data": row_to_json(NEW)}``. Notifications carry the row, and PostgreSQL
delivers them in commit order, so a subscriber sees every committed change in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import msgspec

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.configuration._subscriptions import Subscriptions
from pydapr.configuration.contract import (
    DELETED,
    ConfigurationItem,
    ConfigurationStore,
    SubscriptionNotFound,
    UpdateHandler,
)
from pydapr.state._pg import connect_args

log = logging.getLogger("pydapr.configuration")

NOTIFY_CHANNEL_KEY = "pgNotifyChannel"


def _metadata(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = msgspec.json.decode(value)
        except msgspec.DecodeError:
            return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else msgspec.json.encode(v).decode() for k, v in value.items()}


def _item(row: Any) -> ConfigurationItem:
    return ConfigurationItem(
        str(row["value"] or ""), str(row["version"] or ""), _metadata(row.get("metadata"))
    )


class _Channel:
    """One LISTEN connection and the ordered queue of its notifications."""

    def __init__(self, conn: asyncpg.Connection, queue: asyncio.Queue[str]) -> None:
        self.conn = conn
        self.queue = queue
        self.task: asyncio.Task[None] | None = None
        self.subs = Subscriptions()


class PostgresConfigurationStore(ConfigurationStore):
    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self._channels: dict[str, _Channel] = {}
        self._sub_channel: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        table = metadata.get("table") or metadata.get("tableName")
        if not table:
            raise ComponentConfigError(metadata.name, "table", "is required")
        if not all(part.replace("_", "").isalnum() for part in table.split(".")):
            raise ComponentConfigError(
                metadata.name, "table", f"must be a plain SQL identifier, got {table!r}"
            )
        self._table = table
        self._args = connect_args(metadata)
        self._pool = await asyncpg.create_pool(min_size=1, max_size=5, **self._args)
        exists = await self._pool.fetchval("SELECT to_regclass($1)", table)
        if exists is None:
            raise ComponentConfigError(metadata.name, "table", f"table {table} does not exist")
        columns = {
            r["column_name"]
            for r in await self._pool.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                table.split(".")[-1].lower(),
            )
        }
        missing = {"key", "value", "version"} - columns
        if missing:
            raise ComponentConfigError(
                metadata.name, "table", f"table {table} lacks column(s) {', '.join(sorted(missing))}"
            )
        self._select = "key, value, version" + (", metadata" if "metadata" in columns else "")

    async def close(self) -> None:
        for channel in self._channels.values():
            if channel.task is not None:
                channel.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await channel.task
            with contextlib.suppress(Exception):
                await channel.conn.close()
        self._channels.clear()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def _p(self) -> asyncpg.Pool:
        assert self._pool is not None, "configuration.postgresql used before init"
        return self._pool

    async def get(self, keys: list[str], metadata: dict[str, str]) -> dict[str, ConfigurationItem]:
        sql = f"SELECT {self._select} FROM {self._table}"
        rows = await (
            self._p.fetch(sql + " WHERE key = ANY($1::text[])", keys) if keys else self._p.fetch(sql)
        )
        return {row["key"]: _item(dict(row)) for row in rows}

    async def subscribe(self, keys: list[str], metadata: dict[str, str], handler: UpdateHandler) -> str:
        name = metadata.get(NOTIFY_CHANNEL_KEY, "")
        if not name:
            raise ValueError(
                f"the subscribe metadata must name the trigger's channel in {NOTIFY_CHANNEL_KEY}"
            )
        async with self._lock:
            channel = self._channels.get(name)
            if channel is None:
                channel = await self._listen(name)
                self._channels[name] = channel
            sub_id = channel.subs.add(keys, handler)
            self._sub_channel[sub_id] = name
            return sub_id

    async def _listen(self, name: str) -> _Channel:
        conn = await asyncpg.connect(**self._args)
        queue: asyncio.Queue[str] = asyncio.Queue()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            queue.put_nowait(payload)

        # add_listener returns once LISTEN is executed: later commits are delivered to us.
        await conn.add_listener(name, on_notify)
        channel = _Channel(conn, queue)
        channel.task = asyncio.create_task(self._pump(channel))
        return channel

    async def _pump(self, channel: _Channel) -> None:
        while True:
            payload = await channel.queue.get()
            try:
                event = msgspec.json.decode(payload)
            except msgspec.DecodeError:
                log.warning("configuration.postgresql %s: notification is not JSON", self.metadata.name)
                continue
            if not isinstance(event, dict):
                continue
            table = str(event.get("table") or "")
            if table and table.lower() != self._table.split(".")[-1].lower():
                continue
            data = event.get("data")
            if not isinstance(data, dict) or "key" not in data:
                continue
            key = str(data["key"])
            if str(event.get("action") or "").upper() == "DELETE":
                # Dapr's documented trigger sends the old row for a delete.
                await channel.subs.dispatch({key: ConfigurationItem("", "", dict(DELETED))})
            else:
                await channel.subs.dispatch({key: _item(data)})

    async def unsubscribe(self, subscription_id: str) -> None:
        name = self._sub_channel.pop(subscription_id, None)
        channel = self._channels.get(name) if name is not None else None
        if channel is None:
            raise SubscriptionNotFound(subscription_id)
        channel.subs.remove(subscription_id)
