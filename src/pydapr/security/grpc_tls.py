"""gRPC with a workload identity: server credentials that follow rotation, channel credentials, and
the verified caller of a call.

A server's credentials are dynamic: gRPC asks for the certificate at each new handshake, and gets
the identity's current one. A channel's credentials are fixed when it is made, so channel owners
make new channels on rotation (``WorkloadIdentity.on_rotate``) and let the old ones finish.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from .spiffe import SpiffeId, from_pem

if TYPE_CHECKING:
    from .identity import Svid, WorkloadIdentity


def server_credentials(
    identity: WorkloadIdentity, *, require_client_auth: bool = True
) -> grpc.ServerCredentials:
    served: list[Svid] = [identity.current]

    def config(svid: Svid) -> Any:
        return grpc.ssl_server_certificate_configuration(
            [(svid.key_pem, svid.chain_pem)], root_certificates=svid.trust_anchors_pem
        )

    def fetch() -> Any:
        # Called by gRPC on each handshake; None keeps the configuration it has.
        svid = identity.current
        if svid is served[0]:
            return None
        served[0] = svid
        return config(svid)

    return grpc.dynamic_ssl_server_credentials(
        config(served[0]), fetch, require_client_authentication=require_client_auth
    )


def channel_credentials(svid: Svid) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=svid.trust_anchors_pem, private_key=svid.key_pem, certificate_chain=svid.chain_pem
    )


def anchors_only_credentials(trust_anchors_pem: bytes) -> grpc.ChannelCredentials:
    """A client without a certificate of its own (asking Sentry for its first one)."""
    return grpc.ssl_channel_credentials(root_certificates=trust_anchors_pem)


def channel_options(server_dns_name: str) -> list[tuple[str, Any]]:
    """The server must present a certificate for this name (``spiffe.dns_name`` of its app)."""
    return [("grpc.ssl_target_name_override", server_dns_name), ("grpc.default_authority", server_dns_name)]


def caller(context: grpc.aio.ServicerContext[Any, Any]) -> SpiffeId | None:
    """The SPIFFE id of the verified client certificate of this call, None without one."""
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or []
    return from_pem(pems[0]) if pems else None
