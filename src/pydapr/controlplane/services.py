"""The services one control-plane process hosts. Each starts, says where it listens, and stops.

The scheduler and placement today; sentry joins the list in ``default_services`` when it exists.
Their addresses appear in ``control-plane.json`` under their names.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydapr.scheduler.store import DEFAULT_PARTITIONS

if TYPE_CHECKING:
    import grpc

    from pydapr.placement.lease import Leadership, LeaseStore
    from pydapr.scheduler.engine import Engine
    from pydapr.scheduler.store import JobStore

log = logging.getLogger("pydapr.controlplane")

SCHEDULER_PORT = 50006  # Dapr's default scheduler port
PLACEMENT_PORT = 50005  # Dapr's default placement port


class Service(Protocol):
    name: str

    async def start(self) -> str:
        """Starts serving; returns the ``host:port`` clients connect to."""
        ...

    async def stop(self) -> None: ...


class LocalScheduler:
    """The scheduler in this process: SQLite jobs, one replica leasing every partition.

    Composed from ``pydapr.scheduler`` the way ``pydapr scheduler`` composes it, except that a taken
    port falls back to a free one (the address is published in ``control-plane.json``).
    """

    name = "scheduler"

    def __init__(
        self,
        storage_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = SCHEDULER_PORT,
        partitions: int = DEFAULT_PARTITIONS,
        lease_ttl: float = 10.0,
    ) -> None:
        self.storage_path = storage_path
        self.host = host
        self.port = port
        self.partitions = partitions
        self.lease_ttl = lease_ttl
        self._store: JobStore | None = None
        self._engine: Engine | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self) -> str:
        from pydapr.scheduler.engine import Engine
        from pydapr.scheduler.server import SchedulerService, start_server
        from pydapr.scheduler.storage import open_store
        from pydapr.scheduler.store import StoreError

        self.storage_path.parent.mkdir(parents=True, exist_ok=True)
        store = open_store(f"sqlite://{self.storage_path.resolve()}", self.partitions)
        try:
            await store.open()
        except StoreError as exc:
            raise RuntimeError(f"cannot open the scheduler storage {self.storage_path}: {exc}") from None
        self._store = store
        engine = Engine(store, f"{socket.gethostname()}-{os.getpid()}", lease_ttl=self.lease_ttl)
        self._server, bound = await start_server(
            SchedulerService(store, engine), self.host, self.port, any_port_if_taken=True
        )
        await engine.start()
        self._engine = engine
        return f"{self.host}:{bound}"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=2.0)
            self._server = None
        if self._engine is not None:
            await self._engine.stop()
            self._engine = None
        if self._store is not None:
            await self._store.close()
            self._store = None


class LocalPlacement:
    """The placement service in this process, leading by a SQLite lease in the home.

    The lease is what ``pydapr placement --store sqlite://`` uses, so a ``pydapr placement`` started
    by hand on the same home stands by instead of splitting the sidecars. As the only replica it
    leads at once and needs no grace before its first round.
    """

    name = "placement"

    def __init__(self, lease_path: Path, *, host: str = "127.0.0.1", port: int = PLACEMENT_PORT) -> None:
        self.lease_path = lease_path
        self.host = host
        self.port = port
        self._store: LeaseStore | None = None
        self._leadership: Leadership | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self) -> str:
        from pydapr.placement.lease import Leadership, LeaseError, SqliteLease
        from pydapr.placement.server import PlacementService, start_server

        store = SqliteLease(self.lease_path, "placement")
        try:
            await store.open()
        except LeaseError as exc:
            raise RuntimeError(f"cannot open the placement lease {self.lease_path}: {exc}") from None
        self._store = store
        # The default grace: after a control-plane restart the sidecars must resync before the first
        # round, or the first one back would be given the actors the others still run.
        leadership = Leadership(store, f"control-plane-{socket.gethostname()}-{os.getpid()}")
        service = PlacementService(leadership)
        self._server, bound = await start_server(service, self.host, self.port, any_port_if_taken=True)
        await leadership.start()
        self._leadership = leadership
        return f"{self.host}:{bound}"

    async def stop(self) -> None:
        if self._leadership is not None:
            await self._leadership.stop()
            self._leadership = None
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None
        if self._store is not None:
            await self._store.close()
            self._store = None


def default_services(
    home: Path, *, scheduler_port: int = SCHEDULER_PORT, placement_port: int = PLACEMENT_PORT
) -> list[Service]:
    return [
        LocalScheduler(home / "scheduler" / "jobs.db", port=scheduler_port),
        LocalPlacement(home / "placement" / "leader.db", port=placement_port),
    ]
