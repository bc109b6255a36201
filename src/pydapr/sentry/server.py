"""Sentry's gRPC service: ``SignCertificate`` as Dapr's self-hosted Sentry answers it.

The request names the app id, namespace and trust domain (``public`` when empty) and carries a PEM
certificate request; the answer is the SVID chain for ``spiffe://<trust-domain>/ns/<namespace>/<id>``,
the trust anchors and the expiry. Self-hosted Sentry trusts its network, as Dapr's ``insecure``
validator does: the Kubernetes and JWKS validators are refused as not enabled. Sentry listens with
TLS (its own certificate, for ``dapr-sentry`` in the control plane's namespace) but needs no client
certificate: a sidecar asking for its first one has none.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from pydapr.grpc_serving import serve
from pydapr.security.ca import CertificateAuthority
from pydapr.security.grpc_tls import server_credentials
from pydapr.security.identity import WorkloadIdentity
from pydapr.security.spiffe import SpiffeId

from ._proto import sentry_pb2 as pb
from ._proto import sentry_pb2_grpc as pb_grpc

log = logging.getLogger("pydapr.sentry")

SENTRY_PORT = 50001  # Dapr's default Sentry port

_Validator = pb.SignCertificateRequest.TokenValidator
# What a SPIFFE path segment and a DNS label can both carry (app ids, namespaces).
_SEGMENT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$")
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]+$")


class SentryService(pb_grpc.CAServicer):
    def __init__(
        self, ca: CertificateAuthority, *, workload_ttl: dt.timedelta, clock_skew: dt.timedelta
    ) -> None:
        self.ca = ca
        self.workload_ttl = workload_ttl
        self.clock_skew = clock_skew
        self.signed = 0

    async def SignCertificate(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        problem = _invalid(request)
        if problem is not None:
            code, message = problem
            log.debug("refused a certificate request for %s/%s: %s", request.namespace, request.id, message)
            await context.abort(code, message)
        identity = SpiffeId((request.trust_domain or "public").lower(), request.namespace, request.id)
        try:
            chain = self.ca.sign_csr(
                bytes(request.certificate_signing_request),
                identity,
                ttl=self.workload_ttl,
                skew=self.clock_skew,
            )
        except ValueError as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"failed to parse certificate signing request: {exc}"
            )
        self.signed += 1
        log.info("signed a certificate for %s, valid until %s", identity, chain.not_after.isoformat())
        valid_until = timestamp_pb2.Timestamp()
        valid_until.FromDatetime(chain.not_after)
        return pb.SignCertificateResponse(
            workload_certificate=chain.pem,
            trust_chain_certificates=[self.ca.trust_anchors_pem],
            valid_until=valid_until,
        )


def _invalid(request: Any) -> tuple[grpc.StatusCode, str] | None:
    """Dapr's checks (pkg/sentry/server/server.go, validator/internal/common.go), in its order."""
    validator = request.token_validator
    if validator not in (_Validator.UNKNOWN, _Validator.INSECURE):
        return grpc.StatusCode.INVALID_ARGUMENT, "the requested validator is not enabled"
    problems = []
    if not request.id:
        problems.append("app ID is required")
    elif not _SEGMENT.match(request.id):
        problems.append(f"invalid app ID {request.id!r}: letters, digits, '-' and '_' only")
    if len(request.id) > 64:
        problems.append("app ID must be 64 characters or less")
    if not request.certificate_signing_request:
        problems.append("CSR is required")
    if not request.namespace:
        problems.append("namespace is required")
    elif not _SEGMENT.match(request.namespace):
        problems.append(f"invalid namespace {request.namespace!r}")
    if request.trust_domain and not _TRUST_DOMAIN.match(request.trust_domain.lower()):
        problems.append(f"invalid trust domain {request.trust_domain!r}")
    if problems:
        return grpc.StatusCode.PERMISSION_DENIED, "invalid request: " + "; ".join(problems)
    pem = bytes(request.certificate_signing_request)
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem and b"-----BEGIN CERTIFICATE-----" not in pem:
        return grpc.StatusCode.INVALID_ARGUMENT, "invalid certificate signing request"
    return None


async def start_server(
    service: SentryService,
    identity: WorkloadIdentity,
    host: str,
    port: int,
    *,
    any_port_if_taken: bool = False,
) -> tuple[grpc.aio.Server, int]:
    """Serves ``service`` over TLS with Sentry's own (rotating) certificate."""
    return await serve(
        lambda server: pb_grpc.add_CAServicer_to_server(service, server),  # type: ignore[no-untyped-call]
        host,
        port,
        any_port_if_taken=any_port_if_taken,
        credentials=lambda: server_credentials(identity, require_client_auth=False),
    )
