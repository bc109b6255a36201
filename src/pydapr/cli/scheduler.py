"""``pydapr scheduler``: the durable jobs service that sidecars connect to with --scheduler-host-address."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from typing import Any

import click

from pydapr.scheduler.store import DEFAULT_PARTITIONS
from pydapr.sentry.service_tls import TLS_OPTIONS


async def _serve(
    host: str,
    port: int,
    storage: str,
    partitions: int,
    lease_ttl: float,
    replica_id: str,
    tls: dict[str, Any],
) -> None:
    from pydapr.scheduler.engine import Engine
    from pydapr.scheduler.server import SchedulerService, start_server
    from pydapr.scheduler.storage import open_store
    from pydapr.scheduler.store import StoreError

    store = open_store(storage, partitions)
    try:
        await store.open()
    except StoreError as exc:
        raise click.ClickException(f"cannot open the scheduler storage: {exc}") from None
    engine = Engine(store, replica_id, lease_ttl=lease_ttl)
    from pydapr.security.spiffe import SCHEDULER_APP_ID
    from pydapr.sentry.service_tls import credentials_from_flags

    identity, credentials = await credentials_from_flags(SCHEDULER_APP_ID, tls)
    try:
        server, bound = await start_server(
            SchedulerService(store, engine), host, port, credentials=credentials
        )
    except OSError as exc:
        await store.close()
        raise click.ClickException(str(exc)) from None
    await engine.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo(f"scheduler {replica_id} listening on {host}:{bound}, {len(engine.owned)} partitions owned")
    sys.stdout.flush()
    await stop.wait()
    await server.stop(grace=2.0)
    await engine.stop()
    await store.close()
    if identity is not None:
        await identity.stop()


@click.command("scheduler")
@click.option(
    "--port", type=int, default=50006, show_default=True, help="gRPC port for sidecars (0: any free port)."
)
@click.option("--listen-address", "host", default="127.0.0.1", show_default=True)
@click.option(
    "--storage",
    default="sqlite://",
    show_default=True,
    help="sqlite:///path/jobs.db (sqlite:// = $PYDAPR_HOME/scheduler/jobs.db) or postgresql://user@host/db",
)
@click.option(
    "--partitions",
    type=int,
    default=DEFAULT_PARTITIONS,
    show_default=True,
    help="Job partitions leased among replicas; every replica of one cluster must use the same value.",
)
@click.option(
    "--lease-ttl",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds after which a dead replica's partitions pass to the others.",
)
@click.option("--replica-id", default="", help="Name of this replica (default: host-pid).")
@click.option("--log-level", default="info", show_default=True)
@TLS_OPTIONS[0]
@TLS_OPTIONS[1]
@TLS_OPTIONS[2]
@TLS_OPTIONS[3]
@TLS_OPTIONS[4]
def command(
    port: int,
    host: str,
    storage: str,
    partitions: int,
    lease_ttl: float,
    replica_id: str,
    log_level: str,
    **tls: Any,
) -> None:
    """Run the scheduler service."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rid = replica_id or f"{socket.gethostname()}-{os.getpid()}"
    try:
        import uvloop

        uvloop.run(_serve(host, port, storage, partitions, lease_ttl, rid, tls))
    except KeyboardInterrupt:
        pass
