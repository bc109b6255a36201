"""Raw TLS clients for the mTLS tests: contexts with or without a client certificate, certificates
of any validity from any CA, and one request to a sidecar's internal HTTP port."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from pydapr.security.ca import CertificateAuthority, key_pem, new_key
from pydapr.security.spiffe import SpiffeId


def client_context(
    ca_pem: bytes, chain_pem: bytes | None = None, key: bytes | None = None, tmp: Path | None = None
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=ca_pem.decode())
    if chain_pem is not None and key is not None and tmp is not None:
        (tmp / "c.pem").write_bytes(chain_pem)
        (tmp / "k.pem").write_bytes(key)
        ctx.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    return ctx


def tls_get(port: int, ctx: ssl.SSLContext | None, server_name: str) -> str:
    """GET /neworder on the internal port: 'ok <status>' or the reason the connection failed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            if ctx is None:
                return exchange(raw)
            with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
                return exchange(tls)
    except ssl.SSLCertVerificationError as exc:
        return f"server refused: {exc.verify_message}"
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        return f"failed: {type(exc).__name__}"


def exchange(sock: socket.socket) -> str:
    sock.sendall(b"POST /neworder HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
    data = sock.recv(4096)
    return "ok " + data.split(b" ", 2)[1].decode() if data else "closed"


def signed_client_cert(
    ca: CertificateAuthority, who: SpiffeId | None, *, not_after: dt.datetime
) -> tuple[bytes, bytes]:
    """A client certificate from ``ca`` (any validity; no SPIFFE id when ``who`` is None)."""
    key = new_key()
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName("client.example")]
    if who is not None:
        names.append(x509.UniformResourceIdentifier(who.uri))
    issuer = ca.issuer_chain[0]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=2))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca.issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in ca.issuer_chain
    )
    return chain, key_pem(key)
