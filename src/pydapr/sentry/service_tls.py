"""A standalone control-plane service's mTLS (``pydapr placement`` / ``pydapr scheduler``
``--tls-enabled``, daprd's flags): its certificate from Sentry, renewed like a sidecar's, and the
server credentials that follow it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import grpc

from pydapr.security.grpc_tls import server_credentials
from pydapr.security.identity import IdentityError, WorkloadIdentity
from pydapr.security.spiffe import SpiffeId

from .client import sentry_signer

TLS_OPTIONS = (
    click.option("--tls-enabled", is_flag=True, default=False, help="mTLS with certificates from Sentry."),
    click.option(
        "--trust-domain", default="localhost", show_default=True, help="The control plane's trust domain."
    ),
    click.option(
        "--trust-anchors-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Sentry's ca.crt (PEM).",
    ),
    click.option("--sentry-address", default=None, help="host:port of Sentry."),
    click.option(
        "--namespace",
        "tls_namespace",
        default="default",
        show_default=True,
        help="The control plane's namespace.",
    ),
)


async def service_credentials(
    app_id: str, *, sentry_address: str | None, anchors_file: Path | None, trust_domain: str, namespace: str
) -> tuple[WorkloadIdentity, Callable[[], grpc.ServerCredentials]]:
    """Raises click.ClickException with the reason when no certificate can be had."""
    if not sentry_address or anchors_file is None:
        raise click.ClickException("--tls-enabled needs --sentry-address and --trust-anchors-file")
    anchors = _read_anchors(anchors_file)
    identity = WorkloadIdentity(
        SpiffeId(trust_domain, namespace, app_id), sentry_signer(sentry_address, anchors, namespace)
    )
    try:
        await identity.start()
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    return identity, lambda: server_credentials(identity)


def _read_anchors(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"--trust-anchors-file {path}: {exc.strerror or exc}") from None


async def credentials_from_flags(
    app_id: str, flags: dict[str, Any]
) -> tuple[WorkloadIdentity | None, Callable[[], grpc.ServerCredentials] | None]:
    """(None, None) without ``--tls-enabled``; else ``service_credentials`` from the TLS_OPTIONS."""
    if not flags["tls_enabled"]:
        return None, None
    return await service_credentials(
        app_id,
        sentry_address=flags["sentry_address"],
        anchors_file=flags["trust_anchors_file"],
        trust_domain=flags["trust_domain"],
        namespace=flags["tls_namespace"],
    )
