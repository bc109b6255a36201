"""Dapr's actor metrics after real operations on the actor host and API (an app that records, a
placement table in memory): turns waited for, timers, reminders fired, deactivations."""

from __future__ import annotations

import asyncio
import uuid

from pydapr.actors.api import ActorsAPI
from pydapr.actors.contract import ActorKey, EntityConfig, HostedTypes, InvokeRequest, Reminder
from pydapr.actors.host import ActorHost
from pydapr.actors.state import ActorState
from pydapr.observability.metrics.blocks.actors import ActorMetrics
from pydapr.observability.metrics.registry import REGISTRY
from tests.unit.actors.conftest import RecordingApp, TablePlacement


class Sidecar:
    """An actor host with metrics for a fresh app id and actor type (the registry is shared)."""

    def __init__(self, app: RecordingApp) -> None:
        tag = uuid.uuid4().hex[:8]
        self.app_id = f"actors-{tag}"
        self.actor_type = f"Counter{tag}"
        self.placement = TablePlacement()

        def owns(key: ActorKey) -> bool:
            found = self.placement.owner(key)
            return found is not None and found.local

        metrics = ActorMetrics(self.app_id)
        self.host = ActorHost(owns=owns, metrics=metrics)
        state = ActorState(app_id=self.app_id, store=None, is_active=self.host.is_active)
        self.api = ActorsAPI(
            app_id=self.app_id, host=self.host, state=state, placement=self.placement, metrics=metrics
        )
        self.placement.add_listener(self.host)
        config = EntityConfig(self.actor_type)
        self.api.host_types(HostedTypes({self.actor_type: config}, 30.0), app)

    def key(self, actor_id: str) -> ActorKey:
        return ActorKey(self.actor_type, actor_id)

    def value(self, metric: str, **extra: str) -> float:
        labels = {"app_id": self.app_id, "actor_type": self.actor_type, **extra}
        return REGISTRY.get_sample_value(metric, labels) or 0.0


async def test_calls_waiting_for_the_turn_are_pending() -> None:
    app = RecordingApp(delay=0.2)
    sidecar = Sidecar(app)
    calls = [
        asyncio.create_task(sidecar.api.invoke(InvokeRequest(sidecar.key("1"), "m", b""))) for _ in range(3)
    ]
    await asyncio.sleep(0.05)  # the first holds the turn, two wait
    assert sidecar.value("dapr_runtime_actor_pending_actor_calls") == 2.0
    await asyncio.gather(*calls)
    assert sidecar.value("dapr_runtime_actor_pending_actor_calls") == 0.0


async def test_timers_are_counted_while_active_and_each_firing_is_counted() -> None:
    app = RecordingApp()
    sidecar = Sidecar(app)
    key = sidecar.key("t")
    await sidecar.api.register_timer(key, "tick", due_time="0s", period="1h", ttl="", callback="", data=None)
    await sidecar.api.register_timer(key, "once", due_time="0s", period="", ttl="", callback="", data=None)
    await sidecar.api.register_timer(key, "later", due_time="1h", period="", ttl="", callback="", data=None)
    await asyncio.sleep(0.1)
    assert len(app.timers) == 2
    assert sidecar.value("dapr_runtime_actor_timers_fired_total", success="true") == 2.0
    assert sidecar.value("dapr_runtime_actor_timers") == 2.0  # "once" is done
    await sidecar.api.unregister_timer(key, "later")
    assert sidecar.value("dapr_runtime_actor_timers") == 1.0
    await sidecar.host.deactivate(key)  # drops "tick"
    assert sidecar.value("dapr_runtime_actor_timers") == 0.0


async def test_a_timer_the_app_fails_is_counted_as_unsuccessful() -> None:
    class FailingTimers(RecordingApp):
        async def timer(self, key, fire):  # type: ignore[no-untyped-def]
            raise ConnectionError("app down")

    sidecar = Sidecar(FailingTimers())
    await sidecar.api.register_timer(
        sidecar.key("f"), "t", due_time="0s", period="", ttl="", callback="", data=None
    )
    await asyncio.sleep(0.1)
    assert sidecar.value("dapr_runtime_actor_timers_fired_total", success="false") == 1.0
    assert sidecar.value("dapr_runtime_actor_timers_fired_total", success="true") == 0.0


async def test_reminders_fired_count_what_the_actor_took_and_what_it_did_not() -> None:
    app = RecordingApp()
    sidecar = Sidecar(app)
    assert await sidecar.api.fire_reminder(Reminder(sidecar.key("r"), "wake"))
    assert await sidecar.api.fire_reminder(Reminder(sidecar.key("r"), "wake"))
    sidecar.placement.owners[sidecar.actor_type] = "10.0.0.9:1"  # moved to a sidecar that is gone
    assert not await sidecar.api.fire_reminder(Reminder(sidecar.key("r"), "wake"))
    assert len(app.reminders) == 2
    assert sidecar.value("dapr_runtime_actor_reminders_fired_total", success="true") == 2.0
    assert sidecar.value("dapr_runtime_actor_reminders_fired_total", success="false") == 1.0


async def test_deactivations_count_as_halted_and_as_acknowledged_or_failed() -> None:
    class RefusesOne(RecordingApp):
        async def deactivate(self, key: ActorKey) -> None:
            if key.actor_id == "bad":
                raise ConnectionError("refused")
            await super().deactivate(key)

    app = RefusesOne()
    sidecar = Sidecar(app)
    for actor_id in ("a", "b", "bad"):
        await sidecar.api.invoke(InvokeRequest(sidecar.key(actor_id), "m", b""))
    await sidecar.placement.move(sidecar.actor_type, "10.0.0.9:1")  # placement moves all three
    assert sidecar.host.counts() == {sidecar.actor_type: 0}
    assert sidecar.value("dapr_runtime_actor_rebalanced_total") == 3.0
    assert sidecar.value("dapr_runtime_actor_deactivated_total") == 2.0
    assert sidecar.value("dapr_runtime_actor_deactivated_failed_total") == 1.0


async def test_a_host_without_metrics_records_nothing() -> None:
    app = RecordingApp()
    sidecar = Sidecar(app)
    sidecar.host.metrics = None
    sidecar.api.metrics = None
    await sidecar.api.invoke(InvokeRequest(sidecar.key("1"), "m", b""))
    await sidecar.host.deactivate(sidecar.key("1"))
    assert sidecar.value("dapr_runtime_actor_rebalanced_total") == 0.0
    assert (
        REGISTRY.get_sample_value(
            "dapr_runtime_actor_pending_actor_calls",
            {"app_id": sidecar.app_id, "actor_type": sidecar.actor_type},
        )
        is None
    )
