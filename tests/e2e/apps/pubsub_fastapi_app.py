"""A FastAPI subscriber written with the official SDK (``dapr.ext.fastapi.DaprApp``).

Topic names come from ``TOPICS`` (JSON); every event the app receives is appended as one JSON line
to ``RECORD``. The event's ``data.answer`` says how the app replies: ``retry-once`` / ``retry`` (the
RETRY status), ``drop`` (DROP), ``404``, ``500-once``; anything else is a success. Declarative
subscriptions (routing rules, bulk) point at ``/routed/...`` and ``/bulk``.
"""

import json
import os
import sys
from typing import Any

import uvicorn
from dapr.ext.fastapi import DaprApp
from fastapi import FastAPI, Request, Response

TOPICS = json.loads(os.environ["TOPICS"])
RECORD = os.environ["RECORD"]

app = FastAPI()
dapr_app = DaprApp(app)
seen: dict[str, int] = {}


def record(route: str, event: Any, **extra: Any) -> int:
    key = f"{route}:{event.get('id') if isinstance(event, dict) else event}"
    seen[key] = seen.get(key, 0) + 1
    line = {"app": "fastapi", "route": route, "event": event, "n": seen[key], **extra}
    with open(RECORD, "a") as out:
        out.write(json.dumps(line) + "\n")
    return seen[key]


def answer_of(event: Any) -> str:
    data = event.get("data") if isinstance(event, dict) else None
    return str(data.get("answer", "")) if isinstance(data, dict) else ""


@dapr_app.subscribe(pubsub="redis", topic=TOPICS["orders"], route="/orders", dead_letter_topic=TOPICS["dead"])  # type: ignore[untyped-decorator]
async def orders(request: Request) -> Any:
    event = await request.json()
    n = record(
        "orders",
        event,
        content_type=request.headers.get("content-type"),
        pubsubname=request.headers.get("pubsubname"),
    )
    answer = answer_of(event)
    if answer == "retry" or (answer == "retry-once" and n == 1):
        return {"status": "RETRY"}
    if answer == "drop":
        return {"status": "DROP"}
    if answer == "404":
        return Response(status_code=404)
    if answer == "500-once" and n == 1:
        return Response(status_code=500)
    return {"status": "SUCCESS"}


@dapr_app.subscribe(pubsub="redis", topic=TOPICS["dead"], route="/dead")  # type: ignore[untyped-decorator]
async def dead(request: Request) -> Any:
    record("dead", await request.json())
    return {"status": "SUCCESS"}


@app.post("/routed/{which}")
async def routed(which: str, request: Request) -> Any:
    record("routed/" + which, await request.json())
    return {"status": "SUCCESS"}


@app.post("/bulk")
async def bulk(request: Request) -> Any:
    envelope = await request.json()
    statuses = []
    for entry in envelope["entries"]:
        n = record("bulk", entry["event"], batch=envelope["id"], size=len(envelope["entries"]))
        answer = answer_of(entry["event"])
        status = "SUCCESS"
        if answer == "drop":
            status = "DROP"
        elif answer == "retry-once" and n == 1:
            status = "RETRY"
        statuses.append({"entryId": entry["entryId"], "status": status})
    record(
        "bulk-envelope",
        {k: v for k, v in envelope.items() if k != "entries"},
        content_type=request.headers.get("content-type"),
    )
    return {"statuses": statuses}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
