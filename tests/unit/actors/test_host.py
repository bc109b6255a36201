"""The host through ActorsAPI: local calls take turns per id, reentrancy, idle deactivation, timers,
deactivation when placement moves an actor away."""

from __future__ import annotations

import asyncio
import time

import pytest

from pydapr.actors import errors as E
from pydapr.actors.api import ActorsAPI
from pydapr.actors.contract import ActorKey, EntityConfig, HostedTypes, InvokeRequest
from pydapr.actors.host import ActorHost
from pydapr.actors.state import ActorState
from pydapr.actors.turns import REENTRANCY_HEADER
from pydapr.errors import DaprError
from pydapr.resiliency import Policy, RetrySchedule

from .conftest import RecordingApp, TablePlacement


def build(
    app: RecordingApp, config: EntityConfig | None = None, *, scan: float = 30.0, clock=time.monotonic
) -> tuple[ActorsAPI, ActorHost, TablePlacement]:
    placement = TablePlacement()

    def owns(key: ActorKey) -> bool:
        found = placement.owner(key)
        return found is not None and found.local

    host = ActorHost(owns=owns, clock=clock)
    state = ActorState(app_id="app", store=None, is_active=host.is_active)
    api = ActorsAPI(app_id="app", host=host, state=state, placement=placement)
    placement.add_listener(host)
    config = config or EntityConfig("Counter")
    api.host_types(HostedTypes({config.actor_type: config}, scan), app)
    return api, host, placement


def call(actor_id: str, method: str = "ping", **metadata: str) -> InvokeRequest:
    return InvokeRequest(ActorKey("Counter", actor_id), method, b"", dict(metadata))


async def test_a_local_call_reaches_the_app_and_activates_the_actor() -> None:
    app = RecordingApp()
    api, host, placement = build(app)
    assert placement.hosted == ["Counter"]
    result = await api.invoke(call("1", "add"))
    assert result.data == b'"add"'
    assert host.is_active(ActorKey("Counter", "1"))
    assert host.counts() == {"Counter": 1}


async def test_calls_to_one_id_never_overlap_and_to_two_ids_do() -> None:
    app = RecordingApp(delay=0.05)
    api, _, _ = build(app)
    started = time.monotonic()
    await asyncio.gather(*(api.invoke(call("a")) for _ in range(3)), api.invoke(call("b")))
    elapsed = time.monotonic() - started
    assert app.peak[ActorKey("Counter", "a")] == 1
    assert elapsed < 0.05 * 4  # "b" ran beside the "a" calls
    assert elapsed >= 0.05 * 3


async def test_reentrancy_id_is_made_and_passed_to_the_app() -> None:
    app = RecordingApp()
    api, _, _ = build(app, EntityConfig("Counter", reentrancy_enabled=True))
    await api.invoke(call("1"))
    assert len(app.calls[0].metadata[REENTRANCY_HEADER]) == 36


async def test_a_reentrant_call_runs_inside_the_turn() -> None:
    app = RecordingApp()
    api, _, _ = build(app, EntityConfig("Counter", reentrancy_enabled=True))
    inner_result = []

    async def reenter(request: InvokeRequest):  # the actor calls itself while it runs
        if request.method == "outer":
            nested = call("1", "inner", **{REENTRANCY_HEADER: request.metadata[REENTRANCY_HEADER]})
            inner_result.append(await asyncio.wait_for(api.invoke(nested), 1))
        return await RecordingApp.invoke(app, request)

    app.invoke = reenter  # type: ignore[method-assign]
    await asyncio.wait_for(api.invoke(call("1", "outer")), 2)
    assert inner_result[0].data == b'"inner"'


