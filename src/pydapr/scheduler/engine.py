"""The trigger engine of one scheduler replica: leases, the due-job loop, dispatch and results.

A replica fires only jobs of partitions it leases. Due jobs are read a little ahead and fired by
local timers; each trigger goes to one connected sidecar of the job's app (the same one while it
stays connected, so its duplicate filter sees re-sends). Results are written in batches, fenced by
the lease, and a job stays "pending" here until its result is written, so it is never fetched and
sent twice by the same replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import zlib
from collections import deque
from dataclasses import dataclass, field

from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.scheduler._proto import scheduler_pb2 as pb
from pydapr.scheduler.records import TimingCache, expired, outcome
from pydapr.scheduler.store import Advance, DueCursor, JobRecord, JobStore, Remove, app_key

log = logging.getLogger("pydapr.scheduler")

JobKey = tuple[str, str, str]


# A watch stream message holds at most this many triggers and about this many bytes of job data:
# a burst goes out as a stream of messages the sidecar can start on at once, each well below its
# channel's 4 MiB receive limit whatever the jobs carry.
MESSAGE_TRIGGERS = 500
MESSAGE_BYTES = 1 << 20


@dataclass(eq=False)
class Connection:
    """One sidecar's watch stream: triggers are added straight to the messages that will carry them."""

    app: str
    instance_id: str
    outbox: deque[pb.Triggers] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    inflight: set[int] = field(default_factory=set)
    closed: bool = False
    _filling: int = 0  # bytes in the last message of the outbox

    def send(self, trigger_id: int, name: str, data: AnyPb, occurrence: str, size: int) -> None:
        msg = self.outbox[-1] if self.outbox else None
        if msg is None or len(msg.triggers) >= MESSAGE_TRIGGERS or self._filling + size > MESSAGE_BYTES:
            msg = pb.Triggers()
            self.outbox.append(msg)
            self._filling = 0
        msg.triggers.add(id=trigger_id, name=name, data=data, occurrence=occurrence)
        self._filling += size
        self.ready.set()

    def take(self) -> pb.Triggers | None:
        """The next message to write, None when there is none."""
        if not self.outbox:
            self.ready.clear()
            return None
        return self.outbox.popleft()


@dataclass(eq=False)
class _Pending:
    rec: JobRecord
    timer: asyncio.TimerHandle | None = None
    conn: Connection | None = None
    trigger_id: int = 0
    job: pb.Job | None = None  # the spec, parsed once when the trigger is sent
    superseded: bool = False  # replaced or deleted while its trigger was out


