"""The sidecar's internal listeners, which other sidecars call, and its channels to them.

- The internal HTTP port: service invocation from other sidecars, and actor calls under the
  reserved prefix ``pydapr.actors.peers.PREFIX``.
- The internal gRPC port: gRPC proxying. A call proxied to this app arrives here and goes to the
  app's gRPC server; the caller's sidecar sends it here, not to the public gRPC port, so the API
  token (a credential of the public API) is neither needed nor forwarded.

With mTLS both listen with TLS and require a client certificate from the trust anchors: the caller
is the SPIFFE id of that certificate, and access control decides on it. Without mTLS they listen on
loopback unless ``--dapr-internal-grpc-listen-address`` says otherwise.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from pydapr import rpc
from pydapr.api.grpc.proxy import ProxyHandler
from pydapr.http.server import HttpServer
from pydapr.security.spiffe import from_peercert

if TYPE_CHECKING:
    import grpc

    from pydapr.nameresolution import Address
    from pydapr.security.acl import AccessControl
    from pydapr.security.mtls import Mtls
    from pydapr.sidecar.block import BuildingBlock
    from pydapr.sidecar.runtime import Runtime

_GRPC_OPTIONS = [("grpc.so_reuseport", 0)]


class InternalListeners:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.http: HttpServer | None = None
        self.grpc: Any = None  # grpc.aio.Server or pydapr.grpc_native's, which answers the same
        self.http_port = 0
        self.grpc_port = 0

    async def start(self, host: str, invoke: BuildingBlock, actors: BuildingBlock | None) -> None:
        """Raises OSError naming the port that could not be bound."""
        opts, mtls = self.runtime.options, self.runtime.mtls
        self.http = await HttpServer.start(
            _http_handler(invoke, actors),
            host=host,
            port=opts.dapr_internal_grpc_port or 0,
            max_body_size=opts.max_body_size,
            ssl=mtls.server_ssl if mtls is not None else None,
            identify=from_peercert if mtls is not None else None,
            peers=True,
        )
        self.http_port = self.http.port
        server = _proxy_server(
            [
                *_GRPC_OPTIONS,
                ("grpc.max_receive_message_length", opts.max_body_size),
                ("grpc.max_send_message_length", opts.max_body_size),
            ],
            tls=mtls is not None,
        )
        server.add_generic_rpc_handlers(
            [
                ProxyHandler(
                    self._to_own_app,
                    _authorizer(mtls, self.runtime.proxy_access_control),
                    inbound=self.runtime.pipeline,
                )
            ]
        )
        address = f"{host}:{opts.dapr_internal_proxy_port or 0}"
        try:
            if mtls is not None:
                bound = server.add_secure_port(address, mtls.grpc_server_credentials())
            else:
                bound = server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise OSError(
                f"cannot listen on {address} for gRPC proxying: the address is in use or not this host's"
            )
        await server.start()
        self.grpc, self.grpc_port = server, bound

    async def _to_own_app(self, app_id: str) -> tuple[grpc.aio.Channel, tuple[tuple[str, str], ...]]:
        runtime = self.runtime
        target, _, namespace = app_id.partition(".")
        if target != runtime.app_id or (namespace and namespace != runtime.namespace):
            raise LookupError(f"this sidecar serves {runtime.app_id}, not {app_id}")
        return runtime.app_channel.grpc_proxy()

    async def stop(self, grace: float) -> None:
        waits: list[Any] = []
        if self.http is not None:
            waits.append(self.http.shutdown(grace))
        if self.grpc is not None:
            waits.append(self.grpc.stop(grace))
        for wait in waits:
            with contextlib.suppress(Exception):
                await wait


def _proxy_server(options: list[tuple[str, Any]], *, tls: bool) -> Any:
    """The internal gRPC port's server: the one the public gRPC API runs on (``PYDAPR_GRPC_SERVER``,
    pydapr's native server by default), except with mTLS, which only grpcio's serves. Without a
    grpcio server started, a sidecar has none of grpcio's server threads and completion queues."""
    from pydapr.api.grpc.server import new_server

    return rpc.grpcio_server(options) if tls else new_server(options)


def _http_handler(invoke: BuildingBlock, actors: BuildingBlock | None) -> Any:
    """Actor calls under their reserved prefix, everything else is service invocation."""
    deliver = invoke.handle_internal  # type: ignore[attr-defined]
    if actors is None:
        return deliver
    from pydapr.actors.peers import PREFIX

    actor_call = actors.handle_internal  # type: ignore[attr-defined]

    async def handle(req: Any) -> Any:
        if req.path.startswith(PREFIX):
            return await actor_call(req)
        return await deliver(req)

    return handle


def _authorizer(mtls: Mtls | None, acl: AccessControl | None) -> Any:
    """Access control on proxied gRPC calls, as daprd's proxy applies it (the full method name as
    the operation, no verb)."""
    if mtls is None and acl is None:
        return None
    if mtls is not None:
        from pydapr.security import grpc_tls

    def authorize(method: str, context: Any) -> tuple[rpc.StatusCode, str] | None:
        caller = grpc_tls.caller(context) if mtls is not None else None
        if mtls is not None and caller is None:
            return rpc.StatusCode.UNAUTHENTICATED, "the client certificate carries no SPIFFE id"
        if acl is None:
            return None
        denial = acl.denial(caller, method, None)
        return (rpc.StatusCode.PERMISSION_DENIED, denial) if denial is not None else None

    return authorize


class PeerChannels:
    """One gRPC channel per peer sidecar's internal gRPC port, reused across proxied calls; with
    mTLS each checks it reached the app it was made for, and all are made anew on rotation."""

    def __init__(self, mtls: Mtls | None, namespace: str) -> None:
        self._mtls = mtls
        self._namespace = namespace
        self._channels: dict[tuple[str, int, str, str], grpc.aio.Channel] = {}
        if mtls is not None:
            mtls.on_rotate(lambda _: self._renew())

    def get(self, address: Address, app_id: str, namespace: str) -> grpc.aio.Channel:
        key = (address.host, address.internal_grpc_port, namespace, app_id)
        channel = self._channels.get(key)
        if channel is None:
            target = f"{address.host}:{address.internal_grpc_port}"
            if self._mtls is not None:
                channel = self._mtls.peer_channel(target, namespace, app_id)
            else:
                import grpc

                channel = grpc.aio.insecure_channel(target)
            self._channels[key] = channel
        return channel

    def _renew(self) -> None:
        old, self._channels = list(self._channels.values()), {}
        if old:
            from pydapr.security.mtls import retire

            retire(old)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
