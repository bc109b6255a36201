"""Sentry's SignCertificate over a real gRPC server: what it signs, and Dapr's errors for bad requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import grpc
import pytest
from cryptography import x509

from pydapr.security.ca import CertificateAuthority, make_csr, new_key
from pydapr.security.grpc_tls import anchors_only_credentials, channel_options
from pydapr.security.identity import WorkloadIdentity
from pydapr.security.spiffe import SENTRY_APP_ID, SpiffeId, dns_name, from_certificate
from pydapr.sentry._proto import sentry_pb2 as pb
from pydapr.sentry._proto import sentry_pb2_grpc as pb_grpc
from pydapr.sentry.server import SentryService, start_server

SENTRY = SpiffeId("localhost", "default", SENTRY_APP_ID)
Validator = pb.SignCertificateRequest.TokenValidator
BROKEN_CSR = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"


@pytest.fixture
async def sentry() -> AsyncIterator[tuple[pb_grpc.CAStub, CertificateAuthority]]:
    ca = CertificateAuthority.generate("localhost", SENTRY)
    own = WorkloadIdentity.from_ca(SENTRY, ca, dt.timedelta(hours=1), dt.timedelta(seconds=5))
    await own.start()
    service = SentryService(ca, workload_ttl=dt.timedelta(minutes=10), clock_skew=dt.timedelta(seconds=5))
    server, port = await start_server(service, own, "127.0.0.1", 0)
    channel = grpc.aio.secure_channel(
        f"127.0.0.1:{port}",
        anchors_only_credentials(ca.trust_anchors_pem),
        channel_options(dns_name("default", SENTRY_APP_ID)),
    )
    try:
        yield pb_grpc.CAStub(channel), ca  # type: ignore[no-untyped-call]
    finally:
        await channel.close()
        await server.stop(0)
        await own.stop()


def request(**fields: object) -> pb.SignCertificateRequest:
    base: dict[str, object] = {
        "id": "orders",
        "namespace": "default",
        "trust_domain": "public",
        "certificate_signing_request": make_csr(new_key(), SpiffeId("public", "default", "orders")),
        "token_validator": Validator.INSECURE,
    }
    base.update(fields)
    return pb.SignCertificateRequest(**base)  # type: ignore[arg-type]


async def test_signs_an_svid_for_the_requested_id(
    sentry: tuple[pb_grpc.CAStub, CertificateAuthority],
) -> None:
    stub, ca = sentry
    resp = await stub.SignCertificate(request(), timeout=5)
    chain = x509.load_pem_x509_certificates(resp.workload_certificate)
    assert from_certificate(chain[0]) == SpiffeId("public", "default", "orders")
    assert b"".join(resp.trust_chain_certificates) == ca.trust_anchors_pem
    assert resp.valid_until.ToDatetime(dt.UTC) == chain[0].not_valid_after_utc
    # No trust domain: Dapr's "public"; UNKNOWN validator: the self-hosted default (insecure).
    resp = await stub.SignCertificate(request(trust_domain="", token_validator=Validator.UNKNOWN), timeout=5)
    leaf = x509.load_pem_x509_certificates(resp.workload_certificate)[0]
    assert from_certificate(leaf) == SpiffeId("public", "default", "orders")


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"id": ""}, grpc.StatusCode.PERMISSION_DENIED, "invalid request: app ID is required"),
        ({"id": "a" * 65}, grpc.StatusCode.PERMISSION_DENIED, "app ID must be 64 characters or less"),
        ({"id": "a/b"}, grpc.StatusCode.PERMISSION_DENIED, "invalid app ID"),
        ({"namespace": ""}, grpc.StatusCode.PERMISSION_DENIED, "namespace is required"),
        ({"certificate_signing_request": b""}, grpc.StatusCode.PERMISSION_DENIED, "CSR is required"),
        (
            {"certificate_signing_request": b"not pem"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid certificate signing request",
        ),
        (
            {"certificate_signing_request": BROKEN_CSR},
            grpc.StatusCode.INVALID_ARGUMENT,
            "failed to parse certificate signing request",
        ),
        (
            {"token_validator": Validator.KUBERNETES},
            grpc.StatusCode.INVALID_ARGUMENT,
            "the requested validator is not enabled",
        ),
    ],
)
async def test_bad_requests_get_daprs_errors(
    sentry: tuple[pb_grpc.CAStub, CertificateAuthority],
    fields: dict[str, object],
    code: grpc.StatusCode,
    message: str,
) -> None:
    stub, _ = sentry
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.SignCertificate(request(**fields), timeout=5)
    assert info.value.code() == code
    assert message in (info.value.details() or "")
    assert (await stub.SignCertificate(request(), timeout=5)).workload_certificate  # still serving
