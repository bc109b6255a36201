"""The configuration building block inside the sidecar, and delivery of updates to an HTTP app.

An HTTP subscription's updates are sent to the app as a ``POST`` invocation of
``configuration/{store}/{key}`` through the app channel (HTTP apps get the request, gRPC apps an
``OnInvoke``), with the update event ``{"id", "items"}`` as body, one call per key, as Dapr does.
Each subscription has its own queue and sender, so a slow app delays only its own updates and they
stay in order. A failed delivery is retried a few times with backoff, then logged and dropped
(Dapr logs and drops at once unless a resiliency policy says otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

import msgspec

from pydapr.configuration.api import ConfigurationAPI
from pydapr.configuration.contract import ConfigurationItem, ConfigurationStore
from pydapr.http.messages import Headers
from pydapr.sidecar.block import BuildingBlock

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime

log = logging.getLogger("pydapr.configuration")

DELIVERY_ATTEMPTS = 3


def update_body(sub_id: str, items: dict[str, ConfigurationItem]) -> bytes:
    return msgspec.json.encode({"id": sub_id, "items": {k: v.to_json() for k, v in items.items()}})


class ConfigurationBlock(BuildingBlock):
    name = "configuration"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.channel = runtime.app_channel
        stores = {
            name: loaded.instance
            for name, loaded in runtime.components.by_family("configuration").items()
            if isinstance(loaded.instance, ConfigurationStore)
        }
        self.api = ConfigurationAPI(stores)
        self._senders: dict[str, asyncio.Task[None]] = {}

    def register_http(self, router: Router) -> None:
        from pydapr.api.http import configuration

        configuration.register(router, self.api, self)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.configuration import ConfigurationGrpc

        return ConfigurationGrpc(self.api)

    @property
    def app_reachable(self) -> bool:
        return bool(self.channel.configured)

    async def subscribe_app(self, store_name: str, keys: list[str], metadata: dict[str, str]) -> str:
        """An HTTP-API subscription: updates go to the app."""
        queue: asyncio.Queue[tuple[str, dict[str, ConfigurationItem]]] = asyncio.Queue()

        async def handler(sub_id: str, items: dict[str, ConfigurationItem]) -> None:
            queue.put_nowait((sub_id, items))

        sub_id = await self.api.subscribe(store_name, keys, metadata, handler)
        task = asyncio.create_task(self._send(store_name, queue))
        self._senders[sub_id] = task
        return sub_id

    async def unsubscribe_app(self, store_name: str, sub_id: str) -> None:
        try:
            await self.api.unsubscribe(store_name, sub_id)
        finally:
            task = self._senders.pop(sub_id, None)
            if task is not None:
                task.cancel()

    async def _send(
        self, store_name: str, queue: asyncio.Queue[tuple[str, dict[str, ConfigurationItem]]]
    ) -> None:
        channel = self.channel
        while True:
            sub_id, items = await queue.get()
            body = update_body(sub_id, items)
            for key in items:
                method = f"configuration/{quote(store_name, safe='')}/{quote(key, safe='')}"
                for attempt in range(DELIVERY_ATTEMPTS):
                    try:
                        headers = Headers.from_lowercase([("content-type", "application/json")])
                        async with asyncio.timeout(30.0):
                            resp = await channel.invoke(method, "POST", "", headers, body)
                        if resp.status == 200:
                            break
                        problem = f"status {resp.status}"
                    except Exception as exc:
                        problem = str(exc) or type(exc).__name__
                    if attempt == DELIVERY_ATTEMPTS - 1:
                        log.error("error sending configuration item %s to the app: %s", key, problem)
                    else:
                        await asyncio.sleep(0.2 * 2**attempt)

    async def stop(self) -> None:
        await self.api.close()
        for task in self._senders.values():
            task.cancel()
        for task in self._senders.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._senders.clear()
