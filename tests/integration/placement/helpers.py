"""What the placement tests share: an in-process service, clients that record their rounds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import grpc

from pydapr.placement.client import PlacementClient
from pydapr.placement.lease import Leadership
from pydapr.placement.server import PlacementService, start_server


class Recorder:
    """A PlacementListener that records the order of rounds, optionally slow in on_update."""

    def __init__(self, name: str, log: list[tuple[str, str]] | None = None) -> None:
        self.name = name
        self.events: list[str] = []
        self.shared = log if log is not None else []
        self.update_delay = 0.0

    async def on_lock(self) -> None:
        self._record("lock")

    async def on_update(self) -> None:
        self._record("update")
        if self.update_delay:
            await asyncio.sleep(self.update_delay)
        self._record("updated")

    async def on_unlock(self) -> None:
        self._record("unlock")

    async def on_halt(self) -> None:
        self._record("halt")

    def _record(self, event: str) -> None:
        self.events.append(event)
        self.shared.append((self.name, event))


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def placement_server(**options: float) -> AsyncIterator[tuple[PlacementService, str]]:
    """A single-replica placement service (no lease store) on a free port."""
    service = PlacementService(Leadership(None, "test", grace=0.0), **options)  # type: ignore[arg-type]
    server: grpc.aio.Server
    server, port = await start_server(service, "127.0.0.1", 0)
    try:
        yield service, f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=0.5)
        service.step_down()


def client(address: str | list[str], name: str, types: list[str], app_id: str = "app", *,
           namespace: str = "default") -> PlacementClient:  # fmt: skip
    c = PlacementClient(
        address if isinstance(address, list) else [address],
        app_id=app_id,
        namespace=namespace,
        host_address=name,
    )
    c.set_hosted(types)
    return c
