"""The state building block inside the sidecar: one ``StateAPI`` over the loaded state stores."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydapr.components.base import ComponentConfigError
from pydapr.sidecar.block import BuildingBlock
from pydapr.state.api import StateAPI, StoreEntry
from pydapr.state.contract import StateStore

log = logging.getLogger("pydapr.state")

if TYPE_CHECKING:
    from pydapr.api.http.router import Router
    from pydapr.sidecar.runtime import Runtime


class StateBlock(BuildingBlock):
    name = "state"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        from pydapr.sidecar.runtime import StartupError

        entries: dict[str, StoreEntry] = {}
        for name, loaded in runtime.components.by_family("state").items():
            store = loaded.instance
            if not isinstance(store, StateStore):
                raise StartupError(f"{loaded.spec.source}: Component {name!r} is not a state store")
            try:
                entries[name] = StoreEntry.from_metadata(store, loaded.metadata)
            except ComponentConfigError as exc:
                raise StartupError(f"{loaded.spec.source}: Component {name!r}: {exc}") from None
        try:
            self.api = StateAPI(entries)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        pubsubs = runtime.components.by_family("pubsub")
        for name, entry in entries.items():
            if entry.outbox is not None and entry.outbox.pubsub not in pubsubs:
                source = runtime.components.by_family("state")[name].spec.source
                raise StartupError(
                    f'{source}: Component "{name}": metadata.outboxPublishPubsub: '
                    f"no pub/sub component named {entry.outbox.pubsub!r} is loaded"
                )
        self._relays: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        outboxes = [e for e in self.api.stores.values() if e.outbox is not None]
        if not outboxes:
            return
        pubsub = next((b for b in self.runtime.blocks if b.name == "pubsub"), None)
        pubsub_api = getattr(pubsub, "api", None)
        if pubsub_api is None:
            log.error("the outbox needs the pub/sub building block, which is not available")
            return

        async def publish(pubsub_name: str, topic: str, data: bytes, content_type: str) -> None:
            await pubsub_api.publish(pubsub_name, topic, data, content_type, {})

        for entry in outboxes:
            assert entry.outbox is not None
            entry.outbox.publish = publish
            self._relays.append(asyncio.create_task(entry.outbox.relay_forever(entry.store)))

    async def stop(self) -> None:
        for task in self._relays:
            task.cancel()
        for task in self._relays:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._relays.clear()

    def register_http(self, router: Router) -> None:
        from pydapr.api.http import state as http_state

        http_state.register(router, self.api)

    def grpc_handler(self) -> object:
        from pydapr.api.grpc.state import StateGrpc

        return StateGrpc(self.api)

    def grpc_services(self) -> list[Callable[[Any], None]]:
        from pydapr.api.grpc.state import StateExtensionsGrpc

        return [StateExtensionsGrpc(self.api).add_to_server]

    def metadata(self) -> dict[str, Any]:
        return {}
