"""The broker bindings' TLS metadata: PEM ``caCert``/``clientCert``/``clientKey`` into an SSLContext."""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pydapr.bindings._tls import client_context
from pydapr.components.base import ComponentConfigError, ComponentMetadata


def _self_signed() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pydapr-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def _meta(tmp_path: Path, **props: str) -> ComponentMetadata:
    return ComponentMetadata("b", "bindings.mqtt3", "v1", props, base_dir=tmp_path)


def test_ca_and_client_pair_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cert, key = _self_signed()
    context = client_context(_meta(tmp_path, caCert=cert, clientCert=cert, clientKey=key))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any(c.get("subject") for c in context.get_ca_certs())
    assert not list(tmp_path.iterdir())  # the key pair's temporary file is gone


def test_bad_material_is_a_config_error(tmp_path: Path) -> None:
    cert, key = _self_signed()
    with pytest.raises(ComponentConfigError) as not_pem:
        client_context(_meta(tmp_path, caCert="just text"))
    assert not_pem.value.field_name == "caCert"
    with pytest.raises(ComponentConfigError, match="go together"):
        client_context(_meta(tmp_path, clientCert=cert))
    other_cert, _ = _self_signed()
    with pytest.raises(ComponentConfigError, match="cannot load the key pair"):
        client_context(_meta(tmp_path, clientCert=other_cert, clientKey=key))


def test_skip_verification(tmp_path: Path) -> None:
    context = client_context(_meta(tmp_path), verify=False)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
