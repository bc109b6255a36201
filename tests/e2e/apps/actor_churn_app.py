"""An actor app written with the official SDK (``dapr.ext.fastapi.DaprActor``) for the churn tests.

It hosts one type, ``ChurnActor``, whose ``Bump`` method adds one to a counter kept in actor state
(so the counter moves with the actor, through the sidecar's actor state store) and answers the new
value with the name of the sidecar it ran behind; ``Sleep`` takes the seconds it waits. Every
activation and deactivation is appended to ``ACTIVATION_LOG`` as one JSON line ``{"ev", "id",
"sidecar", "t"}`` (``t``: ``time.monotonic()``, one clock for every process on the machine),
written and flushed at once so a SIGKILL loses nothing.

Environment: ``APP_PORT``, ``DAPR_HTTP_PORT`` (the SDK's state calls), ``SIDECAR_NAME``,
``ACTIVATION_LOG``.
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
from dapr.actor import Actor, ActorInterface, actormethod
from dapr.actor.runtime.config import ActorRuntimeConfig
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI

SIDECAR = os.environ["SIDECAR_NAME"]
LOG = open(os.environ["ACTIVATION_LOG"], "a", buffering=1)  # noqa: SIM115 (open for the app's life)


def log(event: str, actor_id: str) -> None:
    LOG.write(json.dumps({"ev": event, "id": actor_id, "sidecar": SIDECAR, "t": time.monotonic()}) + "\n")
    LOG.flush()


class ChurnActorInterface(ActorInterface):
    @actormethod(name="Bump")
    async def bump(self) -> dict[str, Any]: ...

    @actormethod(name="Sleep")
    async def sleep(self, seconds: float) -> dict[str, Any]: ...


class ChurnActor(Actor, ChurnActorInterface):
    async def _on_activate(self) -> None:
        log("activate", self.id.id)

    async def _on_deactivate(self) -> None:
        log("deactivate", self.id.id)

    async def bump(self) -> dict[str, Any]:
        found, n = await self._state_manager.try_get_state("n")
        n = (n if found else 0) + 1
        await self._state_manager.set_state("n", n)
        # The SDK saves the state after the method returns, before the answer leaves the app.
        return {"n": n, "sidecar": SIDECAR}

    async def sleep(self, seconds: float) -> dict[str, Any]:
        """A slow call, to be in flight when its host dies."""
        await asyncio.sleep(seconds)
        return {"slept": seconds, "sidecar": SIDECAR}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    await actor.register_actor(ChurnActor)
    yield


# Calls last a few milliseconds: a short drain keeps a rebalance quick; idle deactivation stays out
# of the way (an hour), so every deactivation in the log is one the sidecar asked for on a rebalance.
ActorRuntime.set_actor_config(
    ActorRuntimeConfig(
        actor_idle_timeout=timedelta(hours=1),
        actor_scan_interval=timedelta(seconds=30),
        drain_ongoing_call_timeout=timedelta(seconds=5),
        drain_rebalanced_actors=True,
    )
)
app = FastAPI(lifespan=lifespan)
actor = DaprActor(app)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), log_level="warning")
