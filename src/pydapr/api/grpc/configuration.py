"""``GetConfiguration``, streaming ``SubscribeConfiguration``, ``UnsubscribeConfiguration`` (and their
Alpha1 aliases) over ``ConfigurationAPI``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import configuration_pb2

from pydapr.configuration.api import ConfigurationAPI
from pydapr.configuration.contract import ConfigurationItem
from pydapr.errors import DaprError


def _items(items: dict[str, ConfigurationItem]) -> dict[str, common_pb2.ConfigurationItem]:
    return {
        k: common_pb2.ConfigurationItem(value=v.value, version=v.version, metadata=v.metadata)
        for k, v in items.items()
    }


class ConfigurationGrpc:
    def __init__(self, api: ConfigurationAPI) -> None:
        self.api = api

    async def GetConfiguration(
        self, request: Any, context: Any
    ) -> configuration_pb2.GetConfigurationResponse:
        items = await self.api.get(request.store_name, list(request.keys), dict(request.metadata))
        return configuration_pb2.GetConfigurationResponse(items=_items(items))

    async def GetConfigurationAlpha1(
        self, request: Any, context: Any
    ) -> configuration_pb2.GetConfigurationResponse:
        return await self.GetConfiguration(request, context)

    async def SubscribeConfiguration(
        self, request: Any, context: Any
    ) -> AsyncIterator[configuration_pb2.SubscribeConfigurationResponse]:
        # When the client goes away grpc cancels this generator; the API's finally unsubscribes.
        async for sub_id, items in self.api.stream(
            request.store_name, list(request.keys), dict(request.metadata)
        ):
            yield configuration_pb2.SubscribeConfigurationResponse(id=sub_id, items=_items(items))

    async def SubscribeConfigurationAlpha1(
        self, request: Any, context: Any
    ) -> AsyncIterator[configuration_pb2.SubscribeConfigurationResponse]:
        async for response in self.SubscribeConfiguration(request, context):
            yield response

    async def UnsubscribeConfiguration(
        self, request: Any, context: Any
    ) -> configuration_pb2.UnsubscribeConfigurationResponse:
        try:
            await self.api.unsubscribe(request.store_name, request.id)
        except DaprError as err:
            if err.code != "ERR_CONFIGURATION_UNSUBSCRIBE":
                raise
            return configuration_pb2.UnsubscribeConfigurationResponse(ok=False, message=err.message)
        return configuration_pb2.UnsubscribeConfigurationResponse(ok=True)

    async def UnsubscribeConfigurationAlpha1(
        self, request: Any, context: Any
    ) -> configuration_pb2.UnsubscribeConfigurationResponse:
        return await self.UnsubscribeConfiguration(request, context)
