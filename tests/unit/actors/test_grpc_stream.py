"""The SubscribeActorEventsAlpha1 callback stream against the official SDK's ``ActorGrpcHost``.

A real gRPC server serves ``ActorsGrpc`` over a small in-memory actors facade (``MemoryActors``
in test_grpc_api.py: state in a dict, whatever the app attached as its transport); the SDK's host
dials it, registers its actor type over the stream and answers the callbacks the tests push.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest

# The stream and its SDK host are newer than the lowest SDK pydapr supports (1.16).
pytest.importorskip("dapr.actor.runtime.grpc_host")

from dapr.actor import Actor, ActorGrpcHost, ActorInterface, Remindable, actormethod
from dapr.actor.runtime._grpc_callbacks import build_initial_request
from dapr.actor.runtime.config import (
    ActorReentrancyConfig,
    ActorRuntimeConfig,
    ActorTypeConfig,
)
from dapr.actor.runtime.runtime import ActorRuntime

from pydapr import rpc
from pydapr.actors.contract import ActorKey, InvokeRequest, ReminderFire, TimerFire
from pydapr.actors.stream import ActorStream, hosted_types
from pydapr.api.grpc.wire import runtime
from pydapr.errors import DaprError
from tests.unit.actors.test_grpc_api import Sidecar, start_sidecar

ACTOR_TYPE = "StreamTestActor"


@pytest.fixture
async def sidecar() -> AsyncIterator[Sidecar]:
    side = await start_sidecar()
    try:
        yield side
    finally:
        await side.channel.close()
        await side.server.stop(grace=None)


# --- an SDK actor ------------------------------------------------------------------------------

seen: dict[str, Any] = {}  # what the actor saw, reset per test
gates: dict[str, asyncio.Event] = {}  # "entered" / "release" of the Block method, made per test


class StreamTestActorInterface(ActorInterface):
    @actormethod(name="SetData")
    async def set_data(self, data: object) -> None: ...

    @actormethod(name="GetData")
    async def get_data(self) -> object: ...

    @actormethod(name="Fail")
    async def fail(self) -> None: ...

    @actormethod(name="Block")
    async def block(self) -> str: ...

    @actormethod(name="StartReminder")
    async def start_reminder(self) -> None: ...

    @actormethod(name="StartTimer")
    async def start_timer(self) -> None: ...


class StreamTestActor(Actor, StreamTestActorInterface, Remindable):
    async def _on_activate(self) -> None:
        seen["activations"] = seen.get("activations", 0) + 1

    async def _on_deactivate(self) -> None:
        seen["deactivations"] = seen.get("deactivations", 0) + 1

    async def set_data(self, data: object) -> None:
        await self._state_manager.set_state("data", data)
        await self._state_manager.save_state()

    async def get_data(self) -> object:
        _, data = await self._state_manager.try_get_state("data")
        return data

    async def fail(self) -> None:
        raise ValueError("the actor method failed")

    async def block(self) -> str:
        gates["entered"].set()
        await gates["release"].wait()
        return "released"

    async def start_reminder(self) -> None:
        await self.register_reminder("r1", b"rstate", timedelta(seconds=30), timedelta(seconds=30))

    async def start_timer(self) -> None:
        await self.register_timer("t1", self.on_timer, {"n": 7}, timedelta(seconds=30), timedelta(seconds=30))

    async def on_timer(self, state: Any) -> None:
        seen["timer"] = state

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        seen["reminder"] = (name, state, due_time, period)


@pytest.fixture
async def host(sidecar: Sidecar) -> AsyncIterator[ActorGrpcHost]:
    seen.clear()
    gates.update(entered=asyncio.Event(), release=asyncio.Event())
    ActorRuntime.set_actor_config(ActorRuntimeConfig(actor_idle_timeout=timedelta(seconds=3)))
    app = ActorGrpcHost(address=sidecar.address, app_port=0, timeout_seconds=10)
    await app.register_actor(StreamTestActor)
    await app.start()
    try:
        yield app
    finally:
        gates["release"].set()
        await app.close()


def _call(method: str, data: bytes = b"", actor_id: str = "a1") -> InvokeRequest:
    return InvokeRequest(ActorKey(ACTOR_TYPE, actor_id), method, data, {})


# --- tests -------------------------------------------------------------------------------------


def test_initial_request_becomes_hosted_types() -> None:
    config = ActorRuntimeConfig(
        actor_idle_timeout=timedelta(minutes=5),
        drain_ongoing_call_timeout=timedelta(seconds=20),
        drain_rebalanced_actors=False,
        reentrancy=ActorReentrancyConfig(enabled=True, maxStackDepth=8),
        actor_type_configs=[
            ActorTypeConfig("Tuned", actor_idle_timeout=timedelta(seconds=7), reentrancy=None)
        ],
    )
    config.update_entities(["Plain"])
    hosted = hosted_types(build_initial_request(config))
    assert sorted(hosted.entities) == ["Plain", "Tuned"]
    plain = hosted.entities["Plain"]
    assert (plain.idle_timeout, plain.drain_ongoing_call_timeout) == (300.0, 20.0)
    assert not plain.drain_rebalanced_actors
    assert (plain.reentrancy_enabled, plain.reentrancy_max_stack_depth) == (True, 8)
    tuned = hosted.entities["Tuned"]
    assert tuned.idle_timeout == 7.0  # its own setting over the app-wide one
    assert tuned.drain_ongoing_call_timeout == 20.0  # the app-wide one where it sets nothing
    # The stream carries no scan interval: Dapr's default.
    assert hosted.scan_interval == 30.0


def test_an_empty_initial_request_takes_daprs_defaults() -> None:
    hosted = hosted_types(runtime.SubscribeActorEventsRequestInitialAlpha1(entities=["A"]))
    a = hosted.entities["A"]
    assert (a.idle_timeout, a.drain_ongoing_call_timeout, a.drain_rebalanced_actors) == (3600.0, 60.0, True)
    assert (a.reentrancy_enabled, a.reentrancy_max_stack_depth) == (False, 32)


async def test_sdk_host_registers_and_serves_invocations(sidecar: Sidecar, host: ActorGrpcHost) -> None:
    transport = await sidecar.transport()
    hosted, _ = sidecar.api.attached[-1]
    assert list(hosted.entities) == [ACTOR_TYPE]
    assert hosted.entities[ACTOR_TYPE].idle_timeout == 3.0

    # The SDK's state calls come back over the gRPC API, into the facade.
    await transport.invoke(_call("SetData", json.dumps({"x": 1}).encode()))
    assert sidecar.api.state[(ActorKey(ACTOR_TYPE, "a1"), "data")] == b'{"x":1}'
    result = await transport.invoke(_call("GetData"))
    assert (result.status, result.error, json.loads(result.data)) == (200, False, {"x": 1})
    assert result.content_type == "application/json"
    assert seen["activations"] == 1


async def test_actor_method_errors_and_unknown_methods(sidecar: Sidecar, host: ActorGrpcHost) -> None:
    transport = await sidecar.transport()
    failed = await transport.invoke(_call("Fail"))
    assert (failed.status, failed.error) == (500, True)
    assert "the actor method failed" in json.loads(failed.data)["message"]

    with pytest.raises(DaprError) as caught:
        await transport.invoke(_call("NoSuchMethod"))
    assert caught.value.code == "ERR_ACTOR_INVOKE_METHOD"
    assert "actor method not found: NoSuchMethod" in caught.value.message

    # A type the app did not register: the app answers request_failed NOT_FOUND.
    with pytest.raises(DaprError, match="not found"):
        await transport.invoke(InvokeRequest(ActorKey("Other", "x"), "GetData", b"", {}))


async def test_reminder_and_timer_registered_over_grpc_fire_over_the_stream(
    sidecar: Sidecar, host: ActorGrpcHost
) -> None:
    transport = await sidecar.transport()
    key = ActorKey(ACTOR_TYPE, "a1")
    await transport.invoke(_call("StartReminder"))
    reminder = sidecar.api.reminders[(key, "r1")]
    # daprd keeps gRPC-registered bytes as Go's JSON of []byte: a base64 string.
    assert reminder.data == b'"cnN0YXRl"'
    assert (reminder.due_time, reminder.period) == ("0h0m30s0ms0μs", "0h0m30s0ms0μs")
    await transport.reminder(key, ReminderFire("r1", reminder.data, "30s", "30s"))
    assert seen["reminder"][:2] == ("r1", b"rstate")

    await transport.invoke(_call("StartTimer"))
    timer = sidecar.api.timers[(key, "t1")]
    assert timer["callback"] == "on_timer"
    await transport.timer(key, TimerFire("t1", timer["data"], timer["callback"], "30s", "30s"))
    assert seen["timer"] == {"n": 7}


async def test_deactivate_over_the_stream(sidecar: Sidecar, host: ActorGrpcHost) -> None:
    transport = await sidecar.transport()
    key = ActorKey(ACTOR_TYPE, "a1")
    await transport.invoke(_call("GetData"))
    await transport.deactivate(key)
    assert seen["deactivations"] == 1
    await transport.invoke(_call("GetData"))
    assert seen["activations"] == 2
    # An id the app never activated: the app's failure is not the sidecar's.
    await transport.deactivate(ActorKey(ACTOR_TYPE, "never"))


async def test_calls_in_flight_fail_when_the_stream_ends_and_the_app_reattaches(
    sidecar: Sidecar, host: ActorGrpcHost
) -> None:
    transport = await sidecar.transport()
    blocked = asyncio.create_task(transport.invoke(_call("Block")))
    await asyncio.wait_for(gates["entered"].wait(), 5)
    stopping = asyncio.create_task(host.stop())
    with pytest.raises(DaprError) as caught:
        await asyncio.wait_for(blocked, 5)
    assert caught.value.grpc_status == rpc.StatusCode.UNAVAILABLE
    assert caught.value.code == "ERR_ACTOR_INVOKE_METHOD"
    gates["release"].set()
    await stopping
    assert sidecar.api.detached == [transport]
    assert sidecar.api.transport is None
    with pytest.raises(DaprError) as late:
        await transport.invoke(_call("GetData"))
    assert late.value.grpc_status == rpc.StatusCode.UNAVAILABLE

    await host.start()
    again = await sidecar.transport()
    assert again is not transport
    result = await again.invoke(_call("GetData"))
    assert result.status == 200


async def test_the_newest_stream_takes_new_calls_and_an_older_one_takes_over_again(
    sidecar: Sidecar, host: ActorGrpcHost
) -> None:
    first = await sidecar.transport()
    call = sidecar.stub.SubscribeActorEventsAlpha1()
    await call.write(
        runtime.SubscribeActorEventsRequestAlpha1(
            initial_request=runtime.SubscribeActorEventsRequestInitialAlpha1(entities=[ACTOR_TYPE])
        )
    )
    ack = await call.read()
    assert ack.HasField("initial_response")
    second = sidecar.api.transport
    assert isinstance(second, ActorStream) and second is not first
    # The second app answers one invocation by hand.
    pending = asyncio.create_task(second.invoke(_call("GetData")))
    pushed = await call.read()
    assert pushed.invoke_request.method == "GetData"
    await call.write(
        runtime.SubscribeActorEventsRequestAlpha1(
            invoke_response=runtime.SubscribeActorEventsRequestInvokeResponseAlpha1(
                id=pushed.invoke_request.id, data=b'"second"'
            )
        )
    )
    assert (await pending).data == b'"second"'
    # The newer stream goes away: the first one, still open, hosts the types again.
    call.cancel()
    await sidecar.transport()
    while sidecar.api.transport is not first:
        sidecar.api.changed.clear()
        await asyncio.wait_for(sidecar.api.changed.wait(), 5)
    assert sidecar.api.detached == []
    assert (await first.invoke(_call("GetData"))).status == 200


async def test_answers_with_unknown_ids_are_dropped(sidecar: Sidecar) -> None:
    call = sidecar.stub.SubscribeActorEventsAlpha1()
    await call.write(
        runtime.SubscribeActorEventsRequestAlpha1(
            initial_request=runtime.SubscribeActorEventsRequestInitialAlpha1(entities=["X"])
        )
    )
    assert (await call.read()).HasField("initial_response")
    transport = await sidecar.transport()
    await call.write(
        runtime.SubscribeActorEventsRequestAlpha1(
            timer_response=runtime.SubscribeActorEventsRequestReminderResponseAlpha1(id="999")
        )
    )
    pending = asyncio.create_task(transport.timer(ActorKey("X", "1"), TimerFire("t", None, "cb", "1s", "")))
    pushed = await call.read()
    assert pushed.timer_request.name == "t" and not pushed.timer_request.HasField("data")
    await call.write(
        runtime.SubscribeActorEventsRequestAlpha1(
            request_failed=runtime.SubscribeActorEventsRequestFailedAlpha1(
                id=pushed.timer_request.id, code=2, message="boom"
            )
        )
    )
    with pytest.raises(DaprError, match="error from actor service: boom"):
        await pending
    call.cancel()


async def test_the_first_message_must_register() -> None:
    side = await start_sidecar()
    try:
        call = side.stub.SubscribeActorEventsAlpha1()
        await call.write(
            runtime.SubscribeActorEventsRequestAlpha1(
                deactivate_response=runtime.SubscribeActorEventsRequestDeactivateResponseAlpha1(id="1")
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == "first message must be SubscribeActorEventsRequestInitialAlpha1"
        assert side.api.attached == []
    finally:
        await side.channel.close()
        await side.server.stop(grace=None)


async def test_an_http_app_channel_refuses_the_stream() -> None:
    side = await start_sidecar(app_protocol="http")
    try:
        app = ActorGrpcHost(address=side.address, app_port=0)
        await app.register_actor(StreamTestActor)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await app.start()
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert caught.value.details() == "actor callback streaming requires a gRPC app channel"
        assert side.api.attached == []
    finally:
        await side.channel.close()
        await side.server.stop(grace=None)


async def test_a_stream_hosting_nothing_does_not_displace_the_host(
    sidecar: Sidecar, host: ActorGrpcHost
) -> None:
    """The SDK's support probe registers no type; the running host keeps the callbacks."""
    transport = await sidecar.transport()
    call = sidecar.stub.SubscribeActorEventsAlpha1()
    await call.write(
        runtime.SubscribeActorEventsRequestAlpha1(
            initial_request=runtime.SubscribeActorEventsRequestInitialAlpha1()
        )
    )
    assert (await call.read()).HasField("initial_response")
    call.cancel()
    assert sidecar.api.transport is transport and len(sidecar.api.attached) == 1
    assert (await transport.invoke(_call("GetData"))).status == 200
    assert sidecar.api.detached == []


async def test_shutdown_ends_the_streams_and_takes_no_new_one(sidecar: Sidecar, host: ActorGrpcHost) -> None:
    transport = await sidecar.transport()
    sidecar.handler.close()
    assert transport.closed
    with pytest.raises(DaprError) as late:
        await transport.invoke(_call("GetData"))
    assert late.value.grpc_status == rpc.StatusCode.UNAVAILABLE
    call = sidecar.stub.SubscribeActorEventsAlpha1()
    # Refused at once, before the app's first message: reading without writing sees the status.
    # (A write racing the refusal is grpcio's client race, grpc/grpc#36066: INTERNAL on the client.)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "actor runtime is closed"
