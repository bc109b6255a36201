"""SPIFFE ids of Dapr workloads: ``spiffe://<trust-domain>/ns/<namespace>/<app-id>``.

An X.509 SVID carries its id as the one URI subject alternative name. pydapr's CA also writes a DNS
name derived from the namespace and app id (``dns_name``): Python's ``ssl`` and gRPC check a peer
against a host name, not a URI, so that name is how a caller verifies it reached the app it meant
(the CA writes both from one id, so they never disagree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

_PREFIX = "spiffe://"


@dataclass(frozen=True, slots=True)
class SpiffeId:
    trust_domain: str
    namespace: str
    app_id: str

    @classmethod
    def parse(cls, uri: str) -> SpiffeId:
        """Raises ValueError unless ``uri`` is a Dapr workload id."""
        if not uri.startswith(_PREFIX):
            raise ValueError(f"{uri!r} is not a SPIFFE id")
        trust_domain, _, path = uri[len(_PREFIX) :].partition("/")
        parts = path.split("/")
        if not trust_domain or len(parts) != 3 or parts[0] != "ns" or not parts[1] or not parts[2]:
            raise ValueError(f"{uri!r} is not of the form spiffe://<trust-domain>/ns/<namespace>/<app-id>")
        return cls(trust_domain.lower(), parts[1], parts[2])

    @property
    def uri(self) -> str:
        return f"{_PREFIX}{self.trust_domain}/ns/{self.namespace}/{self.app_id}"

    def __str__(self) -> str:
        return self.uri


def dns_name(namespace: str, app_id: str) -> str:
    """The DNS subject alternative name pydapr's CA gives every SVID it issues for this app."""
    return f"{app_id}.{namespace}.svc.dapr.internal".lower()


def from_certificate(cert: x509.Certificate) -> SpiffeId | None:
    """The id of an SVID, or None when it has no URI name or more than one (not an SVID)."""
    # Imported here, not at the top: a sidecar without mTLS only parses ids from strings (access
    # control, the control plane's app ids) and must not pay cryptography's ~10 MB at startup.
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    return _only_id(san.get_values_for_type(x509.UniformResourceIdentifier))


def from_pem(pem: bytes) -> SpiffeId | None:
    from cryptography import x509

    try:
        return from_certificate(x509.load_pem_x509_certificate(pem))
    except ValueError:
        return None


def from_peercert(peercert: dict[str, Any] | None) -> SpiffeId | None:
    """The id in ``ssl``'s decoded peer certificate (``getpeercert()``), or None."""
    if not peercert:
        return None
    return _only_id([value for kind, value in peercert.get("subjectAltName", ()) if kind == "URI"])


def _only_id(uris: list[str]) -> SpiffeId | None:
    """An SVID has exactly one URI name, a SPIFFE id."""
    if len(uris) != 1:
        return None
    try:
        return SpiffeId.parse(uris[0])
    except ValueError:
        return None


# The control plane's services, as Dapr names their identities (in the control plane's namespace).
SENTRY_APP_ID = "dapr-sentry"
PLACEMENT_APP_ID = "dapr-placement"
SCHEDULER_APP_ID = "dapr-scheduler"
