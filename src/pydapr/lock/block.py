"""The distributed lock building block inside the sidecar: its API over the loaded lock stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydapr.lock.api import LockAPI, LockEntry, key_prefix
from pydapr.lock.contract import LockStore
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime


class LockBlock(BuildingBlock):
    name = "lock"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        stores: dict[str, LockEntry] = {}
        for name, loaded in runtime.components.by_family("lock").items():
            if isinstance(loaded.instance, LockStore):
                prefix = key_prefix(loaded.metadata.get("keyPrefix"), name, runtime.app_id)
                stores[name] = LockEntry(loaded.instance, prefix)
        self.api = LockAPI(stores)

    def register_http(self, router: Router) -> None:
        from pydapr.api.http import lock

        lock.register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.lock import LockGrpc

        return LockGrpc(self.api)
