"""An orders service, the app of docs/testing.md: FastAPI with Dapr state and pub/sub.

- ``POST /orders/{id}`` (called through Dapr service invocation) saves the order in the state store
  with status ``placed`` and publishes it on the ``orders`` topic;
- the ``orders`` subscription marks the order ``shipped`` in the state store;
- ``GET /orders/{id}`` reads it back (404 if there is none).

Run it beside a sidecar: ``pydapr run --app-id orders --app-port 8000 -- uvicorn app:app --port 8000``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from dapr.clients import DaprClient
from dapr.ext.fastapi import DaprApp
from fastapi import Body, FastAPI, HTTPException, Request

STORE = "statestore"
PUBSUB = "pubsub"
TOPIC = "orders"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client for the app's life: it finds the sidecar through DAPR_GRPC_PORT / DAPR_HTTP_PORT,
    # which `pydapr run` (and the test plugin) put in the app's environment.
    with DaprClient() as client:
        app.state.dapr = client
        yield


app = FastAPI(lifespan=lifespan)
dapr_app = DaprApp(app)


def _dapr(request: Request) -> DaprClient:
    client: DaprClient = request.app.state.dapr
    return client


@app.post("/orders/{order_id}")
def place_order(order_id: str, request: Request, order: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    placed = {**order, "id": order_id, "status": "placed"}
    client = _dapr(request)
    client.save_state(STORE, f"order-{order_id}", json.dumps(placed))
    client.publish_event(PUBSUB, TOPIC, json.dumps(placed), data_content_type="application/json")
    return placed


@dapr_app.subscribe(pubsub=PUBSUB, topic=TOPIC)
def order_placed(request: Request, event: Annotated[dict[str, Any], Body()]) -> dict[str, str]:
    order = event["data"]
    shipped = {**order, "status": "shipped"}
    _dapr(request).save_state(STORE, f"order-{order['id']}", json.dumps(shipped))
    return {"status": "SUCCESS"}


@app.get("/orders/{order_id}")
def get_order(order_id: str, request: Request) -> dict[str, Any]:
    item = _dapr(request).get_state(STORE, f"order-{order_id}")
    if not item.data:
        raise HTTPException(status_code=404, detail=f"no order {order_id}")
    order: dict[str, Any] = json.loads(item.data)
    return order
