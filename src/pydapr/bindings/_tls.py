"""TLS settings the broker bindings share: ``caCert``, ``clientCert`` and ``clientKey`` given as PEM
text in component metadata, turned into a client ``SSLContext``."""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile

from pydapr.components.base import ComponentConfigError, ComponentMetadata

_PEM_FIELDS = ("caCert", "clientCert", "clientKey")


def _pem(metadata: ComponentMetadata, key: str) -> str:
    value = (metadata.get(key) or "").strip()
    if value and "-----BEGIN " not in value:
        raise ComponentConfigError(metadata.name, key, "is not PEM text (no -----BEGIN block)")
    return value


def has_tls_material(metadata: ComponentMetadata) -> bool:
    return any(metadata.get(k) for k in _PEM_FIELDS)


def client_context(metadata: ComponentMetadata, *, verify: bool = True) -> ssl.SSLContext:
    """A client context trusting ``caCert`` (else the system roots) and presenting ``clientCert`` +
    ``clientKey`` when both are set."""
    ca, cert, key = (_pem(metadata, k) for k in _PEM_FIELDS)
    if bool(cert) != bool(key):
        raise ComponentConfigError(metadata.name, "clientCert", "clientCert and clientKey go together")
    context = ssl.create_default_context(cadata=ca or None)
    if not ca:
        context.load_default_certs()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert and key:
        # The ssl module loads a key pair only from files: a private temporary file, removed at once.
        fd, path = tempfile.mkstemp(prefix="pydapr-tls-", suffix=".pem")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(cert + "\n" + key + "\n")
            context.load_cert_chain(path)
        except ssl.SSLError as exc:
            raise ComponentConfigError(
                metadata.name, "clientKey", f"cannot load the key pair: {exc}"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return context
