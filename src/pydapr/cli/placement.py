"""``pydapr placement``: the actor placement service sidecars reach with --placement-host-address.

Dapr's placement flags where they apply (``--port``, ``--listen-address``, ``--replicationFactor``,
``--id``, ``--keepalive-timeout``, ``--disseminate-timeout``); high availability is a leader lease in
``--store`` instead of Raft, so Dapr's Raft and certificate flags are accepted with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from typing import Any

import click

from pydapr.placement.ring import DEFAULT_REPLICATION_FACTOR
from pydapr.sentry.service_tls import TLS_OPTIONS

log = logging.getLogger("pydapr.placement")

# Dapr placement flags that have no meaning here: parsed, and named in a startup warning when given.
UNAPPLIED = (
    "initial-cluster",
    "inmem-store-enabled",
    "raft-logstore-path",
    "healthz-port",
    "healthz-listen-address",
    "metadata-enabled",
    "mode",
    "keepalive-time",
    "disseminate-coalesce-window",
    "metrics-port",
    "enable-metrics",
    "log-as-json",
)


def _duration(value: str) -> float:
    from pydapr.resources.durations import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter(f"{value!r} must be positive")
    return seconds


async def _serve(options: dict[str, Any]) -> None:
    from pydapr.placement.lease import Leadership, LeaseError, open_lease_store
    from pydapr.placement.server import PlacementService, start_server

    try:
        store = open_lease_store(options["store"], options["lease_name"])
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        await store.open()
    except LeaseError as exc:
        raise click.ClickException(f"cannot open the placement store {options['store']!r}: {exc}") from None
    leadership = Leadership(store, options["id"], ttl=options["lease_ttl"], grace=options["leader_grace"])
    service = PlacementService(
        leadership,
        replication_factor=options["replication_factor"],
        ack_timeout=options["disseminate_timeout"],
        keepalive_timeout=options["keepalive_timeout"],
    )
    from pydapr.security.spiffe import PLACEMENT_APP_ID
    from pydapr.sentry.service_tls import credentials_from_flags

    identity, credentials = await credentials_from_flags(PLACEMENT_APP_ID, options)
    try:
        server, bound = await start_server(service, options["host"], options["port"], credentials=credentials)
    except OSError as exc:
        await store.close()
        raise click.ClickException(str(exc)) from None
    await leadership.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    role = "leader" if leadership.is_leader else "follower"
    click.echo(f"placement {options['id']} listening on {options['host']}:{bound} ({role})")
    sys.stdout.flush()
    await stop.wait()
    await leadership.stop()
    service.step_down()
    await server.stop(grace=1.0)
    await store.close()
    if identity is not None:
        await identity.stop()


@click.command("placement")
@click.option(
    "--port", type=int, default=50005, show_default=True, help="gRPC port for sidecars (0: any free)."
)
@click.option("--listen-address", "host", default="127.0.0.1", show_default=True)
@click.option("--id", "replica_id", default="", help="Name of this replica in the lease (default: host-pid).")
@click.option(
    "--replicationFactor",
    "--replication-factor",
    "replication_factor",
    type=click.IntRange(min=1),
    default=DEFAULT_REPLICATION_FACTOR,
    show_default=True,
    help="Virtual nodes per host on each actor type's hash ring.",
)
@click.option(
    "--store",
    default="sqlite://",
    show_default=True,
    help="Where replicas hold the leader lease: sqlite:// ($PYDAPR_HOME/placement/leader.db), "
    "sqlite:///path, postgresql://user@host/db or redis://host:port/db.",
)
@click.option("--lease-name", default="placement", show_default=True,
              help="The lease's row (SQL) or key (Redis); one per placement cluster.")  # fmt: skip
@click.option("--lease-ttl", type=str, default="3s", show_default=True,
              help="How long a dead leader's lease lasts before a standby takes over.")  # fmt: skip
@click.option("--leader-grace", type=str, default="3s", show_default=True,
              help="A new leader collects reports this long before its first round.")  # fmt: skip
@click.option("--keepalive-timeout", type=str, default="5s", show_default=True,
              help="A sidecar silent this long (it reports every second) leaves the table.")  # fmt: skip
@click.option("--disseminate-timeout", type=str, default="70s", show_default=True,
              help="A sidecar not acknowledging a lock or update this fast leaves the table.")  # fmt: skip
@click.option("--log-level", default="info", show_default=True)
@TLS_OPTIONS[0]
@TLS_OPTIONS[1]
@TLS_OPTIONS[2]
@TLS_OPTIONS[3]
@TLS_OPTIONS[4]
def command(**options: Any) -> None:
    """Run the actor placement service."""
    logging.basicConfig(
        level=options.pop("log_level").upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("lease_ttl", "leader_grace", "keepalive_timeout", "disseminate_timeout"):
        try:
            options[name] = _duration(options[name])
        except click.BadParameter as exc:
            raise click.BadParameter(exc.message, param_hint=f"--{name.replace('_', '-')}") from None
    if options["lease_ttl"] <= 1.0:
        raise click.BadParameter("must be above the 1s renewal interval", param_hint="--lease-ttl")
    given = [name for name, value in options.pop("unapplied").items() if value is not None]
    if given:
        log.warning("not applied by pydapr placement: %s", ", ".join(given))
    options["id"] = options.pop("replica_id") or f"{socket.gethostname()}-{os.getpid()}"
    try:
        import uvloop

        uvloop.run(_serve(options))
    except KeyboardInterrupt:
        pass


def _collect_unapplied(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    unapplied = ctx.params.setdefault("unapplied", {})
    unapplied[param.opts[0]] = value
    return value


for _flag in UNAPPLIED:
    command.params.append(
        click.Option(
            [f"--{_flag}"],
            hidden=True,
            expose_value=False,
            callback=_collect_unapplied,
            help="Dapr placement flag without effect here.",
        )
    )
