"""The state building block inside the sidecar: one ``StateAPI`` over the loaded state stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydapr.components.base import ComponentConfigError
from pydapr.sidecar.block import BuildingBlock
from pydapr.state.api import StateAPI, StoreEntry
from pydapr.state.contract import StateStore

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime


class StateBlock(BuildingBlock):
    name = "state"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        from pydapr.sidecar.runtime import StartupError

        entries: dict[str, StoreEntry] = {}
        for name, loaded in runtime.components.by_family("state").items():
            store = loaded.instance
            if not isinstance(store, StateStore):
                raise StartupError(f"{loaded.spec.source}: Component {name!r} is not a state store")
            try:
                entries[name] = StoreEntry.from_metadata(store, loaded.metadata)
            except ComponentConfigError as exc:
                raise StartupError(f"{loaded.spec.source}: Component {name!r}: {exc}") from None
        try:
            self.api = StateAPI(entries)
        except ValueError as exc:
            raise StartupError(str(exc)) from None

    def register_http(self, router: Router) -> None:
        from pydapr.api.http import state as http_state

        http_state.register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.state import StateGrpc

        return StateGrpc(self.api)

    def grpc_services(self) -> list[Callable[[Any], None]]:
        from pydapr.api.grpc.state import StateExtensionsGrpc

        return [StateExtensionsGrpc(self.api).add_to_server]

    def metadata(self) -> dict[str, Any]:
        return {}
