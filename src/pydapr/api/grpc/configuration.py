"""``GetConfiguration``, streaming ``SubscribeConfiguration``, ``UnsubscribeConfiguration`` (and their
Alpha1 aliases) over ``ConfigurationAPI``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydapr.api.grpc.wire import common, runtime
from pydapr.configuration.api import ConfigurationAPI
from pydapr.configuration.contract import ConfigurationItem
from pydapr.errors import DaprError


def _items(items: dict[str, ConfigurationItem]) -> dict[str, Any]:
    return {
        k: common.ConfigurationItem(value=v.value, version=v.version, metadata=v.metadata)
        for k, v in items.items()
    }


class ConfigurationGrpc:
    def __init__(self, api: ConfigurationAPI) -> None:
        self.api = api

    async def GetConfiguration(self, request: Any, context: Any) -> Any:
        items = await self.api.get(request.store_name, list(request.keys), dict(request.metadata))
        return runtime.GetConfigurationResponse(items=_items(items))

    async def GetConfigurationAlpha1(self, request: Any, context: Any) -> Any:
        return await self.GetConfiguration(request, context)

    async def SubscribeConfiguration(self, request: Any, context: Any) -> AsyncIterator[Any]:
        # When the client goes away grpc cancels this generator; the API's finally unsubscribes.
        async for sub_id, items in self.api.stream(
            request.store_name, list(request.keys), dict(request.metadata)
        ):
            yield runtime.SubscribeConfigurationResponse(id=sub_id, items=_items(items))

    async def SubscribeConfigurationAlpha1(self, request: Any, context: Any) -> AsyncIterator[Any]:
        async for response in self.SubscribeConfiguration(request, context):
            yield response

    async def UnsubscribeConfiguration(self, request: Any, context: Any) -> Any:
        try:
            await self.api.unsubscribe(request.store_name, request.id)
        except DaprError as err:
            if err.code != "ERR_CONFIGURATION_UNSUBSCRIBE":
                raise
            return runtime.UnsubscribeConfigurationResponse(ok=False, message=err.message)
        return runtime.UnsubscribeConfigurationResponse(ok=True)

    async def UnsubscribeConfigurationAlpha1(self, request: Any, context: Any) -> Any:
        return await self.UnsubscribeConfiguration(request, context)
