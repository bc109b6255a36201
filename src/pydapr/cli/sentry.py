"""``pydapr sentry``: the certificate authority on its own (the local control plane also runs one).

Flags as Dapr's sentry: ``--port``, ``--issuer-credentials`` (the directory with ``ca.crt``,
``issuer.crt`` and ``issuer.key``; generated there when it holds none), ``--trust-domain`` and
``--config`` (a Configuration whose ``spec.mtls`` sets ``workloadCertTTL`` and ``allowedClockSkew``).
Sidecars use it with ``--enable-mtls --sentry-address host:port`` and ``DAPR_TRUST_ANCHORS`` set to
the content of ``ca.crt``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click


async def _serve(host: str, port: int, credentials: Path, config: Path | None, trust_domain: str) -> None:
    from pydapr.controlplane.services import LocalSentry
    from pydapr.sentry.settings import SentryConfigError, SentrySettings

    try:
        settings = SentrySettings.from_config(credentials, config, trust_domain=trust_domain)
        sentry = LocalSentry(settings, host=host, port=port)
        address = await sentry.start()
    except (SentryConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if not settings.enabled:
        logging.getLogger("pydapr.sentry").warning(
            "%s: spec.mtls.enabled is false; Sentry signs certificates anyway "
            "(each sidecar decides with --enable-mtls)",
            config,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo(
        f"sentry listening on {address}; trust anchors in {credentials / 'ca.crt'}; "
        f"workload certificates valid {settings.workload_ttl}"
    )
    sys.stdout.flush()
    await stop.wait()
    await sentry.stop()


@click.command("sentry")
@click.option("--port", type=int, default=50001, show_default=True, help="gRPC port (0: any free port).")
@click.option("--listen-address", "host", default="127.0.0.1", show_default=True)
@click.option(
    "--issuer-credentials",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory of ca.crt, issuer.crt and issuer.key (generated when empty).",
)
@click.option(
    "--trust-domain", default="localhost", show_default=True, help="The control plane's trust domain."
)
@click.option("--config", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None)
@click.option("--log-level", default="info", show_default=True)
def command(
    port: int, host: str, issuer_credentials: Path, trust_domain: str, config: Path | None, log_level: str
) -> None:
    """Run Sentry, the certificate authority for mTLS."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        uvloop.run(_serve(host, port, issuer_credentials, config, trust_domain))
    except KeyboardInterrupt:
        pass
