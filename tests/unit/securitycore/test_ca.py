"""Sentry's CA: generated, or the user's own files; bad files are named in the error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from pydapr.security.ca import CAError, CertificateAuthority, make_csr, new_key
from pydapr.security.spiffe import SpiffeId, dns_name, from_certificate

SENTRY = SpiffeId("localhost", "default", "dapr-sentry")
APP = SpiffeId("public", "ns1", "orders")


def test_generated_once_then_loaded(tmp_path: Path) -> None:
    first = CertificateAuthority.load_or_generate(tmp_path, "localhost", SENTRY)
    assert (tmp_path / "issuer.key").stat().st_mode & 0o777 == 0o600
    again = CertificateAuthority.load_or_generate(tmp_path, "localhost", SENTRY)
    assert again.trust_anchors_pem == first.trust_anchors_pem


def test_svid_from_a_csr(tmp_path: Path) -> None:
    ca = CertificateAuthority.generate("localhost", SENTRY)
    key = new_key()
    chain = ca.sign_csr(make_csr(key, APP), APP, ttl=dt.timedelta(minutes=5), skew=dt.timedelta(seconds=30))
    leaf = chain.leaf
    assert from_certificate(leaf) == APP
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [dns_name("ns1", "orders")]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(minutes=5, seconds=30)
    leaf.verify_directly_issued_by(ca.issuer_chain[0])
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()


def test_a_csr_with_a_bad_signature_is_refused() -> None:
    ca = CertificateAuthority.generate("localhost", SENTRY)
    csr = bytearray(make_csr(new_key(), APP))
    csr[-40] ^= 1  # inside the signature, base64 stays valid
    with pytest.raises(ValueError):
        ca.sign_csr(bytes(csr), APP)


def test_the_users_root_and_issuer(tmp_path: Path) -> None:
    root = trustme.CA()
    issuer = root.create_child_ca()
    root.cert_pem.write_to_path(tmp_path / "ca.crt")
    issuer.cert_pem.write_to_path(tmp_path / "issuer.crt")
    issuer.private_key_pem.write_to_path(tmp_path / "issuer.key")
    ca = CertificateAuthority.load(tmp_path)
    chain = ca.sign_csr(make_csr(new_key(), APP), APP)
    chain.leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(issuer.cert_pem.bytes()))
    assert chain.issuers == ca.issuer_chain and ca.trust_anchors_pem == root.cert_pem.bytes()


def test_files_that_do_not_fit_are_named(tmp_path: Path) -> None:
    CertificateAuthority.generate("localhost", SENTRY).write(tmp_path)
    other = tmp_path / "other"
    CertificateAuthority.generate("localhost", SENTRY).write(other)
    (tmp_path / "ca.crt").write_bytes((other / "ca.crt").read_bytes())
    with pytest.raises(
        CAError, match=r"issuer\.crt: the issuer certificate is not signed by a root in .*ca\.crt"
    ):
        CertificateAuthority.load(tmp_path)
    (tmp_path / "issuer.key").write_bytes((other / "issuer.key").read_bytes())
    with pytest.raises(CAError, match=r"issuer\.key: the key does not belong to"):
        CertificateAuthority.load(tmp_path)
    (tmp_path / "issuer.key").unlink()
    with pytest.raises(CAError, match=r"has ca\.crt, issuer\.crt but not issuer\.key"):
        CertificateAuthority.load_or_generate(tmp_path, "localhost", SENTRY)
    (tmp_path / "issuer.key").write_text("garbage")
    with pytest.raises(CAError, match=r"issuer\.key: cannot read the issuer's private key"):
        CertificateAuthority.load(tmp_path)
