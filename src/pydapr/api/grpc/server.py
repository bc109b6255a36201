"""Starts the public gRPC API server: the composed Dapr servicer plus the gRPC proxy."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydapr import rpc
from pydapr.api.grpc.compose import compose_servicer
from pydapr.api.grpc.proxy import ChannelFor, ProxyHandler
from pydapr.api.grpc.wire import DAPR_SERVICE

if TYPE_CHECKING:
    import grpc

# Which server serves the public API: "native", pydapr's own HTTP/2 server (pydapr.grpc_native,
# docs/grpc-server.md), the default; "grpcio", grpcio's grpc.aio server.
SERVER_ENV = "PYDAPR_GRPC_SERVER"
SERVERS = ("native", "grpcio")

log = logging.getLogger("pydapr.api.grpc")


def server_choice() -> str:
    """``PYDAPR_GRPC_SERVER``'s server, ``native`` when unset; ValueError for any other value,
    raised before anything binds, so the sidecar's startup stops with that one line."""
    choice = os.environ.get(SERVER_ENV) or "native"
    if choice not in SERVERS:
        raise ValueError(f"{SERVER_ENV}={choice!r} is not a gRPC server pydapr has: use native or grpcio")
    return choice


def new_server(
    options: list[tuple[str, Any]], interceptors: Sequence[rpc.ServerInterceptor] = ()
) -> Any:
    """An unstarted server of ``server_choice()``: grpc.aio's or pydapr.grpc_native's, which
    answers the same."""
    if server_choice() == "native":
        from pydapr import grpc_native

        return grpc_native.server(interceptors=list(interceptors), options=options)
    return rpc.grpcio_server(options, interceptors)


async def start_grpc_server(
    handlers: list[object],
    *,
    extra_services: Sequence[Callable[[grpc.aio.Server], None]] = (),
    host: str,
    port: int,
    channel_for: ChannelFor,
    interceptors: Sequence[rpc.ServerInterceptor] = (),
    max_message_size: int,
    unix_path: str | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Binds and starts the server; raises OSError naming the address when it cannot bind."""
    options = [
        ("grpc.max_receive_message_length", max_message_size),
        ("grpc.max_send_message_length", max_message_size),
        ("grpc.so_reuseport", 0),
    ]
    server = new_server(options, interceptors)
    if server_choice() == "native":
        log.debug("gRPC API served by pydapr's native HTTP/2 server")
    else:
        log.info("gRPC API served by grpcio's server (%s=grpcio)", SERVER_ENV)
    server.add_generic_rpc_handlers([rpc.servicer_handler(DAPR_SERVICE, compose_servicer(handlers))])
    for add_service in extra_services:
        add_service(server)
    # Registered last: it only serves methods no service above claims.
    server.add_generic_rpc_handlers([ProxyHandler(channel_for)])
    address = f"unix:{unix_path}" if unix_path else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not unix_path and bound == 0:
        # grpc reports a failed bind only as port 0; the usual cause is a port in use.
        raise OSError(errno.EADDRINUSE, f"address {address} already in use or not available")
    await server.start()
    return server, bound
