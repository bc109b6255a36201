"""A workflow instance's state in the actor state store, under its actor key
(``<app>||dapr.internal.<ns>.<app>.workflow||<instance>||<name>``), with daprd's key names:
``metadata`` (lengths, generation, times), ``history-NNNNNN`` and ``inbox-NNNNNN`` (one serialized
``HistoryEvent`` each, so a turn writes only what it appended), ``customStatus``, ``propagated``.
Every write is one transaction: a turn's history, the inbox it consumed and the metadata together.
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from pydapr.actors.contract import ActorKey, StateOperation
from pydapr.actors.state import ActorState
from pydapr.workflows._proto import durabletask_pb2 as pb

from .history import Instance


class _Meta(msgspec.Struct):
    history: int = 0
    inbox: int = 0
    generation: int = 0
    created: float = 0.0
    updated: float = 0.0
    customStatus: str | None = None
    propagated: bool = False


class _Stored(msgspec.Struct):
    """What is in the store now, so a save writes the difference."""

    history: int = 0
    inbox: int = 0


class InstanceStore:
    def __init__(self, state: ActorState) -> None:
        self.state = state
        self._stored: dict[ActorKey, _Stored] = {}

    async def load(self, key: ActorKey) -> Instance | None:
        found = await self.state.get(key, "metadata")
        if found is None:
            return None
        meta = msgspec.json.decode(found[0], type=_Meta)
        names = [f"history-{i:06d}" for i in range(meta.history)] + [
            f"inbox-{i:06d}" for i in range(meta.inbox)
        ]
        if meta.propagated:
            names.append("propagated")
        values = await asyncio.gather(*(self.state.get(key, n) for n in names))
        events = [pb.HistoryEvent.FromString(v[0]) if v else pb.HistoryEvent() for v in values]
        instance = Instance(
            key.actor_id,
            history=events[: meta.history],
            inbox=events[meta.history : meta.history + meta.inbox],
            custom_status=meta.customStatus,
            generation=meta.generation,
            created=meta.created,
            updated=meta.updated,
        )
        if meta.propagated and values[-1]:
            instance.propagated = pb.PropagatedHistory.FromString(values[-1][0])
        self._stored[key] = _Stored(meta.history, meta.inbox)
        return instance

    async def save(self, key: ActorKey, instance: Instance, *, rewrite: bool = False) -> None:
        """Writes what changed since the last load or save. ``rewrite``: the history was replaced
        (a new execution), so every event is written again."""
        stored = self._stored.get(key, _Stored())
        instance.updated = time.time()
        if not instance.created:
            instance.created = instance.updated
        ops: list[StateOperation] = []
        first = 0 if rewrite else stored.history
        for i in range(first, len(instance.history)):
            ops.append(StateOperation("upsert", f"history-{i:06d}", instance.history[i].SerializeToString()))
        for i in range(len(instance.history), stored.history):
            ops.append(StateOperation("delete", f"history-{i:06d}"))
        # The inbox is small and consumed whole: rewrite it.
        for i, e in enumerate(instance.inbox):
            ops.append(StateOperation("upsert", f"inbox-{i:06d}", e.SerializeToString()))
        for i in range(len(instance.inbox), stored.inbox):
            ops.append(StateOperation("delete", f"inbox-{i:06d}"))
        if instance.propagated is not None and (rewrite or stored.history == 0):
            ops.append(StateOperation("upsert", "propagated", instance.propagated.SerializeToString()))
        meta = _Meta(
            history=len(instance.history),
            inbox=len(instance.inbox),
            generation=instance.generation,
            created=instance.created,
            updated=instance.updated,
            customStatus=instance.custom_status,
            propagated=instance.propagated is not None,
        )
        ops.append(StateOperation("upsert", "metadata", msgspec.json.encode(meta)))
        await self.state.transaction(key, ops)
        self._stored[key] = _Stored(len(instance.history), len(instance.inbox))

    async def delete(self, key: ActorKey) -> None:
        stored = self._stored.pop(key, None)
        if stored is None:
            return
        ops = [StateOperation("delete", f"history-{i:06d}") for i in range(stored.history)]
        ops += [StateOperation("delete", f"inbox-{i:06d}") for i in range(stored.inbox)]
        ops += [StateOperation("delete", "propagated"), StateOperation("delete", "metadata")]
        await self.state.transaction(key, ops)

    def forget(self, key: ActorKey) -> None:
        self._stored.pop(key, None)