async def test_stack_depth_is_refused() -> None:
    app = RecordingApp()
    api, _, _ = build(app, EntityConfig("Counter", reentrancy_enabled=True, reentrancy_max_stack_depth=2))

    async def recurse(request: InvokeRequest):
        nested = call("1", "again", **{REENTRANCY_HEADER: request.metadata[REENTRANCY_HEADER]})
        return await api.invoke(nested)

    app.invoke = recurse  # type: ignore[method-assign]
    with pytest.raises(DaprError) as info:
        await asyncio.wait_for(api.invoke(call("1")), 2)
    assert info.value.code == "ERR_ACTOR_STACK_DEPTH"


async def test_app_error_status_is_err_actor_invoke_method() -> None:
    app = RecordingApp()
    app.status = 500
    api, _, _ = build(app)
    with pytest.raises(DaprError) as info:
        await api.invoke(call("1", "boom"))
    assert info.value.kind is E.INVOKE_METHOD
    assert info.value.message == 'error invoke actor method: error from actor service: (500) "boom"'


async def test_idle_actors_are_deactivated_by_the_scan() -> None:
    now = [100.0]
    app = RecordingApp()
    api, host, _ = build(app, EntityConfig("Counter", idle_timeout=10.0), clock=lambda: now[0])
    await api.invoke(call("1"))
    now[0] += 5
    await api.invoke(call("2"))
    now[0] += 6  # "1" idle for 11 s, "2" for 6 s
    assert await host.scan_idle() == 1
    assert app.deactivated == [ActorKey("Counter", "1")]
    assert host.counts() == {"Counter": 1}


async def test_a_busy_actor_is_not_idle() -> None:
    now = [0.0]
    app = RecordingApp(delay=0.1)
    api, host, _ = build(app, EntityConfig("Counter", idle_timeout=1.0), clock=lambda: now[0])
    task = asyncio.create_task(api.invoke(call("1")))
    await asyncio.sleep(0.01)
    now[0] += 5
    assert await host.scan_idle() == 0
    await task


async def test_the_idle_scan_runs_every_scan_interval() -> None:
    app = RecordingApp()
    api, host, _ = build(app, EntityConfig("Counter", idle_timeout=0.05), scan=0.05)
    host.start()
    try:
        await api.invoke(call("1"))
        for _ in range(50):
            if app.deactivated:
                break
            await asyncio.sleep(0.02)
        assert app.deactivated == [ActorKey("Counter", "1")]
    finally:
        await host.close()


async def test_timer_fires_in_turn_and_deactivation_drops_it() -> None:
    app = RecordingApp()
    api, host, _ = build(app)
    key = ActorKey("Counter", "1")
    await api.register_timer(key, "tick", due_time="0s", period="50ms", ttl="", callback="cb", data=b'"x"')
    await asyncio.sleep(0.18)
    fired = len(app.timers)
    assert fired >= 3
    assert app.timers[0][1].callback == "cb" and app.timers[0][1].data == b'"x"'
    await host.deactivate(key)
    await asyncio.sleep(0.12)
    assert len(app.timers) == fired


async def test_timer_with_repetitions_stops() -> None:
    app = RecordingApp()
    api, host, _ = build(app)
    key = ActorKey("Counter", "1")
    await api.register_timer(key, "t", due_time="", period="R2/PT0.05S", ttl="", callback="", data=None)
    await asyncio.sleep(0.2)
    assert len(app.timers) == 2  # R2: two fires in all
    assert host._active[key].timers == {}  # done: the timer is gone
    await host.close()


async def test_bad_timer_is_err_actor_timer_create() -> None:
    app = RecordingApp()
    api, _, _ = build(app)
    with pytest.raises(DaprError) as info:
        await api.register_timer(
            ActorKey("Counter", "1"), "t", due_time="soon", period="", ttl="", callback="", data=None
        )
    assert info.value.code == "ERR_ACTOR_TIMER_CREATE"
    with pytest.raises(DaprError) as info:
        await api.register_timer(
            ActorKey("Other", "1"), "t", due_time="1s", period="", ttl="", callback="", data=None
        )
    assert "actor type not registered" in info.value.message


