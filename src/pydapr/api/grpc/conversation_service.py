"""``ConverseAlpha1`` and ``ConverseAlpha2`` over the block's ``ConversationAPI``.

The proto mapping (``pydapr.api.grpc.conversation``) and the conversation model behind it are
imported by the first call, so a sidecar without conversation components never loads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydapr.api.grpc.wire import runtime

if TYPE_CHECKING:
    from pydapr.conversation.api import ConversationAPI


class ConversationGrpc:
    def __init__(self, api: Callable[[], ConversationAPI]) -> None:
        self.api = api
        if runtime.has("ConversationRequestAlpha2"):
            self.ConverseAlpha2 = self._converse_alpha2

    async def ConverseAlpha1(self, request: Any, context: Any) -> Any:
        from pydapr.api.grpc import conversation as mapping

        return mapping.alpha1_response(
            request, await self.api().converse_alpha1(mapping.alpha1_request(request))
        )

    async def _converse_alpha2(self, request: Any, context: Any) -> Any:
        from pydapr.api.grpc import conversation as mapping

        return mapping.alpha2_response(
            request, await self.api().converse_alpha2(mapping.alpha2_request(request))
        )
