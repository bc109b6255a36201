"""The sidecar's mTLS: its identity and what each transport makes of it.

With mTLS on, every hop between pydapr processes is TLS with certificates on both sides: sidecar to
sidecar (invocation and actor calls on the internal HTTP port, gRPC proxying on the internal gRPC
port) and sidecar to the control plane (placement, scheduler). Each side checks the other's
certificate against the trust anchors; a client also checks it reached whom it meant (the server's
certificate must carry ``spiffe.dns_name`` of that app), and a server knows its caller by the SPIFFE
id of the client certificate (access control uses that, never a header).

With mTLS off, ``Mtls`` is not made and every hop is plain, as daprd without ``--enable-mtls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# Neither spiffe nor grpc_tls imports cryptography at the top, and identity (which does) is only an
# annotation here: a sidecar without mTLS never loads cryptography. grpc_tls and grpcio are imported
# where a channel or server credentials are made: a sidecar that opens no gRPC channel (no mTLS, no
# placement or scheduler, no gRPC app) never loads grpcio.
from .spiffe import dns_name

if TYPE_CHECKING:
    import grpc

    from .identity import Svid, WorkloadIdentity

CHANNEL_RETIRE_AFTER = 60.0  # seconds an old channel may finish its calls after a rotation

ChannelFactory = Callable[[str], "grpc.aio.Channel"]


def plain_channel(address: str) -> grpc.aio.Channel:
    import grpc

    return grpc.aio.insecure_channel(address)


class Mtls:
    def __init__(self, identity: WorkloadIdentity, control_plane_namespace: str) -> None:
        self.identity = identity
        self.control_plane_namespace = control_plane_namespace
        self._server_ssl: ssl.SSLContext | None = None
        self._client_ssl: ssl.SSLContext | None = None

    @property
    def server_ssl(self) -> ssl.SSLContext:
        if self._server_ssl is None:
            self._server_ssl = self.identity.server_context()
        return self._server_ssl

    @property
    def client_ssl(self) -> ssl.SSLContext:
        if self._client_ssl is None:
            self._client_ssl = self.identity.client_context()
        return self._client_ssl

    @staticmethod
    def peer_hostname(namespace: str, app_id: str) -> str:
        return dns_name(namespace, app_id)

    def grpc_server_credentials(self) -> grpc.ServerCredentials:
        from . import grpc_tls

        return grpc_tls.server_credentials(self.identity)

    def peer_channel(self, address: str, namespace: str, app_id: str) -> grpc.aio.Channel:
        """A channel to another sidecar's internal gRPC port, with the current certificate."""
        import grpc

        from . import grpc_tls

        return grpc.aio.secure_channel(
            address,
            grpc_tls.channel_credentials(self.identity.current),
            grpc_tls.channel_options(dns_name(namespace, app_id)),
        )

    def control_plane_channels(self, service_app_id: str) -> ChannelFactory:
        """Channels to a control-plane service (``dapr-placement``, ``dapr-scheduler``), each made
        with the certificate current when it is made."""
        import grpc

        from . import grpc_tls

        options = grpc_tls.channel_options(dns_name(self.control_plane_namespace, service_app_id))

        def open_channel(address: str) -> grpc.aio.Channel:
            return grpc.aio.secure_channel(
                address, grpc_tls.channel_credentials(self.identity.current), options
            )

        return open_channel

    def on_rotate(self, listener: Callable[[Svid], None]) -> None:
        self.identity.on_rotate(listener)


def retire(channels: list[Any], after: float = CHANNEL_RETIRE_AFTER) -> None:
    """Closes ``channels`` once calls still running on them have had ``after`` seconds to finish."""

    async def close_later() -> None:
        await asyncio.sleep(after)
        for channel in channels:
            with contextlib.suppress(Exception):
                await channel.close()

    task = asyncio.get_running_loop().create_task(close_later(), name="retire-channels")
    _retiring.add(task)
    task.add_done_callback(_retiring.discard)


_retiring: set[asyncio.Task[None]] = set()