async def test_moved_actors_are_deactivated_after_their_calls_drain() -> None:
    app = RecordingApp(delay=0.1)
    api, host, placement = build(app, EntityConfig("Counter", drain_ongoing_call_timeout=5.0))
    task = asyncio.create_task(api.invoke(call("1")))
    await asyncio.sleep(0.02)
    await placement.move("Counter", "10.0.0.2:1")
    assert task.done() and task.result().data == b'"ping"'  # drained before the round ended
    assert app.deactivated == [ActorKey("Counter", "1")]
    assert not host.is_active(ActorKey("Counter", "1"))


async def test_unknown_type_answers_what_daprd_answers() -> None:
    api, _, _ = build(RecordingApp())
    api._not_found = Policy("not found", retry=RetrySchedule(duration=0.01, max_retries=2))
    with pytest.raises(DaprError) as info:
        await api.invoke(InvokeRequest(ActorKey("Nobody", "1"), "m"))
    assert info.value.code == "ERR_ACTOR_INVOKE_METHOD"
    assert "did not find address for actor" in info.value.message


async def test_no_placement_is_err_actor_no_placement() -> None:
    host = ActorHost(owns=lambda key: False)
    api = ActorsAPI(
        app_id="a",
        host=host,
        state=ActorState(app_id="a", store=None, is_active=host.is_active),
        placement=None,
    )
    with pytest.raises(DaprError) as info:
        await api.invoke(call("1"))
    assert info.value.code == "ERR_ACTOR_NO_PLACEMENT"


async def test_a_reentrant_call_gets_in_while_placement_drains_the_actor() -> None:
    app = RecordingApp()
    api, host, placement = build(
        app, EntityConfig("Counter", reentrancy_enabled=True, drain_ongoing_call_timeout=5.0)
    )
    moving = asyncio.Event()

    async def reenter(request: InvokeRequest):  # type: ignore[no-untyped-def]
        if request.method == "outer":
            moving.set()
            await asyncio.sleep(0.05)  # the round has locked the table by now
            nested = call("1", "inner", **{REENTRANCY_HEADER: request.metadata[REENTRANCY_HEADER]})
            await host.invoke(nested)
        return await RecordingApp.invoke(app, request)

    app.invoke = reenter  # type: ignore[method-assign]
    outer = asyncio.create_task(api.invoke(call("1", "outer")))
    await moving.wait()
    started = time.monotonic()
    await asyncio.wait_for(placement.move("Counter", "10.0.0.2:1"), 3)
    assert time.monotonic() - started < 1.0  # not the drain timeout: the nested call got in
    assert (await outer).data == b'"outer"'
    assert [c.method for c in app.calls] == ["inner", "outer"]


async def test_a_call_during_the_apps_deactivation_waits_for_it() -> None:
    """The app is told to deactivate an id before it gets the next call for it: a call arriving
    while the app handles the deactivation would otherwise meet an actor the app is dropping (the
    SDK answers ERR_ACTOR_INSTANCE_MISSING)."""
    events: list[str] = []

    class SlowDeactivation(RecordingApp):
        async def invoke(self, request: InvokeRequest):  # type: ignore[no-untyped-def]
            events.append(f"call {request.method}")
            return await super().invoke(request)

        async def deactivate(self, key: ActorKey) -> None:
            events.append("deactivate begins")
            await asyncio.sleep(0.1)
            events.append("deactivate ends")
            await super().deactivate(key)

    app = SlowDeactivation()
    api, host, _ = build(app)
    await api.invoke(call("1", "first"))
    deactivating = asyncio.create_task(host.deactivate(ActorKey("Counter", "1")))
    await asyncio.sleep(0.02)  # the app is in the middle of deactivating
    await api.invoke(call("1", "second"))
    await deactivating
    assert events == ["call first", "deactivate begins", "deactivate ends", "call second"]
    assert host.is_active(ActorKey("Counter", "1"))
