"""The actor runtime's parts and the types that pass between them.

The sidecar's actor runtime is built from four parts, each in its own module:

- placement (``pydapr.placement.client.PlacementClient``): which sidecar hosts an actor id, and the
  lock → update → unlock rounds during which the table changes;
- the host (``pydapr.actors.host``): activations on this sidecar, one turn at a time per actor id,
  reentrancy, idle deactivation, draining, timers;
- reminders (``pydapr.actors.reminders.ReminderService``): durable reminders on the scheduler;
- a transport to the app (``ActorAppTransport``): HTTP through the app channel, or the gRPC stream
  the app opens (``SubscribeActorEventsAlpha1``).

``ActorsAPI`` (``pydapr.actors.api``) is the one facade both public APIs (HTTP and gRPC) call.
The types below are what those parts hand to each other; values are raw bytes as the caller sent
them (the HTTP API's JSON ``data``, the gRPC API's bytes), never decoded twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import msgspec


class ActorKey(msgspec.Struct, frozen=True):
    actor_type: str
    actor_id: str

    def __str__(self) -> str:
        return f"{self.actor_type}||{self.actor_id}"


class InvokeRequest(msgspec.Struct):
    """One actor method call, as it reaches the host (from this sidecar's API or from a peer)."""

    key: ActorKey
    method: str
    data: bytes = b""
    # Dapr-Reentrancy-Id, content type and the caller's forwardable headers / gRPC metadata.
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class InvokeResult(msgspec.Struct):
    """The app's answer. ``status`` is the HTTP status the app answered (gRPC stream: 200, or 500
    with ``error=True`` when the actor method raised); ``data`` is its body."""

    data: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    error: bool = False
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class ReminderFire(msgspec.Struct, frozen=True):
    """What the app receives when a reminder fires: its ``data`` as registered (JSON bytes over
    HTTP), and the registration's ``due_time`` / ``period`` strings as the user wrote them."""

    name: str
    data: bytes | None
    due_time: str
    period: str


class TimerFire(msgspec.Struct, frozen=True):
    name: str
    data: bytes | None
    callback: str
    due_time: str
    period: str


class FailurePolicy(msgspec.Struct, frozen=True):
    """What the scheduler does when the app fails a reminder (Dapr's ``common.v1.JobFailurePolicy``):
    ``drop`` it, or retry every ``interval`` seconds (None: the scheduler's default) up to
    ``max_retries`` times (None: until it succeeds)."""

    drop: bool = False
    interval: float | None = None
    max_retries: int | None = None


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder as registered: ``due_time``, ``period`` and ``ttl`` are kept as the user wrote
    them (Go durations, ISO 8601 ``PT1S`` / ``R5/PT1S``, RFC 3339 times) and parsed by the service.

    ``overwrite`` False refuses to replace one of the same name (ERR_ACTOR_REMINDER_ALREADY_EXISTS);
    it and ``failure_policy`` apply to the registration and are not returned by get/list."""

    key: ActorKey
    name: str
    due_time: str = ""
    period: str = ""
    ttl: str = ""
    data: bytes | None = None
    overwrite: bool = field(default=True, compare=False)
    failure_policy: FailurePolicy | None = field(default=None, compare=False)


class ActorAppTransport(Protocol):
    """How the host calls actor code in the app. An error the app answered comes back in
    ``InvokeResult``; a transport that cannot reach the app raises ``errors.DaprError``."""

    async def invoke(self, request: InvokeRequest) -> InvokeResult: ...

    async def reminder(self, key: ActorKey, fire: ReminderFire) -> None: ...

    async def timer(self, key: ActorKey, fire: TimerFire) -> None: ...

    async def deactivate(self, key: ActorKey) -> None: ...


class EntityConfig(msgspec.Struct, frozen=True):
    """One actor type's settings, from ``GET /dapr/config`` (or the stream's initial request).

    Durations are seconds; ``None`` means Dapr's default (idle 60 min, scan 30 s, drain 60 s)."""

    actor_type: str
    idle_timeout: float = 3600.0
    drain_ongoing_call_timeout: float = 60.0
    drain_rebalanced_actors: bool = True
    reentrancy_enabled: bool = False
    reentrancy_max_stack_depth: int = 32
    reminders_storage_partitions: int = 0


class HostedTypes(msgspec.Struct, frozen=True):
    """The app's actor types and their settings; ``scan_interval`` applies to all of them."""

    entities: Mapping[str, EntityConfig]
    scan_interval: float = 30.0


