"""A small actor app on Dapr's actor callback wire (aiohttp) that records every reminder it receives.

It answers what a sidecar asks an actor app: ``GET /dapr/config`` (one type, ``$ACTOR_TYPE``),
``GET /healthz``, ``PUT /actors/{type}/{id}/method/remind/{name}`` (the reminder fired: one JSON line
``{"id", "name", "t", "sidecar", "body"}`` appended to ``$RECORD``, ``t`` = ``time.monotonic()``),
``DELETE /actors/{type}/{id}`` (deactivation) and any other method call. No SDK: at a thousand
fires a second the SDK's FastAPI stack would take a CPU of its own on this two-core machine, and
what is under test is the sidecar's delivery, not the app.

Environment: ``APP_PORT``, ``ACTOR_TYPE``, ``SIDECAR_NAME``, ``RECORD``.
"""

import json
import os
import time

from aiohttp import web

TYPE = os.environ["ACTOR_TYPE"]
SIDECAR = os.environ["SIDECAR_NAME"]
OUT = open(os.environ["RECORD"], "a", buffering=1)  # noqa: SIM115 (open for the app's life)
CONFIG = {
    "entities": [TYPE],
    "actorIdleTimeout": "1h",
    "actorScanInterval": "30s",
    "drainOngoingCallTimeout": "5s",
    "drainRebalancedActors": True,
}


async def config(_: web.Request) -> web.Response:
    return web.json_response(CONFIG)


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def remind(request: web.Request) -> web.Response:
    body = await request.read()
    m = request.match_info
    line = {"id": m["id"], "name": m["name"], "t": time.monotonic(), "sidecar": SIDECAR}
    OUT.write(json.dumps({**line, "body": json.loads(body) if body else None}) + "\n")
    return web.Response(status=200)


async def method(_: web.Request) -> web.Response:
    return web.json_response({"sidecar": SIDECAR})


async def deactivate(_: web.Request) -> web.Response:
    return web.Response(status=200)


app = web.Application()
app.add_routes(
    [
        web.get("/dapr/config", config),
        web.get("/healthz", healthz),
        web.put("/actors/{type}/{id}/method/remind/{name}", remind),
        web.put("/actors/{type}/{id}/method/{method}", method),
        web.delete("/actors/{type}/{id}", deactivate),
    ]
)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), print=None, access_log=None)
