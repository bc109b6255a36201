"""The placement service's gRPC side: sidecars' streams, one per sidecar, routed to their namespace.

Only the leader serves streams; followers refuse them with FAILED_PRECONDITION "not the leader" so a
sidecar tries the next address. A stream is accepted by sending the ``pydapr-placement-leader``
initial metadata. A stream that sends nothing (no heartbeat) for ``keepalive_timeout`` is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias

import grpc

from pydapr.grpc_serving import serve
from pydapr.placement._proto import placement_pb2 as pb
from pydapr.placement._proto import placement_pb2_grpc as pb_grpc
from pydapr.placement.client import LEADER_METADATA
from pydapr.placement.dissemination import Connection, Namespace
from pydapr.placement.lease import Leadership
from pydapr.placement.ring import DEFAULT_REPLICATION_FACTOR
from pydapr.placement.tables import Member

log = logging.getLogger("pydapr.placement")

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

NOT_LEADER = "not the leader"


class PlacementService(pb_grpc.PlacementServicer):
    def __init__(
        self,
        leadership: Leadership,
        *,
        replication_factor: int = DEFAULT_REPLICATION_FACTOR,
        debounce: float = 0.2,
        ack_timeout: float = 70.0,  # above Dapr's default drain (60 s): on_update may drain calls
        leave_grace: float = 3.0,
        keepalive_timeout: float = 5.0,
    ) -> None:
        self.leadership = leadership
        self.replication_factor = replication_factor
        self.debounce = debounce
        self.ack_timeout = ack_timeout
        self.leave_grace = leave_grace
        self.keepalive_timeout = keepalive_timeout
        self.namespaces: dict[str, Namespace] = {}
        previous = leadership.on_change

        def changed(leader: bool) -> None:
            if previous is not None:
                previous(leader)
            if not leader:
                self.step_down()

        leadership.on_change = changed

    def step_down(self) -> None:
        """Lost the lease: every stream ends (sidecars find the new leader); nothing is kept."""
        for ns in self.namespaces.values():
            ns.close()
        self.namespaces.clear()

    def namespace(self, name: str) -> Namespace:
        ns = self.namespaces.get(name)
        if ns is None:
            ns = Namespace(
                name,
                replication_factor=self.replication_factor,
                debounce=self.debounce,
                ack_timeout=self.ack_timeout,
                leave_grace=self.leave_grace,
                ready=self.leadership.ready_in,
            )
            self.namespaces[name] = ns
        return ns

    async def ReportDaprStatus(
        self, request_iterator: AsyncIterator[pb.Host], context: Context
    ) -> AsyncIterator[pb.PlacementOrder]:
        if not self.leadership.is_leader:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, NOT_LEADER)
            return
        try:
            async with asyncio.timeout(self.keepalive_timeout):
                first = await anext(aiter(request_iterator), None)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "no report from the sidecar")
            return
        if first is None:
            return
        if not first.name or not first.id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the host's name and app id are required")
            return
        if not self.leadership.is_leader:  # lost the lease while waiting for the report
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, NOT_LEADER)
            return
        await context.send_initial_metadata(((LEADER_METADATA, self.leadership.owner),))
        conn = Connection(Member.from_report(first))
        ns = self.namespace(first.namespace)
        ns.join(conn)
        log.info(
            "sidecar %s (%s/%s) connected, hosting %s",
            first.name, first.namespace, first.id, ", ".join(first.entities) or "no actor types",
        )  # fmt: skip
        reader = asyncio.create_task(self._read(request_iterator, conn, ns))
        broke = True
        try:
            while True:
                try:
                    order = await asyncio.wait_for(conn.outbox.get(), 0.5)
                except TimeoutError:
                    if reader.done():
                        break
                    if time.monotonic() - conn.last_seen > self.keepalive_timeout:
                        log.warning("sidecar %s sent no heartbeat for %gs: dropped", first.name,
                                    self.keepalive_timeout)  # fmt: skip
                        conn.drop("no heartbeat")
                        broke = False
                        break
                    continue
                if order is None:
                    broke = False
                    break
                yield order
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            # A stream that broke keeps its host in the table for a short grace (a quick reconnect
            # does not rebalance twice); one the server ended leaves it now.
            ns.leave(conn, grace=broke)
            if ns.idle and self.namespaces.get(ns.name) is ns:
                ns.close()
                del self.namespaces[ns.name]
            log.info("sidecar %s disconnected%s", first.name, f" ({conn.dropped})" if conn.dropped else "")
        if conn.dropped == "placement stepped down":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, NOT_LEADER)

    async def _read(self, requests: AsyncIterator[pb.Host], conn: Connection, ns: Namespace) -> None:
        async for host in requests:
            if host.operation in (pb.LOCK, pb.UPDATE):
                conn.last_seen = time.monotonic()
                if host.HasField("version"):
                    conn.acknowledged(host.operation, host.version)
            else:
                ns.report(conn, Member.from_report(host))


async def start_server(
    service: PlacementService,
    host: str,
    port: int,
    *,
    any_port_if_taken: bool = False,
    credentials: Callable[[], grpc.ServerCredentials] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Serves ``service``; raises OSError when ``host:port`` cannot be bound."""
    return await serve(
        lambda server: pb_grpc.add_PlacementServicer_to_server(service, server),  # type: ignore[no-untyped-call]
        host,
        port,
        any_port_if_taken=any_port_if_taken,
        credentials=credentials,
    )