class StateOperation(msgspec.Struct, frozen=True):
    """One operation of an actor state transaction; ``metadata`` carries ``ttlInSeconds``."""

    operation: str  # "upsert" | "delete"
    key: str
    value: bytes | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)
    etag: str | None = None  # the operation's ETag, as daprd's TransactionalUpsert/Delete carry it


class ActorLocation(msgspec.Struct, frozen=True):
    """Where placement puts an actor now: the hosting sidecar's internal address (``host:port``)."""

    address: str
    app_id: str
    local: bool


class PlacementListener(Protocol):
    """Told of each dissemination round, and awaited before the round is acknowledged."""

    async def on_lock(self) -> None:
        """No new call may start on any actor until ``on_unlock``."""

    async def on_update(self) -> None:
        """The new table is in place (``Placement.owner`` answers from it): deactivate every
        local activation that now belongs elsewhere, draining its calls, before returning."""

    async def on_unlock(self) -> None: ...

    async def on_halt(self) -> None:
        """Placement has been out of reach long enough that it may give this sidecar's actors to
        others: deactivate every local activation now, without draining (daprd's HaltAll)."""


class Placement(Protocol):
    """The sidecar's view of the placement tables (``pydapr.placement.client.PlacementClient``)."""

    @property
    def connected(self) -> bool: ...

    def set_hosted(self, actor_types: Sequence[str]) -> None:
        """The actor types this sidecar hosts (reported now and on every reconnect)."""

    def add_listener(self, listener: PlacementListener) -> None: ...

    async def lookup(self, key: ActorKey, *, timeout: float) -> ActorLocation:
        """The actor's host; waits while the tables are locked or not yet received. Raises
        ``errors.DaprError`` (``NO_ADDRESS`` when no sidecar hosts the type, ``NO_PLACEMENT`` when
        no table arrived within ``timeout``)."""
        ...

    def owner(self, key: ActorKey) -> ActorLocation | None:
        """The current table's answer, without waiting (None: the type has no host)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


# A reminder fired: route it to the actor's host now and return True once the app took it
# (False or an exception: the scheduler retries the occurrence).
FireReminder = Callable[[Reminder], Awaitable[bool]]


class Reminders(Protocol):
    """Durable reminders (``pydapr.actors.reminders.ReminderService``, on the scheduler)."""

    async def create(self, reminder: Reminder) -> None:
        """Creates or replaces; raises ``errors.DaprError`` (REMINDER_CREATE, 400-class for bad
        ``dueTime`` / ``period`` / ``ttl``) and stores nothing on error."""

    async def get(self, key: ActorKey, name: str) -> Reminder | None: ...

    async def delete(self, key: ActorKey, name: str) -> None: ...

    async def list(self, actor_type: str, actor_id: str | None = None) -> list[Reminder]: ...

    async def delete_all(self, actor_type: str, actor_id: str | None = None) -> None: ...

    def watch(self, actor_types: Sequence[str], fire: FireReminder) -> None:
        """Starts (or changes) delivery of the reminders of ``actor_types`` to this sidecar."""

    async def close(self) -> None: ...


class Actors(Protocol):
    """The facade both public APIs call (``pydapr.actors.api.ActorsAPI``). Each method raises
    ``errors.DaprError`` with Dapr's code (pydapr.actors.errors) on bad input or failure."""

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        """Runs the call wherever placement puts the actor (this sidecar or a peer)."""
        ...

    async def get_state(self, key: ActorKey, name: str) -> tuple[bytes, Mapping[str, str]] | None:
        """The stored value and its metadata (``ttlExpireTime``), or None."""
        ...

    async def transaction(self, key: ActorKey, operations: Sequence[StateOperation]) -> None: ...

    async def register_timer(
        self,
        key: ActorKey,
        name: str,
        *,
        due_time: str,
        period: str,
        ttl: str,
        callback: str,
        data: bytes | None,
    ) -> None: ...

    async def unregister_timer(self, key: ActorKey, name: str) -> None: ...

    async def register_reminder(self, reminder: Reminder) -> None: ...

    async def unregister_reminder(self, key: ActorKey, name: str) -> None: ...

    async def get_reminder(self, key: ActorKey, name: str) -> Reminder | None: ...

    async def list_reminders(self, actor_type: str, actor_id: str | None = None) -> list[Reminder]: ...

    async def unregister_reminders(self, actor_type: str, actor_id: str | None = None) -> None: ...

    def attach_app_transport(self, hosted: HostedTypes, transport: ActorAppTransport) -> None:
        """An app opened the callback stream: host its types through ``transport`` from now on."""

    def detach_app_transport(self, transport: ActorAppTransport) -> None:
        """The stream ended: its types are no longer hosted here (placement is told)."""
