"""An actor app written with the official SDK (``dapr.ext.fastapi.DaprActor``) for the actor HTTP
API tests.

``CounterActor`` (reentrancy enabled): ``Add`` adds to a total kept in actor state, ``Total``
reads it, ``Hold`` sleeps and answers when it started and ended (``time.monotonic()``, one clock
for all processes) to show whether calls overlapped, ``StartTimer`` registers a 200 ms timer whose
callback counts ``ticks`` in state, ``Reenter`` calls the actor itself through ``ActorProxy``
(which only returns when the sidecar lets the nested call into the turn), ``Whoami`` answers the
sidecar's name, ``Fail`` raises. ``IdleActor`` has a 2 s idle timeout and logs its deactivations
to ``ACTIVATION_LOG``. Environment: ``APP_PORT``, ``DAPR_HTTP_PORT``, ``SIDECAR_NAME``,
``ACTIVATION_LOG``, and ``TRACE_LOG`` (optional: each method call's path and traceparent).
"""

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import uvicorn
from dapr.actor import Actor, ActorInterface, ActorProxy, actormethod
from dapr.actor.runtime.config import ActorReentrancyConfig, ActorRuntimeConfig, ActorTypeConfig
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI

SIDECAR = os.environ.get("SIDECAR_NAME", "")
LOG = open(os.environ["ACTIVATION_LOG"], "a", buffering=1)  # noqa: SIM115 (open for the app's life)


def log(event: str, actor_type: str, actor_id: str) -> None:
    LOG.write(json.dumps({"ev": event, "type": actor_type, "id": actor_id, "t": time.monotonic()}) + "\n")
    LOG.flush()


class CounterActorInterface(ActorInterface):
    @actormethod(name="Add")
    async def add(self, n: int) -> int: ...

    @actormethod(name="Total")
    async def total(self) -> int: ...

    @actormethod(name="Hold")
    async def hold(self, ms: int) -> dict[str, float]: ...

    @actormethod(name="StartTimer")
    async def start_timer(self) -> None: ...

    @actormethod(name="Ticks")
    async def ticks(self) -> int: ...

    @actormethod(name="Reenter")
    async def reenter(self) -> str: ...

    @actormethod(name="Whoami")
    async def whoami(self) -> str: ...

    @actormethod(name="Fail")
    async def fail(self) -> None: ...


class CounterActor(Actor, CounterActorInterface):
    async def add(self, n: int) -> int:
        found, total = await self._state_manager.try_get_state("total")
        total = (total if found else 0) + n
        await self._state_manager.set_state("total", total)
        return int(total)

    async def total(self) -> int:
        found, total = await self._state_manager.try_get_state("total")
        return int(total) if found else 0

    async def hold(self, ms: int) -> dict[str, float]:
        start = time.monotonic()
        await asyncio.sleep(ms / 1000)
        return {"start": start, "end": time.monotonic()}

    async def start_timer(self) -> None:
        await self.register_timer(
            "tick", self.on_tick, None, due_time=timedelta(0), period=timedelta(milliseconds=200)
        )

    async def on_tick(self, _: Any) -> None:
        found, ticks = await self._state_manager.try_get_state("ticks")
        await self._state_manager.set_state("ticks", (ticks if found else 0) + 1)

    async def ticks(self) -> int:
        found, ticks = await self._state_manager.try_get_state("ticks")
        return int(ticks) if found else 0

    async def reenter(self) -> str:
        me = ActorProxy.create("CounterActor", self.id, CounterActorInterface)
        total = await me.Total()
        return f"reentered:{total}"

    async def whoami(self) -> str:
        return SIDECAR

    async def fail(self) -> None:
        raise RuntimeError("the actor method failed on purpose")


class IdleActorInterface(ActorInterface):
    @actormethod(name="Ping")
    async def ping(self) -> str: ...


class IdleActor(Actor, IdleActorInterface):
    async def _on_activate(self) -> None:
        log("activate", "IdleActor", self.id.id)

    async def _on_deactivate(self) -> None:
        log("deactivate", "IdleActor", self.id.id)

    async def ping(self) -> str:
        return "pong"


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    await actor.register_actor(CounterActor)
    await actor.register_actor(IdleActor)
    yield


ActorRuntime.set_actor_config(
    ActorRuntimeConfig(
        actor_idle_timeout=timedelta(hours=1),
        actor_scan_interval=timedelta(seconds=1),
        drain_ongoing_call_timeout=timedelta(seconds=5),
        drain_rebalanced_actors=True,
        reentrancy=ActorReentrancyConfig(enabled=True),
        actor_type_configs=[
            ActorTypeConfig("IdleActor", actor_idle_timeout=timedelta(seconds=2)),
        ],
    )
)
app = FastAPI(lifespan=lifespan)
actor = DaprActor(app)

if os.environ.get("TRACE_LOG"):  # the tracing test: each actor method call's traceparent
    TRACES = open(os.environ["TRACE_LOG"], "a", buffering=1)  # noqa: SIM115 (open for the app's life)

    @app.middleware("http")
    async def record_traceparent(request: Any, call_next: Any) -> Any:
        if "/method/" in request.url.path:
            record = {"path": request.url.path, "traceparent": request.headers.get("traceparent")}
            TRACES.write(json.dumps(record) + "\n")
        return await call_next(request)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), log_level="warning")
