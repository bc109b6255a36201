"""The certificate authority Sentry signs with: a root (the trust anchors) and an issuer below it.

As Dapr's self-hosted Sentry, the credentials live in one directory as ``ca.crt`` (the trust
anchors, PEM, one or more roots), ``issuer.crt`` (the issuer's certificate, chained to a root) and
``issuer.key`` (its private key). A directory with none of them gets a generated root and issuer
(ECDSA P-256, one year); a user's own root and issuer are used as given. Workload certificates are
X.509 SVIDs: the SPIFFE id as the only URI name, client and server auth, valid from ``now - skew``
to ``now + ttl``. All cryptography is the ``cryptography`` library's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .spiffe import SpiffeId, dns_name

CA_FILE, ISSUER_CERT_FILE, ISSUER_KEY_FILE = "ca.crt", "issuer.crt", "issuer.key"
CA_TTL = dt.timedelta(days=365)
DEFAULT_WORKLOAD_TTL = dt.timedelta(hours=24)  # Dapr's workloadCertTTL default
DEFAULT_CLOCK_SKEW = dt.timedelta(minutes=15)  # Dapr's allowedClockSkew default

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class CAError(Exception):
    """The CA's files are missing, unreadable or do not fit together (the message names the file)."""


@dataclass(frozen=True, slots=True)
class SignedChain:
    leaf: x509.Certificate
    issuers: tuple[x509.Certificate, ...]  # the issuer and any intermediates, not the root

    @property
    def pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.leaf, *self.issuers))

    @property
    def not_after(self) -> dt.datetime:
        return self.leaf.not_valid_after_utc


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: SigningKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_csr(key: ec.EllipticCurvePrivateKey, identity: SpiffeId) -> bytes:
    """A PEM certificate request for ``identity`` (Sentry takes the id from the request, as Dapr's)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity.uri)]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


class CertificateAuthority:
    def __init__(
        self,
        trust_anchors: Sequence[x509.Certificate],
        issuer_chain: Sequence[x509.Certificate],
        issuer_key: SigningKey,
    ) -> None:
        self.trust_anchors = tuple(trust_anchors)
        self.issuer_chain = tuple(issuer_chain)
        self.issuer_key = issuer_key

    @property
    def trust_anchors_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.trust_anchors)

    # --- making and loading ----------------------------------------------------------------------
    @classmethod
    def generate(cls, trust_domain: str, sentry_id: SpiffeId) -> CertificateAuthority:
        now = dt.datetime.now(dt.UTC)
        root_key, issuer_key = new_key(), new_key()
        root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain)])
        root = _ca_builder(root_name, root_name, root_key.public_key(), now).sign(root_key, hashes.SHA256())
        issuer_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, sentry_id.uri)])
        issuer = _ca_builder(issuer_name, root_name, issuer_key.public_key(), now).sign(
            root_key, hashes.SHA256()
        )
        return cls([root], [issuer], issuer_key)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        anchors = _read_certs(directory / CA_FILE)
        chain = _read_certs(directory / ISSUER_CERT_FILE)
        key_path = directory / ISSUER_KEY_FILE
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise CAError(f"{key_path}: cannot read the issuer's private key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise CAError(f"{key_path}: the issuer key must be an EC, RSA or Ed25519 key")
        issuer = chain[0]
        if key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise CAError(f"{key_path}: the key does not belong to {directory / ISSUER_CERT_FILE}")
        now = dt.datetime.now(dt.UTC)
        if issuer.not_valid_after_utc <= now:
            expired = issuer.not_valid_after_utc
            raise CAError(f"{directory / ISSUER_CERT_FILE}: the issuer certificate expired at {expired}")
        if not _chains_to(chain, anchors):
            raise CAError(
                f"{directory / ISSUER_CERT_FILE}: the issuer certificate is not signed by a root in "
                f"{directory / CA_FILE}"
            )
        return cls(anchors, [c for c in chain if c not in anchors], key)

    @classmethod
    def load_or_generate(
        cls, directory: Path, trust_domain: str, sentry_id: SpiffeId
    ) -> CertificateAuthority:
        """The CA in ``directory``; a new one written there when the directory holds none of its files."""
        files = [directory / n for n in (CA_FILE, ISSUER_CERT_FILE, ISSUER_KEY_FILE)]
        present = [f for f in files if f.exists()]
        if present and len(present) < len(files):
            missing = ", ".join(f.name for f in files if not f.exists())
            raise CAError(f"{directory}: has {', '.join(f.name for f in present)} but not {missing}")
        if present:
            return cls.load(directory)
        ca = cls.generate(trust_domain, sentry_id)
        ca.write(directory)
        return ca

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(directory / CA_FILE, self.trust_anchors_pem, 0o644)
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.issuer_chain)
        _write(directory / ISSUER_CERT_FILE, chain, 0o644)
        _write(directory / ISSUER_KEY_FILE, key_pem(self.issuer_key), 0o600)

    # --- signing ---------------------------------------------------------------------------------
    def sign(
        self,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey,
        identity: SpiffeId,
        *,
        ttl: dt.timedelta = DEFAULT_WORKLOAD_TTL,
        skew: dt.timedelta = DEFAULT_CLOCK_SKEW,
        dns: Sequence[str] = (),
    ) -> SignedChain:
        now = dt.datetime.now(dt.UTC)
        issuer = self.issuer_chain[0]
        not_after = min(now + ttl, issuer.not_valid_after_utc)  # never outlive the issuer
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
        names += [x509.DNSName(d) for d in (dns_name(identity.namespace, identity.app_id), *dns)]
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(issuer.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - skew)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(names), critical=True)  # empty subject: critical
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signs_certificates=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .sign(
                self.issuer_key,
                None if isinstance(self.issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256(),
            )
        )
        return SignedChain(leaf, self.issuer_chain)

    def sign_csr(self, csr_pem: bytes, identity: SpiffeId, **kwargs: object) -> SignedChain:
        """Signs the public key of a PEM CSR whose signature checks; ValueError otherwise."""
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise ValueError("invalid signature")
        key = csr.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
            raise ValueError("unsupported public key type")
        return self.sign(key, identity, **kwargs)  # type: ignore[arg-type]


def _ca_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DEFAULT_CLOCK_SKEW)
        .not_valid_after(now + CA_TTL)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Digital signature for every certificate; certificate and CRL signing for the CA's."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _read_certs(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise CAError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CAError(f"{path}: not PEM certificates: {exc}") from None
    return certs


def _chains_to(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]) -> bool:
    """Whether each certificate of ``chain`` is signed by the next, and the last by an anchor."""
    for child, parent in itertools.pairwise(chain):
        if not _signed_by(child, parent):
            return False
    last = chain[-1]
    return any(last == a or _signed_by(last, a) for a in anchors)


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
