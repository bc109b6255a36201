"""The configuration API both transports call: get, subscribe, unsubscribe, with Dapr's errors.

Every subscription made through the API is remembered by id, so ``unsubscribe`` works from either
transport and a gRPC stream ends when its subscription is removed. ``stream`` is the gRPC form: it
yields the subscription id first (as Dapr does), then each change batch, and unsubscribes when the
consumer goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from pydapr.configuration import errors as E
from pydapr.configuration.contract import ConfigurationItem, ConfigurationStore, UpdateHandler

log = logging.getLogger("pydapr.configuration")

Update = tuple[str, dict[str, ConfigurationItem]]


@dataclass(slots=True)
class _Active:
    store_name: str
    stream: asyncio.Queue[Update | None] | None = None


class ConfigurationAPI:
    def __init__(self, stores: Mapping[str, ConfigurationStore]) -> None:
        self._stores = stores
        self._active: dict[str, _Active] = {}

    def store(self, name: str) -> ConfigurationStore:
        if not self._stores:
            raise E.NOT_CONFIGURED()
        store = self._stores.get(name)
        if store is None:
            raise E.NOT_FOUND(name)
        return store

    async def get(
        self, store_name: str, keys: list[str], metadata: dict[str, str]
    ) -> dict[str, ConfigurationItem]:
        store = self.store(store_name)
        try:
            return await store.get(keys, metadata)
        except Exception as exc:
            raise E.GET(E.go_list(keys), store_name, exc) from exc

    async def subscribe(
        self, store_name: str, keys: list[str], metadata: dict[str, str], handler: UpdateHandler
    ) -> str:
        store = self.store(store_name)
        try:
            sub_id = await store.subscribe(keys, metadata, handler)
        except Exception as exc:
            raise E.SUBSCRIBE(E.go_list(keys), store_name, exc) from exc
        self._active[sub_id] = _Active(store_name)
        return sub_id

    async def unsubscribe(self, store_name: str, sub_id: str) -> None:
        """Stops a subscription; store_name "" means whichever store holds it (gRPC's request may omit it)."""
        if store_name:
            self.store(store_name)
        active = self._active.get(sub_id)
        if active is None or (store_name and active.store_name != store_name):
            raise E.UNSUBSCRIBE(sub_id, "subscription does not exist")
        del self._active[sub_id]
        try:
            await self.store(active.store_name).unsubscribe(sub_id)
        except Exception as exc:
            raise E.UNSUBSCRIBE(sub_id, exc) from exc
        finally:
            if active.stream is not None:
                active.stream.put_nowait(None)

    async def stream(
        self, store_name: str, keys: list[str], metadata: dict[str, str]
    ) -> AsyncIterator[Update]:
        queue: asyncio.Queue[Update | None] = asyncio.Queue()

        async def handler(sub_id: str, items: dict[str, ConfigurationItem]) -> None:
            queue.put_nowait((sub_id, items))

        sub_id = await self.subscribe(store_name, keys, metadata, handler)
        self._active[sub_id].stream = queue
        try:
            yield sub_id, {}
            while (update := await queue.get()) is not None:
                yield update
        finally:
            if sub_id in self._active:
                with contextlib.suppress(Exception):
                    await self.unsubscribe(store_name, sub_id)

    async def close(self) -> None:
        """Ends every subscription (sidecar shutdown): streams finish, stores stop reporting."""
        for sub_id, active in list(self._active.items()):
            with contextlib.suppress(Exception):
                await self.unsubscribe(active.store_name, sub_id)
