"""Asking Sentry for a certificate: the sidecar's (and a standalone placement's or scheduler's) side.

The channel trusts only the trust anchors the workload was given (``DAPR_TRUST_ANCHORS``), and the
server must be Sentry of the control plane (its certificate's name for ``dapr-sentry`` in the
control plane's namespace).
"""

from __future__ import annotations

import grpc

from pydapr.security.grpc_tls import anchors_only_credentials, channel_options
from pydapr.security.identity import IdentityError, Signer
from pydapr.security.spiffe import SENTRY_APP_ID, SpiffeId, dns_name

from ._proto import sentry_pb2 as pb
from ._proto import sentry_pb2_grpc as pb_grpc

REQUEST_TIMEOUT = 5.0


def sentry_signer(
    address: str, trust_anchors_pem: bytes, control_plane_namespace: str, token: str = ""
) -> Signer:
    async def sign(identity: SpiffeId, csr_pem: bytes) -> tuple[bytes, bytes]:
        options = channel_options(dns_name(control_plane_namespace, SENTRY_APP_ID))
        async with grpc.aio.secure_channel(
            address, anchors_only_credentials(trust_anchors_pem), options
        ) as channel:
            stub = pb_grpc.CAStub(channel)  # type: ignore[no-untyped-call]
            try:
                resp = await stub.SignCertificate(
                    pb.SignCertificateRequest(
                        id=identity.app_id,
                        namespace=identity.namespace,
                        trust_domain=identity.trust_domain,
                        certificate_signing_request=csr_pem,
                        token=token,
                        token_validator=pb.SignCertificateRequest.TokenValidator.INSECURE,
                    ),
                    timeout=REQUEST_TIMEOUT,
                    wait_for_ready=False,
                )
            except grpc.aio.AioRpcError as exc:
                unreachable = exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                raise IdentityError(
                    f"Sentry at {address} did not sign a certificate for {identity}: "
                    f"{exc.code().name}: {exc.details()}",
                    reason="sentry_conn" if unreachable else "sign",
                ) from None
        return bytes(resp.workload_certificate), b"".join(resp.trust_chain_certificates)

    return sign
