"""The shape every building block takes inside the sidecar.

A block is built from the sidecar's ``Runtime``, and takes from it, once in its constructor, the
parts it uses (the app channel, components, pipeline, resolver, app id ...) and keeps those rather
than reaching through ``self.runtime`` on every call; blocks are built after all of these exist.
It adds its routes to the HTTP router, offers a handler object for the gRPC servicer, and may start
work once the app is reachable (subscriptions, input bindings) and stop it on shutdown. Everything
a block sends to the app goes through ``pydapr.appchannel.AppChannel``, whatever the app's protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime


class BuildingBlock:
    """Base with no-op defaults; blocks override what they use."""

    name: str = ""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def register_http(self, router: Router) -> None:
        """Add this block's routes (``router.add(methods, pattern, handler)``)."""

    def grpc_handler(self) -> object | None:
        """An object whose methods are named after the Dapr RPCs this block serves."""
        return None

    def grpc_services(self) -> list[Callable[[Any], None]]:
        """Extra gRPC services (pydapr extensions) this block serves on the sidecar's gRPC port: each
        entry is called with the ``grpc.aio.Server`` before it starts (``add_XServicer_to_server``)."""
        return []

    def metadata(self) -> dict[str, Any]:
        """Entries this block contributes to GET /v1.0/metadata (merged at the top level)."""
        return {}

    async def start(self) -> None:
        """Called once the app is reachable (after GET /dapr/config)."""

    async def stop(self) -> None:
        """Called on shutdown, after the APIs stopped taking requests, before components close."""
