"""The secrets building block inside the sidecar: its API over the loaded secret stores and scopes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydapr.secrets.api import SecretsAPI
from pydapr.secrets.contract import SecretStore
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime


class SecretsBlock(BuildingBlock):
    name = "secrets"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        stores = {
            name: loaded.instance
            for name, loaded in runtime.components.by_family("secretstores").items()
            if isinstance(loaded.instance, SecretStore)
        }
        config = runtime.configuration
        self.api = SecretsAPI(stores, config.secret_scopes if config is not None else {})

    def register_http(self, router: Router) -> None:
        from pydapr.api.http import secrets

        secrets.register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.secrets import SecretsGrpc

        return SecretsGrpc(self.api)
