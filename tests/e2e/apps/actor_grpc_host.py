"""An actor app that serves no HTTP: the official SDK's ``ActorGrpcHost`` opens the
SubscribeActorEventsAlpha1 stream and takes every callback over it (as the SDK's own
tests/integration/apps/actor_grpc_host.py). Its actors keep evidence of what reached them in their
state (over the gRPC actor RPCs), so the test reads it back through the sidecar.

argv: [idle timeout in seconds] ["reentrant"]. ``ActorGrpcHost`` serves the empty gRPC server the sidecar's
gRPC app channel needs on APP_PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import timedelta

from dapr.actor import Actor, ActorGrpcHost, ActorInterface, ActorProxy, Remindable, actormethod
from dapr.actor.runtime.config import ActorReentrancyConfig, ActorRuntimeConfig
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.clients.grpc.dapr_actor_grpc_client import DaprActorGrpcClient
from dapr.serializers import DefaultJSONSerializer


class CounterInterface(ActorInterface):
    @actormethod(name="GetActivationCount")
    async def get_activation_count(self) -> int: ...

    @actormethod(name="SetData")
    async def set_data(self, data: object) -> None: ...

    @actormethod(name="GetData")
    async def get_data(self) -> object: ...

    @actormethod(name="Fail")
    async def fail(self) -> None: ...

    @actormethod(name="StartReminder")
    async def start_reminder(self) -> None: ...

    @actormethod(name="StopReminder")
    async def stop_reminder(self) -> None: ...

    @actormethod(name="StartTimer")
    async def start_timer(self) -> None: ...

    @actormethod(name="StopTimer")
    async def stop_timer(self) -> None: ...

    @actormethod(name="GetEvidence")
    async def get_evidence(self) -> object: ...

    @actormethod(name="CallSelf")
    async def call_self(self) -> object: ...


class GrpcCounter(Actor, CounterInterface, Remindable):
    async def _on_activate(self) -> None:
        _, count = await self._state_manager.try_get_state("activations")
        await self._state_manager.set_state("activations", (count or 0) + 1)
        await self._state_manager.save_state()

    async def get_activation_count(self) -> int:
        _, count = await self._state_manager.try_get_state("activations")
        return int(count or 0)

    async def set_data(self, data: object) -> None:
        await self._state_manager.set_state("data", data)
        await self._state_manager.save_state()

    async def get_data(self) -> object:
        _, data = await self._state_manager.try_get_state("data")
        return data

    async def fail(self) -> None:
        raise ValueError("the counter refuses")

    async def start_reminder(self) -> None:
        await self.register_reminder("remind", b"rstate", timedelta(seconds=1), timedelta(seconds=2))

    async def stop_reminder(self) -> None:
        await self.unregister_reminder("remind")

    async def start_timer(self) -> None:
        await self.register_timer("tick", self.on_tick, {"n": 7}, timedelta(seconds=1), timedelta(seconds=2))

    async def stop_timer(self) -> None:
        await self.unregister_timer("tick")

    async def get_evidence(self) -> object:
        _, reminder = await self._state_manager.try_get_state("reminder")
        _, timer = await self._state_manager.try_get_state("timer")
        return {"reminder": reminder, "timer": timer}

    async def call_self(self) -> object:
        """Calls this same actor again through the gRPC API, inside this turn: only a reentrant
        actor gets through (the SDK passes the turn's Dapr-Reentrancy-Id in the call's metadata)."""
        client = DaprActorGrpcClient(timeout=10)
        try:
            proxy = ActorProxy(client, "GrpcCounter", self.id, None, DefaultJSONSerializer())
            return json.loads(await proxy.invoke_method("GetData"))
        finally:
            await client.close()

    async def on_tick(self, state: object) -> None:
        await self._state_manager.set_state("timer", state)
        await self._state_manager.save_state()

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        await self._state_manager.set_state("reminder", {"name": name, "state": state.decode()})
        await self._state_manager.save_state()


async def main() -> None:
    idle = float(sys.argv[1]) if len(sys.argv) > 1 else 3600.0
    reentrancy = ActorReentrancyConfig(enabled="reentrant" in sys.argv[2:])
    ActorRuntime.set_actor_config(
        ActorRuntimeConfig(actor_idle_timeout=timedelta(seconds=idle), reentrancy=reentrancy)
    )
    host = ActorGrpcHost()
    await host.register_actor(GrpcCounter)
    print("GrpcCounter host started", flush=True)
    await host.run_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
