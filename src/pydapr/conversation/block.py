"""The conversation building block inside the sidecar: its API over the loaded conversation components."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydapr.conversation.api import ConversationAPI
from pydapr.conversation.contract import ConversationModel
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime


class ConversationBlock(BuildingBlock):
    name = "conversation"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        models: dict[str, ConversationModel] = {}
        for name, loaded in runtime.components.by_family("conversation").items():
            if isinstance(loaded.instance, ConversationModel):
                models[name] = loaded.instance
        self.api = ConversationAPI(models)

    def register_http(self, router: Router) -> None:
        from pydapr.api.http import conversation

        conversation.register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.conversation import ConversationGrpc

        return ConversationGrpc(self.api)