class Engine:
    def __init__(
        self,
        store: JobStore,
        replica_id: str,
        *,
        lease_ttl: float = 10.0,
        poll_interval: float = 0.25,
        batch: int = 2000,
    ) -> None:
        self.store = store
        self.replica_id = replica_id
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self.batch = batch
        self.owned: set[int] = set()
        self._conns: dict[str, list[Connection]] = {}
        self._pending: dict[JobKey, _Pending] = {}
        self._by_id: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._results: list[tuple[_Pending, Advance | Remove]] = []
        self._results_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._timings = TimingCache()
        self._tasks: list[asyncio.Task[None]] = []
        self._lease_ok_at = 0.0
        self.triggers_sent = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.store.on_notify = self.wake  # type: ignore[attr-defined]
        await self._renew_leases()
        for coro in (self._lease_loop(), self._due_loop(), self._writer_loop()):
            self._tasks.append(asyncio.create_task(coro))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush()
        with contextlib.suppress(Exception):
            await self.store.release(self.replica_id)

    def wake(self) -> None:
        self._wake.set()

    # --- sidecar connections -----------------------------------------------------------------
    def connect(self, namespace: str, app_id: str, instance_id: str) -> Connection:
        conn = Connection(app_key(namespace, app_id), instance_id)
        conns = self._conns.setdefault(conn.app, [])
        conns.append(conn)
        conns.sort(key=lambda c: c.instance_id)
        self.wake()
        return conn

    def disconnect(self, conn: Connection) -> None:
        conn.closed = True
        conns = self._conns.get(conn.app, [])
        if conn in conns:
            conns.remove(conn)
        if not conns:
            self._conns.pop(conn.app, None)
        # Unanswered triggers go back to the store's view: fetched again and re-sent (at least once).
        for trigger_id in conn.inflight:
            p = self._by_id.pop(trigger_id, None)
            if p is not None:
                self._pending.pop(_key(p.rec), None)
        conn.inflight.clear()
        self.wake()

    def result(self, conn: Connection, trigger_id: int, ok: bool) -> None:
        p = self._by_id.pop(trigger_id, None)
        if p is None:
            return
        conn.inflight.discard(trigger_id)
        self._results.append((p, outcome(p.rec, ok, time.time(), self._timings, p.job)))
        self._results_ready.set()

    def forget(self, namespace: str, app_id: str, name: str) -> None:
        """A job was deleted or replaced through this replica: drop its not-yet-sent trigger."""
        p = self._pending.get((namespace, app_id, name))
        if p is None:
            return
        if p.conn is not None:
            p.superseded = True  # its result writes nothing (another uid); read it again after
            return
        if p.timer is not None:
            p.timer.cancel()
        del self._pending[(namespace, app_id, name)]

    # --- loops -------------------------------------------------------------------------------
    async def _renew_leases(self) -> None:
        try:
            owned = await self.store.lease(self.replica_id, self.lease_ttl)
        except Exception as exc:
            log.warning("renewing scheduler leases failed: %s", exc)
            # Stop firing well before the lease can have passed to another replica.
            if time.monotonic() - self._lease_ok_at > self.lease_ttl * 0.8:
                self._set_owned(set())
            return
        self._lease_ok_at = time.monotonic()
        self._set_owned(owned)

    def _set_owned(self, owned: set[int]) -> None:
        lost = self.owned - owned
        if lost:
            for key, p in list(self._pending.items()):
                if p.rec.partition in lost and p.conn is None:
                    if p.timer is not None:
                        p.timer.cancel()
                    del self._pending[key]
        if owned - self.owned:
            self.wake()
        self.owned = owned

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            await self._renew_leases()

    async def _due_loop(self) -> None:
        loop = asyncio.get_running_loop()
        cursor: DueCursor | None = None  # set while a scan reads on, page by page
        while True:
            if cursor is None:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the wait's result when
                # a cancel comes in the same turn as the wake, and this loop would then never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._wake.wait()
                self._wake.clear()
            apps = list(self._conns)
            if not self.owned or not apps:
                cursor = None
                continue
            now = time.time()
            try:
                rows = await self.store.due(
                    sorted(self.owned), apps, now + self.poll_interval, self.batch, after=cursor
                )
            except Exception as exc:
                log.warning("reading due jobs failed: %s", exc)
                cursor = None
                await asyncio.sleep(self.poll_interval)
                continue
            for rec in rows:
                key = _key(rec)
                if key in self._pending or rec.next_at is None:
                    continue
                p = self._pending[key] = _Pending(rec)
                delay = rec.next_at - time.time()
                if delay <= 0:
                    self._fire(p)
                else:
                    p.timer = loop.call_later(delay, self._fire, p)
            # A full page: more may be due. The next page starts after this one's last job, so the
            # jobs already pending here are not read again (a burst is read once, not once per page).
            last = rows[-1] if len(rows) >= self.batch else None
            cursor = None if last is None else (last.next_at or 0.0, last.namespace, last.app_id, last.name)

    def _fire(self, p: _Pending) -> None:
        p.timer = None
        rec = p.rec
        if self._pending.get(_key(rec)) is not p:
            return
        now = time.time()
        if expired(rec, now):
            self._results.append((p, Remove(rec.namespace, rec.app_id, rec.name, rec.uid, rec.partition)))
            self._results_ready.set()
            return
        conns = self._conns.get(rec.app_key)
        if not conns:
            del self._pending[_key(rec)]  # the app is away: fetched again when it reconnects
            return
        conn = conns[zlib.crc32(rec.name.encode()) % len(conns)]
        trigger_id = next(self._ids)
        p.conn, p.trigger_id = conn, trigger_id
        self._by_id[trigger_id] = p
        conn.inflight.add(trigger_id)
        job = p.job = pb.Job.FromString(rec.spec)
        conn.send(trigger_id, rec.name, job.data, f"{rec.uid}:{rec.count}", len(rec.spec))
        self.triggers_sent += 1

    async def _writer_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            # A short pause gathers the results of a burst into one transaction.
            await asyncio.sleep(0.002)
            await self._flush()

    async def _flush(self) -> None:
        self._results_ready.clear()
        rescan = False
        while self._results:
            batch, self._results = self._results[:1000], self._results[1000:]
            try:
                await self.store.apply(self.replica_id, [change for _, change in batch])
            except Exception as exc:
                log.warning("writing %d trigger results failed: %s", len(batch), exc)
                rescan = True  # their jobs are read again as they are
            horizon = time.time() + self.poll_interval
            for p, change in batch:
                if self._pending.get(_key(p.rec)) is p:
                    del self._pending[_key(p.rec)]
                # A job that comes due again before the next poll (a retry, a short period) or one
                # replaced while its trigger was out is read now; the rest waits for the poll, so a
                # burst of results does not re-read every job still pending.
                if p.superseded or (isinstance(change, Advance) and change.next_at <= horizon):
                    rescan = True
        if rescan:
            self.wake()


def _key(rec: JobRecord) -> JobKey:
    return (rec.namespace, rec.app_id, rec.name)
