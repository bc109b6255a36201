"""``pubsub.pydapr-sqlite``: pydapr's embedded durable broker, one SQLite file that survives restarts.

Each publish stores one row per consumer group that ever subscribed to the topic. A subscriber
leases rows (``lease_until``), deletes them when handled, and hands failed ones back after a
back-off. Leases of a live subscriber are renewed, so ``processingTimeout`` only matters after a
crash: then another subscriber (or the restarted one) takes the rows over once it has elapsed.
Several sidecars may share one file (WAL mode); they see each other's messages within ``pollInterval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path

import aiosqlite

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.pubsub.contract import (
    FEATURE_MESSAGE_TTL,
    Backoff,
    BulkPublishEntry,
    BulkPublishFailure,
    Handler,
    HandlerPool,
    Message,
    PublishRequest,
    PubSub,
    SubscribeRequest,
    Subscription,
    consumer_id,
    parse_duration,
    ttl_seconds,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pubsub_groups (
    topic TEXT NOT NULL, grp TEXT NOT NULL, PRIMARY KEY (topic, grp)
);
CREATE TABLE IF NOT EXISTS pubsub_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    grp TEXT NOT NULL,
    data BLOB NOT NULL,
    content_type TEXT,
    metadata TEXT NOT NULL,
    expires_at REAL,
    lease_until REAL NOT NULL DEFAULT 0,
    owner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pubsub_messages_due ON pubsub_messages (topic, grp, lease_until, id);
CREATE INDEX IF NOT EXISTS pubsub_messages_owner ON pubsub_messages (owner);
"""

_INSERT = """
INSERT INTO pubsub_messages (topic, grp, data, content_type, metadata, expires_at)
SELECT topic, grp, ?, ?, ?, ? FROM pubsub_groups WHERE topic = ?
"""

_BULK_INSERT = """
INSERT INTO pubsub_messages (topic, grp, data, content_type, metadata, expires_at)
SELECT g.topic, g.grp, v.column1, v.column2, v.column3, v.column4
FROM (VALUES {values}) AS v CROSS JOIN pubsub_groups AS g WHERE g.topic = ?
"""
# SQLite allows 32766 parameters in one statement; 4 per entry.
_BULK_ROWS_PER_STATEMENT = 8000

_CLAIM = """
UPDATE pubsub_messages SET lease_until = ?, owner = ?
WHERE id IN (
    SELECT id FROM pubsub_messages
    WHERE topic = ? AND grp = ? AND lease_until < ?
    ORDER BY id LIMIT ?
)
RETURNING id, data, content_type, metadata, expires_at, attempts
"""


def default_path(name: str) -> Path:
    from pydapr.home import pydapr_home

    return pydapr_home() / "pubsub" / f"{name}.db"


class SQLitePubSub(PubSub):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        raw = metadata.get("path") or metadata.get("connectionString")
        self.path = metadata.resolve_path(raw) if raw else default_path(metadata.name)
        self._group = consumer_id(metadata)
        self._concurrency = metadata.get_int("concurrency", 10)
        try:
            self._lease = parse_duration(metadata.get("processingTimeout"), 30.0)
            self._poll = parse_duration(metadata.get("pollInterval"), 0.1)
        except ValueError as exc:
            raise ComponentConfigError(metadata.name, "processingTimeout", str(exc)) from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.execute("PRAGMA busy_timeout=10000")
        await self._db.executescript(_SCHEMA)
        # Wakes this process's subscribers at once; other processes find new rows by polling.
        self._published: dict[str, asyncio.Event] = {}

    async def close(self) -> None:
        await self._db.close()

    def features(self) -> frozenset[str]:
        return frozenset({FEATURE_MESSAGE_TTL})

    def _wake(self, topic: str) -> None:
        event = self._published.get(topic)
        if event is not None:
            event.set()

    async def publish(self, req: PublishRequest) -> None:
        ttl = ttl_seconds(req.metadata)
        expires = time.time() + ttl if ttl is not None else None
        meta = json.dumps(req.metadata)
        await self._db.execute(_INSERT, (req.data, req.content_type, meta, expires, req.topic))
        self._wake(req.topic)

    async def bulk_publish(
        self, topic: str, entries: list[BulkPublishEntry], metadata: dict[str, str]
    ) -> list[BulkPublishFailure]:
        rows = []
        for e in entries:
            meta = {**metadata, **e.metadata}
            ttl = ttl_seconds(meta)
            expires = time.time() + ttl if ttl is not None else None
            rows.append((e.data, e.content_type, json.dumps(meta), expires, topic))
        # One INSERT statement per 8000 entries, so a bulk (up to that size) is stored all together
        # or not at all; a larger one is stored in parts, and a failing part reports every entry
        # failed, so a retry may duplicate but never lose. (An explicit
        # BEGIN/COMMIT here would also take in, or roll back, the statements other requests run
        # meanwhile on this shared connection.) CROSS JOIN keeps the entries' order within a group.
        try:
            for start in range(0, len(rows), _BULK_ROWS_PER_STATEMENT):
                chunk = rows[start : start + _BULK_ROWS_PER_STATEMENT]
                values = ", ".join("(?, ?, ?, ?)" for _ in chunk)
                params = [v for row in chunk for v in row[:4]]
                await self._db.execute(_BULK_INSERT.format(values=values), [*params, topic])
        except Exception as exc:
            return [BulkPublishFailure(e.entry_id, str(exc)) for e in entries]
        self._wake(topic)
        return []

    async def subscribe(self, req: SubscribeRequest, handler: Handler) -> Subscription:
        group = req.metadata.get("consumerID") or self._group
        await self._db.execute(
            "INSERT OR IGNORE INTO pubsub_groups (topic, grp) VALUES (?, ?)", (req.topic, group)
        )
        event = self._published.setdefault(req.topic, asyncio.Event())
        limit = int(req.metadata.get("concurrency") or self._concurrency)
        return _SQLiteSubscription(self, req.topic, group, handler, limit, event)


