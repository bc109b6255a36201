"""The sidecar's security at startup: its workload certificate (with ``--enable-mtls``) and the
access control lists it enforces.

As daprd: ``--enable-mtls`` with ``--sentry-address`` and the trust anchors in ``DAPR_TRUST_ANCHORS``
(PEM); the identity is ``spiffe://<trust-domain>/ns/<namespace>/<app-id>`` with the trust domain of
the Configuration's ``accessControl.trustDomain`` (``public`` by default). A Sentry that is starting
is waited for a few seconds; then startup fails with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING

from pydapr.resources import Configuration
from pydapr.security.acl import AccessControl
from pydapr.security.mtls import Mtls
from pydapr.security.spiffe import SpiffeId
from pydapr.sidecar.options import SidecarOptions

if TYPE_CHECKING:
    from pydapr.security.identity import WorkloadIdentity

log = logging.getLogger("pydapr.security")

TRUST_ANCHORS_ENV = "DAPR_TRUST_ANCHORS"
SENTRY_WAIT = 10.0  # seconds a starting Sentry is waited for


class SecurityStartupError(Exception):
    pass


def trust_domain(configuration: Configuration | None) -> str:
    acl = configuration.access_control if configuration is not None else None
    return acl.trust_domain if acl is not None else "public"


async def start_mtls(options: SidecarOptions, configuration: Configuration | None) -> Mtls | None:
    if not options.enable_mtls:
        return None
    # Here, not at the top: the identity needs cryptography (~10 MB), only with --enable-mtls.
    from pydapr.security.identity import IdentityError, WorkloadIdentity
    from pydapr.sentry.client import sentry_signer

    if not options.sentry_address:
        raise SecurityStartupError(
            "--enable-mtls needs --sentry-address (the Sentry that signs certificates)"
        )
    anchors = os.environ.get(TRUST_ANCHORS_ENV, "").encode()
    if b"-----BEGIN CERTIFICATE-----" not in anchors:
        raise SecurityStartupError(
            f"--enable-mtls needs the trust anchors (PEM) in the {TRUST_ANCHORS_ENV} environment variable"
        )
    identity = WorkloadIdentity(
        SpiffeId(trust_domain(configuration), options.namespace, options.app_id),
        sentry_signer(options.sentry_address, anchors, options.control_plane_namespace),
    )
    deadline = time.monotonic() + SENTRY_WAIT
    while True:
        try:
            await identity.start()
            break
        except IdentityError as exc:
            if "UNAVAILABLE" not in str(exc) or time.monotonic() > deadline:
                raise SecurityStartupError(str(exc)) from None
            await asyncio.sleep(0.2)
    _check_ttl(identity, configuration)
    return Mtls(identity, options.control_plane_namespace)


def _check_ttl(identity: WorkloadIdentity, configuration: Configuration | None) -> None:
    """``mtls.workloadCertTTL`` is Sentry's setting: say so when this sidecar's asks for another."""
    mtls = configuration.mtls if configuration is not None else None
    if mtls is None or mtls.workload_cert_ttl is None:
        return
    svid = identity.current
    now = svid.not_after.timestamp() - time.time()
    if abs(now - mtls.workload_cert_ttl) > 60:
        log.warning(
            "spec.mtls.workloadCertTTL (%gs) is applied by the Sentry that signs certificates; "
            "the Sentry at this sidecar's --sentry-address issued one valid for %.0fs",
            mtls.workload_cert_ttl,
            now,
        )


def access_controls(
    configuration: Configuration | None, *, app_is_http: bool
) -> tuple[AccessControl | None, AccessControl | None]:
    """The lists for service invocation (the app's protocol) and for gRPC proxying (always gRPC)."""
    spec = configuration.access_control if configuration is not None else None
    return AccessControl.from_spec(spec, http_app=app_is_http), AccessControl.from_spec(spec, http_app=False)
