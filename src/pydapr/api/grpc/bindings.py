"""``InvokeBinding`` over ``BindingsAPI``."""

from __future__ import annotations

from typing import Any

from pydapr.api.grpc.wire import as_dict, runtime
from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.contract import InvokeRequest


class BindingsGrpc:
    def __init__(self, api: BindingsAPI) -> None:
        self.api = api

    async def InvokeBinding(self, request: Any, context: Any) -> Any:
        result = await self.api.invoke(
            request.name, InvokeRequest(request.operation, bytes(request.data), as_dict(request.metadata))
        )
        return runtime.InvokeBindingResponse(data=result.data or b"", metadata=result.metadata)
