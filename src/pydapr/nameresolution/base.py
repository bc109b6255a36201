"""The name resolver contract and the factory that picks one from the configuration."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec


class Address(msgspec.Struct, frozen=True):
    """Where one instance of an app's sidecar listens."""

    host: str
    internal_port: int  # sidecar-to-sidecar invocation and actor calls (HTTP)
    grpc_port: int  # public gRPC API
    http_port: int = 0
    internal_grpc_port: int = 0  # gRPC proxying between sidecars


class Registration(msgspec.Struct, frozen=True):
    app_id: str
    namespace: str
    address: Address
    pid: int


class ResolveError(LookupError):
    """No instance of the app could be found."""


class NameResolver(Protocol):
    async def register(self, registration: Registration) -> None: ...

    async def unregister(self) -> None: ...

    async def resolve(self, app_id: str, namespace: str) -> Address: ...

    def forget(self, app_id: str, namespace: str, address: Address) -> None:
        """Drop an address that failed so the next resolve picks another instance."""


def create_resolver(component: str | None, configuration: dict[str, Any]) -> NameResolver:
    """Map Dapr's ``nameResolution.component`` to a resolver; unknown names are a startup error."""
    name = (component or "local").lower()
    if name in ("local", "mdns", "sqlite"):
        # mDNS and SQLite are how Dapr finds sidecars on one machine; the local registry does the
        # same job with no multicast and no database, so existing configurations keep working.
        from pydapr.nameresolution.local import LocalRegistry

        return LocalRegistry(configuration)
    if name == "kubernetes":
        from pydapr.nameresolution.kubernetes import KubernetesDNS

        return KubernetesDNS(configuration)
    raise ValueError(
        f"nameResolution.component {component!r} is not supported "
        "(supported: mdns, sqlite, local, kubernetes)"
    )
