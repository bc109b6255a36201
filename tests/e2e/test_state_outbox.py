"""Transactional outbox end to end: a state transaction made with the official SDK and the event
announcing it reach the store and the subscriber together, or neither does."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import APPS
from tests.e2e.harness import Processes, Sidecar, free_port, records, wait_port

pytestmark = pytest.mark.e2e


def _resources(tmp_path: Path, topic: str) -> Path:
    res = tmp_path / "res"
    res.mkdir()
    (res / "state.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\nspec:\n"
        "  type: state.sqlite\n  version: v1\n  metadata:\n"
        f"  - name: connectionString\n    value: {tmp_path / 'state.db'}\n"
        "  - name: outboxPublishPubsub\n    value: pubsub\n"
        f"  - name: outboxPublishTopic\n    value: {topic}\n"
    )
    (res / "pubsub.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n"
        "  type: pubsub.pydapr-sqlite\n  version: v1\n  metadata:\n"
        f"  - name: path\n    value: {tmp_path / 'pubsub.db'}\n"
    )
    return res


def _events(path: Path, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = records(path)
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    return records(path)


def _start(procs: Processes, tmp_path: Path, topic: str, received: Path) -> Sidecar:
    app_port = free_port()
    sidecar = procs.sidecar("shop", app_port=app_port, resources=_resources(tmp_path, topic))
    app = procs.app(
        "shop",
        APPS / "outbox_subscriber.py",
        env={"APP_PORT": str(app_port), "OUTBOX_TOPIC": topic},
        args=[str(received)],
    )
    wait_port(app_port, proc=app)
    procs.wait_healthy(sidecar)
    return sidecar


def test_transaction_and_event_commit_together(procs: Processes, tmp_path: Path, dapr_settings: Any) -> None:
    from dapr.clients import DaprClient
    from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType

    topic = f"orders-{uuid.uuid4().hex[:8]}"
    received = tmp_path / "received.jsonl"
    sidecar = _start(procs, tmp_path, topic, received)
    dapr_settings(sidecar, "grpc")
    with DaprClient(address=f"127.0.0.1:{sidecar.grpc_port}") as client:
        client.execute_state_transaction(
            "statestore",
            [TransactionalStateOperation(key="order1", data=json.dumps({"id": 1, "item": "book"}))],
        )
        assert json.loads(client.get_state("statestore", "order1").data) == {"id": 1, "item": "book"}
        events = _events(received, 1)
        assert [e["data"] for e in events] == [{"id": 1, "item": "book"}]

        # A projection shapes the event and is not saved.
        client.execute_state_transaction(
            "statestore",
            [
                TransactionalStateOperation(key="order2", data=json.dumps({"id": 2, "secret": "x"})),
                TransactionalStateOperation(
                    key="order2", data=json.dumps({"id": 2}), metadata={"outbox.projection": "true"}
                ),
            ],
        )
        assert json.loads(client.get_state("statestore", "order2").data) == {"id": 2, "secret": "x"}
        events = _events(received, 2)
        assert events[1]["data"] == {"id": 2}

        # A transaction that fails (stale ETag) stores nothing and announces nothing.
        stale = TransactionalStateOperation(
            key="order1",
            data=json.dumps({"id": 1, "item": "pen"}),
            etag="999999",
            operation_type=TransactionOperationType.upsert,
        )
        with pytest.raises(Exception, match=r"(?i)etag|mismatch|aborted"):
            client.execute_state_transaction("statestore", [stale])
        assert json.loads(client.get_state("statestore", "order1").data) == {"id": 1, "item": "book"}
        time.sleep(1.0)
        assert len(_events(received, 3, timeout=0.5)) == 2

        # Outbox records are the sidecar's own: users never see them.
    status_body = _list_keys(sidecar)
    assert sorted(status_body["keys"]) == ["order1", "order2"]


def _list_keys(sidecar: Sidecar) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{sidecar.url}/v1.0-alpha1/pydapr/state/statestore/keys", timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_outbox_needs_a_loaded_pubsub(procs: Processes, tmp_path: Path) -> None:
    import subprocess
    import sys

    res = _resources(tmp_path, "t")
    (res / "pubsub.yaml").unlink()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pydapr",
            "sidecar",
            "--app-id",
            "x",
            "--dapr-http-port",
            str(free_port()),
            "--dapr-grpc-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--resources-path",
            str(res),
        ],
        env=procs.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 1
    assert "metadata.outboxPublishPubsub: no pub/sub component named 'pubsub' is loaded" in out.stderr
