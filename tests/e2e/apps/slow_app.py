"""A plain aiohttp app for invocation tests: ``GET /who`` answers the instance's name (``INSTANCE``),
``POST /slow`` the same after ``SLOW_SECONDS`` (default 1)."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

INSTANCE = os.environ["INSTANCE"]
SLOW = float(os.environ.get("SLOW_SECONDS", "1"))


async def who(_: web.Request) -> web.Response:
    return web.Response(text=INSTANCE)


async def slow(request: web.Request) -> web.Response:
    await request.read()
    await asyncio.sleep(SLOW)
    return web.Response(text=INSTANCE)


app = web.Application()
app.router.add_get("/who", who)
app.router.add_post("/slow", slow)
web.run_app(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), print=None)
