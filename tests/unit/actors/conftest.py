"""Parts the actor host is tested with: a placement table held in memory, and an app that records."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydapr.actors.contract import (
    ActorKey,
    ActorLocation,
    InvokeRequest,
    InvokeResult,
    PlacementListener,
    ReminderFire,
    TimerFire,
)


class TablePlacement:
    """A placement table in memory: ``owners`` maps a type to the address that hosts all its ids
    (``"local"`` for this sidecar); ``move()`` runs one lock → update → unlock round."""

    def __init__(self, owners: dict[str, str] | None = None) -> None:
        self.owners = dict(owners or {})
        self.hosted: list[str] = []
        self.listeners: list[PlacementListener] = []

    @property
    def connected(self) -> bool:
        return True

    def set_hosted(self, actor_types: Sequence[str]) -> None:
        self.hosted = list(actor_types)
        for t in actor_types:
            self.owners.setdefault(t, "local")

    def add_listener(self, listener: PlacementListener) -> None:
        self.listeners.append(listener)

    def owner(self, key: ActorKey) -> ActorLocation | None:
        address = self.owners.get(key.actor_type)
        if address is None:
            return None
        return ActorLocation(address, "app", address == "local")

    async def lookup(self, key: ActorKey, *, timeout: float) -> ActorLocation:
        from pydapr.actors import errors as E

        found = self.owner(key)
        if found is None:
            raise E.NO_ADDRESS(str(key))
        return found

    async def move(self, actor_type: str, address: str) -> None:
        for listener in self.listeners:
            await listener.on_lock()
        self.owners[actor_type] = address
        for listener in self.listeners:
            await listener.on_update()
        for listener in self.listeners:
            await listener.on_unlock()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class RecordingApp:
    """An actor app: each method sleeps ``delay`` and answers its name; it records what it saw."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[InvokeRequest] = []
        self.timers: list[tuple[ActorKey, TimerFire]] = []
        self.reminders: list[tuple[ActorKey, ReminderFire]] = []
        self.deactivated: list[ActorKey] = []
        self.running: dict[ActorKey, int] = {}
        self.peak: dict[ActorKey, int] = {}
        self.status = 200

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        self.calls.append(request)
        key = request.key
        self.running[key] = self.running.get(key, 0) + 1
        self.peak[key] = max(self.peak.get(key, 0), self.running[key])
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running[key] -= 1
        return InvokeResult(data=f'"{request.method}"'.encode(), status=self.status)

    async def reminder(self, key: ActorKey, fire: ReminderFire) -> None:
        self.reminders.append((key, fire))

    async def timer(self, key: ActorKey, fire: TimerFire) -> None:
        self.timers.append((key, fire))

    async def deactivate(self, key: ActorKey) -> None:
        self.deactivated.append(key)
