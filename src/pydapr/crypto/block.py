"""The cryptography building block inside the sidecar: its API over the loaded crypto providers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydapr.crypto.api import CryptoAPI
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.crypto.contract import SubtleCrypto
    from pydapr.sidecar.runtime import Runtime


class CryptoBlock(BuildingBlock):
    name = "crypto"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        loaded_providers = runtime.components.by_family("crypto")
        providers: dict[str, SubtleCrypto] = {}
        if loaded_providers:
            # Only with a crypto component: the contract imports cryptography, which the component
            # has loaded already; without one the sidecar never does.
            from pydapr.crypto.contract import SubtleCrypto

            providers = {
                name: loaded.instance
                for name, loaded in loaded_providers.items()
                if isinstance(loaded.instance, SubtleCrypto)
            }
        self.api = CryptoAPI(providers)

    def register_http(self, router: Router) -> None:
        from pydapr.api.http.crypto import register

        register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.crypto import CryptoGrpc

        return CryptoGrpc(self.api)
