"""Dissemination rounds: the connected sidecars of one namespace and the rounds that hand them tables.

A round is lock → every sidecar acknowledges → update (the new tables) → every sidecar acknowledges
(after deactivating what moved away) → unlock. A sidecar that does not acknowledge within the ack
timeout is dropped from the table, so one stuck sidecar cannot hold the others locked for ever. Joins,
leaves and changed reports mark the namespace dirty; a round starts one debounce after the first mark
(so a burst of joins is one round). When the tables did not change, only the sidecars that lack them
(new streams, reconnects) take part in the round, and the others are not locked.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

from pydapr.placement._proto import placement_pb2 as pb
from pydapr.placement.tables import Member, table_content, to_proto

log = logging.getLogger("pydapr.placement")

Content = dict[str, dict[str, tuple[str, int]]]

# Round versions grow across leaders too: a sidecar never sees a version it already acknowledged.
_versions = itertools.count(time.time_ns() // 1_000_000)


class Connection:
    """One sidecar's stream: the orders waiting to be sent and the acknowledgements awaited."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.outbox: asyncio.Queue[pb.PlacementOrder | None] = asyncio.Queue()
        self.version: int | None = None  # the tables' version it acknowledged
        self.last_seen = time.monotonic()
        self.dropped: str | None = None  # why the server ends this stream
        self.gone = False  # dropped or left: nothing it could answer is awaited any more
        self._acks: dict[tuple[int, int], asyncio.Future[None]] = {}

    def order(self, operation: str, version: int, tables: pb.PlacementTables | None = None) -> None:
        self.outbox.put_nowait(pb.PlacementOrder(operation=operation, version=version, tables=tables))

    def expect(self, ack: int, version: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.gone:
            future.cancel()
        else:
            self._acks[(ack, version)] = future
        return future

    def acknowledged(self, ack: int, version: int) -> None:
        future = self._acks.pop((ack, version), None)
        if future is not None and not future.done():
            future.set_result(None)

    def drop(self, reason: str) -> None:
        """Ends the stream (the handler sees the sentinel) and fails every awaited acknowledgement."""
        if self.dropped is None:
            self.dropped = reason
            self.outbox.put_nowait(None)
        self.abandon()

    def abandon(self) -> None:
        self.gone = True
        for future in self._acks.values():
            future.cancel()
        self._acks.clear()


class Namespace:
    """The sidecars of one namespace and the rounds that keep their tables the same."""

    def __init__(
        self,
        name: str,
        *,
        replication_factor: int,
        debounce: float,
        ack_timeout: float,
        leave_grace: float,
        ready: Callable[[], float],
    ) -> None:
        self.name = name
        self.replication_factor = replication_factor
        self.debounce = debounce
        self.ack_timeout = ack_timeout
        self.leave_grace = leave_grace
        self._ready = ready  # seconds until rounds may start (the new leader's grace)
        self.members: dict[str, Member] = {}  # the table's hosts, including those in leave grace
        self.connections: dict[str, Connection] = {}
        self.content: Content = {}
        self.version: int | None = None
        self._leaving: dict[str, asyncio.TimerHandle] = {}
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    # --- membership ------------------------------------------------------------------------------

    def join(self, conn: Connection) -> None:
        name = conn.member.name
        timer = self._leaving.pop(name, None)
        if timer is not None:
            timer.cancel()
        old = self.connections.get(name)
        if old is not None and old is not conn:
            old.drop("replaced by a new stream from the same host")
        self.connections[name] = conn
        self.members[name] = conn.member
        self._mark()

    def report(self, conn: Connection, member: Member) -> None:
        conn.last_seen = time.monotonic()
        if member == conn.member:
            return
        conn.member = member
        if self.connections.get(member.name) is conn:
            self.members[member.name] = member
            self._mark()

    def leave(self, conn: Connection, *, grace: bool) -> None:
        # Gone, so a round still running counts it out of its next phase too: a stream that
        # acknowledged the lock and then ended cannot acknowledge the update (it held the round
        # for the whole ack timeout, and every lookup of the namespace with it).
        conn.abandon()
        name = conn.member.name
        if self.connections.get(name) is not conn:
            return
        del self.connections[name]
        if grace and self.leave_grace > 0:
            loop = asyncio.get_running_loop()
            self._leaving[name] = loop.call_later(self.leave_grace, self._forget, name)
        else:
            self._forget(name)

    def _forget(self, name: str) -> None:
        self._leaving.pop(name, None)
        if name not in self.connections and self.members.pop(name, None) is not None:
            log.info("namespace %r: %s left the table", self.name, name)
            self._mark()

    def _mark(self) -> None:
        self._dirty.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"placement-rounds-{self.name}")

    def close(self) -> None:
        for timer in self._leaving.values():
            timer.cancel()
        self._leaving.clear()
        for conn in list(self.connections.values()):
            conn.drop("placement stepped down")
        if self._task is not None:
            self._task.cancel()

    @property
    def idle(self) -> bool:
        return not self.connections and not self.members

    # --- rounds ----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while self._dirty.is_set():
            await asyncio.sleep(max(self.debounce, self._ready()))
            if self._ready() > 0:  # not the leader, or a new one still collecting reports
                continue
            self._dirty.clear()
            try:
                await self._round()
            except Exception:
                log.exception("namespace %r: dissemination round failed", self.name)
                self._dirty.set()

    async def _round(self) -> None:
        content = table_content(self.members.values())
        if content != self.content or self.version is None:
            version = next(_versions)
            targets = list(self.connections.values())
        else:
            version = self.version
            targets = [c for c in self.connections.values() if c.version != version]
        if not targets:
            self.content, self.version = content, version
            return
        self.rounds += 1
        log.info(
            "namespace %r: round %d to %d sidecar(s), %d actor type(s)",
            self.name, version, len(targets), len(content),
        )  # fmt: skip
        locked = await self._phase(targets, "lock", pb.LOCK, version)
        # Published before the update goes out: a sidecar joining now waits for the next round.
        self.content, self.version = content, version
        tables = to_proto(content, str(version), self.replication_factor)
        updated = await self._phase(locked, "update", pb.UPDATE, version, tables)
        for conn in updated:
            conn.version = version
            conn.order("unlock", version)

    async def _phase(
        self,
        targets: list[Connection],
        operation: str,
        ack: int,
        version: int,
        tables: pb.PlacementTables | None = None,
    ) -> list[Connection]:
        """Sends one order to ``targets``; those that acknowledge in time, the others dropped."""
        futures = {}
        for conn in targets:
            if not conn.gone:  # dropped or left
                futures[conn] = conn.expect(ack, version)
                conn.order(operation, version, tables)
        if futures:
            await asyncio.wait(futures.values(), timeout=self.ack_timeout)
        answered = []
        for conn, future in futures.items():
            if future.done() and not future.cancelled():
                answered.append(conn)
                continue
            future.cancel()
            if conn.dropped is None and self.connections.get(conn.member.name) is conn:
                log.warning(
                    "namespace %r: %s did not acknowledge %s in %gs: dropped",
                    self.name, conn.member.name, operation, self.ack_timeout,
                )  # fmt: skip
                conn.drop(f"no acknowledgement of {operation} within {self.ack_timeout:g}s")
                self.leave(conn, grace=False)
        return answered
