"""A subscriber app for the outbox tests: records every event of the outbox topic in a file."""

from __future__ import annotations

import json
import os
import sys

import uvicorn
from dapr.ext.fastapi import DaprApp
from fastapi import FastAPI, Request

app = FastAPI()
dapr_app = DaprApp(app)
OUT = sys.argv[1]


@dapr_app.subscribe(pubsub="pubsub", topic=os.environ["OUTBOX_TOPIC"], route="/orders-changed")
async def changed(request: Request) -> dict[str, str]:
    event = await request.json()
    with open(OUT, "a") as f:  # noqa: ASYNC230 - a tiny append in a test app
        f.write(json.dumps({"data": event.get("data"), "type": event.get("datacontenttype")}) + "\n")
    return {"status": "SUCCESS"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), log_level="warning")
