"""The subscriber app of bench/pubsub_latency.py: aiohttp, subscribes programmatically to the topics
in SUBSCRIPTIONS (a JSON list of ``{"pubsubname", "topic"}``), counts the events per topic and
answers SUCCESS; ``GET /count/{topic}`` returns the count. Environment: APP_PORT, SUBSCRIPTIONS."""

from __future__ import annotations

import json
import os
from collections import Counter

from aiohttp import web

SUBSCRIPTIONS = json.loads(os.environ["SUBSCRIPTIONS"])
COUNTS: Counter[str] = Counter()


async def subscribe(_: web.Request) -> web.Response:
    return web.json_response([{**s, "route": f"/events/{s['topic']}"} for s in SUBSCRIPTIONS])


async def event(request: web.Request) -> web.Response:
    await request.read()
    COUNTS[request.match_info["topic"]] += 1
    return web.Response(body=b'{"status":"SUCCESS"}', content_type="application/json")


async def count(request: web.Request) -> web.Response:
    return web.Response(text=str(COUNTS[request.match_info["topic"]]))


def main() -> None:
    app = web.Application()
    app.router.add_get("/dapr/subscribe", subscribe)
    app.router.add_post("/events/{topic}", event)
    app.router.add_get("/count/{topic}", count)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), print=None, access_log=None)


if __name__ == "__main__":
    main()
