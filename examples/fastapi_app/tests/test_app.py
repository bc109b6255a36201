"""The orders app against a real sidecar: state, pub/sub delivery, service invocation."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from dapr.clients import DaprClient

from pydapr.testing.sidecar import Sidecar

# Pub/sub delivers asynchronously: how long a test waits for the subscription's effect.
DELIVERY_TIMEOUT = 10.0


def wait_for_order(client: DaprClient, order_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        data = client.get_state("statestore", f"order-{order_id}").data
        order: dict[str, Any] = json.loads(data) if data else {}
        if order.get("status") == status or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


def invoke(sidecar: Sidecar, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Calls the app through the sidecar's HTTP API, as another Dapr app would."""
    request = urllib.request.Request(
        f"{sidecar.http_url}/v1.0/invoke/{sidecar.app_id}/method/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_subscription_ships_a_published_order(dapr_client: DaprClient) -> None:
    order = {"id": "1", "item": "book", "status": "placed"}
    dapr_client.publish_event("pubsub", "orders", json.dumps(order), data_content_type="application/json")

    assert wait_for_order(dapr_client, "1", "shipped") == {**order, "status": "shipped"}


def test_an_order_placed_through_invocation_is_saved_then_shipped(
    dapr_sidecar: Sidecar, dapr_client: DaprClient
) -> None:
    placed = invoke(dapr_sidecar, "POST", "orders/2", {"item": "lamp"})

    assert placed == {"id": "2", "item": "lamp", "status": "placed"}
    assert wait_for_order(dapr_client, "2", "shipped")["status"] == "shipped"
    assert invoke(dapr_sidecar, "GET", "orders/2") == {"id": "2", "item": "lamp", "status": "shipped"}


def test_an_unknown_order_is_404(dapr_sidecar: Sidecar) -> None:
    with pytest.raises(urllib.error.HTTPError) as answer:
        invoke(dapr_sidecar, "GET", "orders/none")
    assert answer.value.code == 404
