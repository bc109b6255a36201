"""The gRPC server every control-plane service (scheduler, placement, sentry) listens with.

One set of options and one bind check, so the services cannot drift apart: keepalive settings the
sidecars' long-lived streams rely on, and SO_REUSEPORT off, because grpc enables it by default and
then a second replica "binds" a port that is in use and silently shares its connections. With
``credentials`` (mTLS: makes ``pydapr.security.grpc_tls.server_credentials``) the port speaks TLS
only; each bind attempt gets new credentials, as gRPC cannot use one object again after a failed bind.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.so_reuseport", 0),
]


async def serve(
    add_servicer: Callable[[grpc.aio.Server], None],
    host: str,
    port: int,
    *,
    any_port_if_taken: bool = False,
    credentials: Callable[[], grpc.ServerCredentials] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Starts a server with ``add_servicer``'s service on ``host:port`` and returns it with the bound
    port; raises OSError when it cannot bind (unless ``any_port_if_taken``: then a free port)."""
    server = grpc.aio.server(options=OPTIONS)
    add_servicer(server)
    bound = _bind(server, host, port, credentials)
    if bound == 0 and port != 0 and any_port_if_taken:
        bound = _bind(server, host, 0, credentials)
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}: the address is in use or not this host's")
    await server.start()
    return server, bound


def _bind(
    server: grpc.aio.Server, host: str, port: int, credentials: Callable[[], grpc.ServerCredentials] | None
) -> int:
    try:
        if credentials is not None:
            return int(server.add_secure_port(f"{host}:{port}", credentials()))
        return int(server.add_insecure_port(f"{host}:{port}"))
    except RuntimeError:  # grpc >= 1.5x raises where older versions returned 0
        return 0
