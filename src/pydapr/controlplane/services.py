"""The services one control-plane process hosts. Each starts, says where it listens, and stops.

Sentry (with mTLS on, the default), the scheduler and placement; their addresses appear in
``control-plane.json`` under their names. With Sentry, the scheduler and placement listen with
mTLS too: their certificates come from the same CA, in this process, and sidecars must present one.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydapr.scheduler.store import DEFAULT_PARTITIONS
from pydapr.security.spiffe import PLACEMENT_APP_ID, SCHEDULER_APP_ID
from pydapr.sentry.settings import SENTRY_PORT, SentrySettings

if TYPE_CHECKING:
    import grpc

    from pydapr.placement.lease import Leadership, LeaseStore
    from pydapr.scheduler.engine import Engine
    from pydapr.scheduler.store import JobStore
    from pydapr.security.ca import CertificateAuthority
    from pydapr.security.identity import WorkloadIdentity

log = logging.getLogger("pydapr.controlplane")

SCHEDULER_PORT = 50006  # Dapr's default scheduler port
PLACEMENT_PORT = 50005  # Dapr's default placement port


class Service(Protocol):
    name: str

    async def start(self) -> str:
        """Starts serving; returns the ``host:port`` clients connect to."""
        ...

    async def stop(self) -> None: ...


# What makes the server credentials a service listens with, for its app id (dapr-scheduler ...);
# None: plain.
ServerTls = Callable[[str], Awaitable[Callable[[], "grpc.ServerCredentials"]]] | None


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
        tls: ServerTls = None,
    ) -> None:
        self.tls = tls
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
        credentials = await self.tls(SCHEDULER_APP_ID) if self.tls is not None else None
        self._server, bound = await start_server(
            SchedulerService(store, engine),
            self.host,
            self.port,
            any_port_if_taken=True,
            credentials=credentials,
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

    def __init__(
        self, lease_path: Path, *, host: str = "127.0.0.1", port: int = PLACEMENT_PORT, tls: ServerTls = None
    ) -> None:
        self.tls = tls
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
        credentials = await self.tls(PLACEMENT_APP_ID) if self.tls is not None else None
        self._server, bound = await start_server(
            service, self.host, self.port, any_port_if_taken=True, credentials=credentials
        )
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


class LocalSentry:
    """Sentry in this process, with the CA in ``<home>/sentry`` (generated there the first time, or
    the user's own ``ca.crt``/``issuer.crt``/``issuer.key``). It also gives the control plane's own
    services their certificates (``server_tls``), renewed like a sidecar's."""

    name = "sentry"

    def __init__(self, settings: SentrySettings, *, host: str = "127.0.0.1", port: int = SENTRY_PORT) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self._ca: CertificateAuthority | None = None
        self._identities: list[WorkloadIdentity] = []
        self._server: grpc.aio.Server | None = None

    async def _ca_ready(self) -> CertificateAuthority:
        if self._ca is None:
            self._ca = self.settings.load_ca()
        return self._ca

    async def _identity(self, app_id: str) -> WorkloadIdentity:
        from pydapr.security.identity import WorkloadIdentity
        from pydapr.security.spiffe import SpiffeId

        settings = self.settings
        identity = WorkloadIdentity.from_ca(
            SpiffeId(settings.trust_domain, settings.namespace, app_id),
            await self._ca_ready(),
            settings.workload_ttl,
            settings.clock_skew,
        )
        await identity.start()
        self._identities.append(identity)
        return identity

    async def server_tls(self, app_id: str) -> Callable[[], grpc.ServerCredentials]:
        from pydapr.security.grpc_tls import server_credentials

        identity = await self._identity(app_id)
        return lambda: server_credentials(identity)

    async def start(self) -> str:
        from pydapr.security.spiffe import SENTRY_APP_ID
        from pydapr.sentry.server import SentryService, start_server

        ca = await self._ca_ready()
        service = SentryService(
            ca, workload_ttl=self.settings.workload_ttl, clock_skew=self.settings.clock_skew
        )
        identity = await self._identity(SENTRY_APP_ID)
        self._server, bound = await start_server(
            service, identity, self.host, self.port, any_port_if_taken=True
        )
        return f"{self.host}:{bound}"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None
        for identity in self._identities:
            await identity.stop()
        self._identities.clear()


def default_services(
    home: Path,
    *,
    scheduler_port: int = SCHEDULER_PORT,
    placement_port: int = PLACEMENT_PORT,
    sentry_port: int = 0,
) -> list[Service]:
    """Sentry first when mTLS is on (``<home>/config.yaml``'s ``spec.mtls``, on by default): the
    other services take their certificates from it. Sentry takes any free port: Dapr's 50001 is
    also the sidecar's default gRPC port."""
    settings = SentrySettings.for_home(home)
    sentry = LocalSentry(settings, port=sentry_port) if settings.enabled else None
    tls = sentry.server_tls if sentry is not None else None
    services: list[Service] = [
        LocalScheduler(home / "scheduler" / "jobs.db", port=scheduler_port, tls=tls),
        LocalPlacement(home / "placement" / "leader.db", port=placement_port, tls=tls),
    ]
    return [sentry, *services] if sentry is not None else services
