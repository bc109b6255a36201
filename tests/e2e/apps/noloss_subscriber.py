"""A subscriber app for the no-loss test: a plain aiohttp server that subscribes to one topic
programmatically and appends the sequence number of every event it is handed to a file.

Each line is flushed (not fsynced) before the app answers SUCCESS, so a number on file means the app
saw that event; a number written but whose answer was lost to a kill shows up as a duplicate later.

It then waits DELAY_MS (default 0) before answering, as an app doing some work would: that keeps
events in flight between "handled" and "acknowledged", the window a kill must not lose anything in.

Environment: APP_PORT, PUBSUB, TOPIC, OUT (the file, opened for appending so restarts add to it),
DELAY_MS.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from aiohttp import web

PUBSUB = os.environ["PUBSUB"]
TOPIC = os.environ["TOPIC"]
DELAY = float(os.environ.get("DELAY_MS", "0")) / 1000
OUT = open(os.environ["OUT"], "a", encoding="ascii")  # noqa: SIM115 - open for the app's lifetime


async def subscribe(_: web.Request) -> web.Response:
    return web.json_response([{"pubsubname": PUBSUB, "topic": TOPIC, "route": "/events"}])


def sequence_number(event: dict[str, Any]) -> int:
    data: Any = event["data"]
    if isinstance(data, str):
        data = json.loads(data)
    return int(data["n"])


async def events(request: web.Request) -> web.Response:
    event = json.loads(await request.read())
    OUT.write(f"{sequence_number(event)}\n")
    OUT.flush()
    if DELAY:
        await asyncio.sleep(DELAY)
    return web.json_response({"status": "SUCCESS"})


def main() -> None:
    app = web.Application()
    app.router.add_get("/dapr/subscribe", subscribe)
    app.router.add_post("/events", events)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), print=None, access_log=None)


if __name__ == "__main__":
    main()
