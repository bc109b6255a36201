"""The conversation building block inside the sidecar: its API over the loaded conversation components.

The API, its request model and the proto mapping are imported on the first conversation call
(~11 ms of startup CPU otherwise, for a block most sidecars have no component of).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.conversation.api import ConversationAPI
    from pydapr.sidecar.runtime import Runtime


class ConversationBlock(BuildingBlock):
    name = "conversation"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self._api: ConversationAPI | None = None

    def api(self) -> ConversationAPI:
        if self._api is None:
            from pydapr.conversation.api import ConversationAPI
            from pydapr.conversation.contract import ConversationModel

            models: dict[str, ConversationModel] = {}
            for name, loaded in self.runtime.components.by_family("conversation").items():
                if isinstance(loaded.instance, ConversationModel):
                    models[name] = loaded.instance
            self._api = ConversationAPI(models)
        return self._api

    def register_http(self, router: Router) -> None:
        from pydapr.api.http import conversation

        conversation.register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.conversation_service import ConversationGrpc

        return ConversationGrpc(self.api)
