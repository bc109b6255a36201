"""The sidecar's placement client: keeps the tables the leader disseminates and answers lookups.

One stream to the placement leader at a time. The sidecar reports its host (``ip:internal_port``,
app id, namespace, hosted actor types) when the stream opens, on every change and once a second
as its heartbeat. Placement's rounds arrive as lock, update and unlock orders: the client tells its
listeners and acknowledges lock and update only once every listener returned, so a round does not
move on while a sidecar still runs calls or still hosts actors that move away.

While the stream is down the client keeps its table (and a lock it holds) and tries every address,
with backoff, until one answers as leader; it then reports again and the new leader resyncs it, and
the actors it hosts stay active. Only a short while: placement forgets a host whose stream broke
after ``leave_grace`` (3 s) and a new leader builds its first table ``leader grace`` (3 s) after it
took over, and from then on another sidecar may be given these actors. So, as daprd halts its
actors when its placement stream closes, a client cut off for ``HALT_AFTER`` (2 s, less than
either) drops its table and halts: every local activation is deactivated and lookups wait for the
next table. A leader restart or hand-over that resyncs within 2 s loses no active actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import grpc

from pydapr.actors import errors as actor_errors
from pydapr.actors.contract import ActorKey, ActorLocation, PlacementListener
from pydapr.placement._proto import placement_pb2 as pb
from pydapr.placement._proto import placement_pb2_grpc as pb_grpc
from pydapr.placement.tables import Tables
from pydapr.security.mtls import ChannelFactory, plain_channel

log = logging.getLogger("pydapr.placement.client")

DEFAULT_PORT = 50005  # Dapr's placement port
LEADER_METADATA = "pydapr-placement-leader"
HEARTBEAT = 1.0
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 1.0
CONNECT_TIMEOUT = 3.0
API_LEVEL = 20  # Dapr's actor API level today; reported, not enforced
HALT_AFTER = 2.0  # seconds without placement before the actors halt (see the module docstring)


def placement_addresses(value: str | None) -> list[str]:
    """``--placement-host-address`` as a list: comma-separated, each ``host:port`` (port 50005 if none)."""
    out: list[str] = []
    for raw in (value or "").split(","):
        address = raw.strip()
        if not address:
            continue
        if address.startswith("["):  # [v6] or [v6]:port
            has_port = "]:" in address
        elif address.count(":") > 1:  # a bare IPv6 address
            address, has_port = f"[{address}]", False
        else:
            has_port = ":" in address
        out.append(address if has_port else f"{address}:{DEFAULT_PORT}")
    return out


class PlacementClient:
    """``pydapr.actors.contract.Placement`` over pydapr's placement service."""

    def __init__(
        self,
        addresses: list[str],
        *,
        app_id: str,
        namespace: str,
        host_address: str,
        heartbeat: float = HEARTBEAT,
        halt_after: float = HALT_AFTER,
        open_channel: ChannelFactory = plain_channel,
    ) -> None:
        if not addresses:
            raise ValueError("at least one placement address is needed")
        self.addresses = list(addresses)
        self._open_channel = open_channel  # each session's channel: mTLS with the current certificate
        self.app_id = app_id
        self.namespace = namespace
        self.host_address = host_address
        self.heartbeat = heartbeat
        self.halt_after = halt_after
        self._halt: asyncio.Task[None] | None = None
        _, _, port = host_address.rpartition(":")
        self._port = int(port) if port.isdigit() else 0
        self._entities: tuple[str, ...] = ()
        self._listeners: list[PlacementListener] = []
        self._tables: Tables | None = None
        # Set while lookups may proceed: a table arrived and no round holds the lock.
        self._open = asyncio.Event()
        self._locked = False
        self._connected = False
        self._outbox: asyncio.Queue[pb.Host] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._leader_index = 0

    # --- the Placement contract ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def set_hosted(self, actor_types: Sequence[str]) -> None:
        entities = tuple(sorted(set(actor_types)))
        if entities == self._entities:
            return
        self._entities = entities
        self._send(pb.REPORT)

    def add_listener(self, listener: PlacementListener) -> None:
        self._listeners.append(listener)

    async def lookup(self, key: ActorKey, *, timeout: float) -> ActorLocation:
        if not self._open.is_set():
            try:
                await asyncio.wait_for(self._open.wait(), timeout)
            except TimeoutError:
                raise actor_errors.NO_PLACEMENT() from None
        location = self.owner(key)
        if location is None:
            raise actor_errors.NO_ADDRESS(str(key))
        return location

    def owner(self, key: ActorKey) -> ActorLocation | None:
        tables = self._tables
        entry = tables.lookup(key.actor_type, key.actor_id) if tables is not None else None
        if entry is None:
            return None
        return ActorLocation(entry.name, entry.app_id, entry.name == self.host_address)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="placement-client")

    async def close(self) -> None:
        self._closed = True
        if self._halt is not None:
            self._halt.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._connected = False

    # --- what /v1.0/metadata shows ------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The placement part of the metadata's ``actorRuntime`` (Dapr's wording)."""
        state = "connected" if self._connected else "disconnected"
        return {"placement": f"placement: {state}", "hostReady": self._connected}

    @property
    def tables_version(self) -> str | None:
        return self._tables.version if self._tables is not None else None

    # --- the stream ----------------------------------------------------------------------------

    def _host(self, operation: int, version: int | None = None) -> pb.Host:
        host = pb.Host(
            name=self.host_address,
            port=self._port,
            entities=self._entities,
            id=self.app_id,
            namespace=self.namespace,
            api_level=API_LEVEL,
            operation=operation,  # type: ignore[arg-type]
        )
        if version is not None:
            host.version = version
        return host

    def _send(self, operation: int, version: int | None = None) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(self._host(operation, version))

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while not self._closed:
            for step in range(len(self.addresses)):
                index = (self._leader_index + step) % len(self.addresses)
                address = self.addresses[index]
                try:
                    served = await self._session(address)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                        log.debug("placement %s: %s", address, exc.details() or exc.code().name)
                    served = False
                except Exception:
                    log.exception("placement stream to %s failed", address)
                    served = False
                finally:
                    was_connected, self._connected = self._connected, False
                    self._outbox = None
                    if was_connected and not self._closed:
                        self._halt = asyncio.create_task(self._halt_unless_back(), name="placement-halt")
                if served:
                    self._leader_index = index
                    delay = BACKOFF_FIRST
                    break
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def _session(self, address: str) -> bool:
        """One stream to ``address``; True if it answered as leader (then ended), False if refused."""
        async with self._open_channel(address) as channel:
            stub = pb_grpc.PlacementStub(channel)  # type: ignore[no-untyped-call]
            call = stub.ReportDaprStatus()
            try:
                # Bounded: an address that drops packets must not keep us from the next one.
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await call.write(self._host(pb.REPORT))
                    metadata = await call.initial_metadata()
            except TimeoutError:
                call.cancel()
                log.debug("placement %s did not answer in %gs", address, CONNECT_TIMEOUT)
                return False
            if metadata is None or LEADER_METADATA not in metadata:
                await call.read()  # refused (not the leader): the read raises its status
                return False
            outbox: asyncio.Queue[pb.Host] = asyncio.Queue()
            self._outbox = outbox
            self._connected = True
            if self._halt is not None:
                self._halt.cancel()
                self._halt = None
            log.info("connected to placement %s", address)
            writer = asyncio.create_task(self._write(call, outbox))
            beat = asyncio.create_task(self._heartbeat(outbox))
            try:
                while (order := await call.read()) is not grpc.aio.EOF:
                    await self._apply(order)
            except grpc.aio.AioRpcError as exc:
                log.info("placement %s stream ended: %s", address, exc.details() or exc.code().name)
            finally:
                for task in (beat, writer):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            return True

    async def _halt_unless_back(self) -> None:
        await asyncio.sleep(self.halt_after)
        if self._connected or self._closed or self._tables is None:
            return
        log.warning(
            "placement out of reach for %gs: halting this sidecar's actors until it is back", self.halt_after
        )
        self._tables = None
        self._open.clear()
        for listener in list(self._listeners):
            try:
                await listener.on_halt()
            except Exception:
                log.exception("halting actors failed")

    async def _write(self, call: Any, outbox: asyncio.Queue[pb.Host]) -> None:
        while True:
            await call.write(await outbox.get())

    async def _heartbeat(self, outbox: asyncio.Queue[pb.Host]) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            outbox.put_nowait(self._host(pb.REPORT))

    async def _apply(self, order: pb.PlacementOrder) -> None:
        if order.operation == "lock":
            self._locked = True
            self._open.clear()
            for listener in list(self._listeners):
                await listener.on_lock()
            self._send(pb.LOCK, order.version)
        elif order.operation == "update":
            self._tables = Tables(order.tables)
            for listener in list(self._listeners):
                await listener.on_update()
            self._send(pb.UPDATE, order.version)
        elif order.operation == "unlock":
            self._locked = False
            if self._tables is not None:
                self._open.set()
            for listener in list(self._listeners):
                await listener.on_unlock()
        else:
            log.warning("placement sent an unknown operation %r", order.operation)
