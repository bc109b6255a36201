"""An actor app written with the official SDK's Flask extension (``dapr.ext.flask.DaprActor``):
``FlaskCounter.Add`` adds to a total in actor state and answers it, ``Total`` reads it.
Environment: ``APP_PORT``, ``DAPR_HTTP_PORT``."""

import os

from dapr.actor import Actor, ActorInterface, actormethod
from dapr.ext.flask import DaprActor
from flask import Flask


class FlaskCounterInterface(ActorInterface):
    @actormethod(name="Add")
    async def add(self, n: int) -> int: ...

    @actormethod(name="Total")
    async def total(self) -> int: ...


class FlaskCounter(Actor, FlaskCounterInterface):
    async def add(self, n: int) -> int:
        found, total = await self._state_manager.try_get_state("total")
        total = (total if found else 0) + n
        await self._state_manager.set_state("total", total)
        return int(total)

    async def total(self) -> int:
        found, total = await self._state_manager.try_get_state("total")
        return int(total) if found else 0


app = Flask(__name__)
actor = DaprActor(app)
actor.register_actor(FlaskCounter)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["APP_PORT"]), threaded=False)
