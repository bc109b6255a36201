"""What Sentry is configured with: where its CA lives, its trust domain, and the Configuration's
``spec.mtls`` (``enabled``, ``workloadCertTTL``, ``allowedClockSkew``).

In Dapr these are the control plane's settings (the ``daprsystem`` Configuration), not a sidecar's.
pydapr's local control plane reads them from ``<home>/config.yaml`` (``pydapr init`` writes it);
``pydapr sentry --config FILE`` from the file given.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pydapr.resources import ResourceError, load_configurations
from pydapr.security.ca import DEFAULT_CLOCK_SKEW, DEFAULT_WORKLOAD_TTL, CAError, CertificateAuthority
from pydapr.security.spiffe import SENTRY_APP_ID, SpiffeId

SENTRY_PORT = 50001  # Dapr's default Sentry port (pydapr's local control plane takes any free one)
CONTROL_PLANE_TRUST_DOMAIN = "localhost"  # daprd's default --control-plane-trust-domain
CONTROL_PLANE_NAMESPACE = "default"


class SentryConfigError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SentrySettings:
    ca_dir: Path
    enabled: bool = True
    trust_domain: str = CONTROL_PLANE_TRUST_DOMAIN
    namespace: str = CONTROL_PLANE_NAMESPACE
    workload_ttl: dt.timedelta = DEFAULT_WORKLOAD_TTL
    clock_skew: dt.timedelta = DEFAULT_CLOCK_SKEW

    @classmethod
    def from_config(
        cls,
        ca_dir: Path,
        config: Path | None,
        *,
        trust_domain: str = CONTROL_PLANE_TRUST_DOMAIN,
        namespace: str = CONTROL_PLANE_NAMESPACE,
    ) -> SentrySettings:
        if config is None:
            return cls(ca_dir, trust_domain=trust_domain, namespace=namespace)
        try:
            mtls = load_configurations([config]).mtls
        except ResourceError as exc:
            raise SentryConfigError(str(exc)) from None
        if mtls is None:
            return cls(ca_dir, trust_domain=trust_domain, namespace=namespace)
        return cls(
            ca_dir,
            enabled=mtls.enabled,
            trust_domain=trust_domain,
            namespace=namespace,
            workload_ttl=_seconds(mtls.workload_cert_ttl, DEFAULT_WORKLOAD_TTL),
            clock_skew=_seconds(mtls.allowed_clock_skew, DEFAULT_CLOCK_SKEW),
        )

    @classmethod
    def for_home(cls, home: Path) -> SentrySettings:
        """The local control plane's: ``<home>/config.yaml`` when it exists; mTLS on without it."""
        config = home / "config.yaml"
        return cls.from_config(home / "sentry", config if config.is_file() else None)

    def load_ca(self) -> CertificateAuthority:
        try:
            return CertificateAuthority.load_or_generate(
                self.ca_dir, self.trust_domain, SpiffeId(self.trust_domain, self.namespace, SENTRY_APP_ID)
            )
        except (CAError, OSError) as exc:
            raise SentryConfigError(f"Sentry's certificate authority: {exc}") from None


def _seconds(value: float | None, default: dt.timedelta) -> dt.timedelta:
    return default if value is None else dt.timedelta(seconds=value)