class _SQLiteSubscription(Subscription):
    def __init__(
        self,
        broker: SQLitePubSub,
        topic: str,
        group: str,
        handler: Handler,
        limit: int,
        event: asyncio.Event,
    ) -> None:
        self._b = broker
        self._db = broker._db
        self._topic = topic
        self._group = group
        self._handler = handler
        self._owner = uuid.uuid4().hex
        self._pool = HandlerPool(limit)
        self._event = event
        self._backoff = Backoff()
        self._tasks = [asyncio.create_task(self._consume()), asyncio.create_task(self._renew())]

    async def _consume(self) -> None:
        while True:
            await self._pool.acquire()
            wanted = self._pool.free + 1
            self._event.clear()
            now = time.time()
            try:
                cursor = await self._db.execute(
                    _CLAIM, (now + self._b._lease, self._owner, self._topic, self._group, now, wanted)
                )
                rows = sorted(await cursor.fetchall())
            except BaseException:
                self._pool.release()
                raise
            if not rows:
                self._pool.release()
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
                # arrives as the event is set, and stop() would wait for this loop forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._b._poll):
                        await self._event.wait()
                continue
            for i, (row_id, data, content_type, meta, expires_at, attempts) in enumerate(rows):
                if i > 0:
                    await self._pool.acquire()
                if expires_at is not None and expires_at < now:
                    await self._db.execute("DELETE FROM pubsub_messages WHERE id = ?", (row_id,))
                    self._pool.release()
                    continue
                msg = Message(self._topic, data, content_type, json.loads(meta), str(row_id))
                self._pool.spawn(lambda m=msg, r=row_id, a=attempts: self._deliver(m, r, a))  # type: ignore[misc]

    async def _deliver(self, msg: Message, row_id: int, attempts: int) -> None:
        try:
            await self._handler(msg)
        except Exception:
            retry_at = time.time() + self._backoff.delay(attempts + 1)
            await self._db.execute(
                "UPDATE pubsub_messages SET lease_until = ?, owner = NULL, attempts = attempts + 1 "
                "WHERE id = ?",
                (retry_at, row_id),
            )
            self._event.set()
            return
        await self._db.execute("DELETE FROM pubsub_messages WHERE id = ?", (row_id,))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._b._lease / 3)
            now = time.time()
            await self._db.execute(
                "UPDATE pubsub_messages SET lease_until = ? WHERE owner = ? AND lease_until > ?",
                (now + self._b._lease, self._owner, now),
            )
            await self._db.execute(
                "DELETE FROM pubsub_messages WHERE expires_at IS NOT NULL AND expires_at < ? "
                "AND lease_until < ?",
                (now, now),
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pool.drain()
        # Rows claimed but never started go back at once rather than after processingTimeout.
        await self._db.execute(
            "UPDATE pubsub_messages SET lease_until = 0, owner = NULL WHERE owner = ?", (self._owner,)
        )
