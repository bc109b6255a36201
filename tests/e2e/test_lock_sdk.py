"""Distributed locks end to end: the official SDK and plain HTTP against sidecars sharing a lock store."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from dapr.clients import DaprClient
from dapr.clients.grpc._response import UnlockResponseStatus

from tests.e2e.harness import Processes, Sidecar

# The SDK warns that the lock API is alpha on every call.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:The Distributed Lock API:UserWarning")]

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: redislock
spec:
  type: lock.redis
  version: v1
  metadata:
  - name: redisHost
    value: 127.0.0.1:6379
  - name: keyPrefix
    value: {prefix}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: locallock
spec:
  type: lock.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: {db}
  - name: keyPrefix
    value: none
"""


def _resources(procs: Processes, prefix: str) -> Path:
    path = procs.workdir / "resources"
    path.mkdir(exist_ok=True)
    (path / "locks.yaml").write_text(COMPONENTS.format(prefix=prefix, db=procs.workdir / "locks.db"))
    return path


def _post(sidecar: Sidecar, path: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(sidecar.url + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("store", ["redislock", "locallock"])
def test_sdk_try_lock_context_manager_and_unlock(procs: Processes, dapr_settings: Any, store: str) -> None:
    sidecar = procs.sidecar("lock-app", resources=_resources(procs, f"p-{uuid.uuid4().hex}"))
    dapr_settings(sidecar)
    resource = f"order-{uuid.uuid4().hex}"
    with DaprClient() as client:
        with client.try_lock(store, resource, "alice", expiry_in_seconds=30) as lock:
            assert lock.success
            assert not client.try_lock(store, resource, "bob", expiry_in_seconds=30).success
            assert client.unlock(store, resource, "bob").status == UnlockResponseStatus.lock_belongs_to_others
        # Leaving the block released the lock.
        assert client.unlock(store, resource, "alice").status == UnlockResponseStatus.lock_does_not_exist
        with client.try_lock(store, resource, "bob", expiry_in_seconds=30) as lock:
            assert lock.success
        assert client.unlock(store, resource, "x").status == UnlockResponseStatus.lock_does_not_exist


def test_http_lock_api_and_error_codes(procs: Processes) -> None:
    sidecar = procs.sidecar("lock-http", resources=_resources(procs, "appid"))
    resource = f"r-{uuid.uuid4().hex}"
    lock = {"resourceId": resource, "lockOwner": "o1", "expiryInSeconds": 30}
    assert _post(sidecar, "/v1.0-alpha1/lock/redislock", lock) == (200, {"success": True})
    assert _post(sidecar, "/v1.0-alpha1/lock/redislock", {**lock, "lockOwner": "o2"}) == (
        200,
        {"success": False},
    )
    unlock = {"resourceId": resource, "lockOwner": "o2"}
    assert _post(sidecar, "/v1.0-alpha1/unlock/redislock", unlock) == (200, {"status": 2})
    assert _post(sidecar, "/v1.0-alpha1/unlock/redislock", {**unlock, "lockOwner": "o1"}) == (
        200,
        {"status": 0},
    )
    assert _post(sidecar, "/v1.0-alpha1/unlock/redislock", {**unlock, "lockOwner": "o1"}) == (
        200,
        {"status": 1},
    )
    bad = [
        (
            "/v1.0-alpha1/lock/redislock",
            {"lockOwner": "o", "expiryInSeconds": 10},
            400,
            "ERR_RESOURCE_ID_EMPTY",
        ),
        ("/v1.0-alpha1/lock/redislock", {"resourceId": "r", "expiryInSeconds": 10}, 400, "ERR_OWNER_EMPTY"),
        (
            "/v1.0-alpha1/lock/redislock",
            {"resourceId": "r", "lockOwner": "o"},
            400,
            "ERR_EXPIRY_NOT_POSITIVE",
        ),
        ("/v1.0-alpha1/lock/nolock", lock, 404, "ERR_LOCK_NOT_FOUND"),
        ("/v1.0-alpha1/lock/redislock", {**lock, "resourceId": "a||b"}, 500, "ERR_TRY_LOCK"),
        ("/v1.0-alpha1/unlock/redislock", {"resourceId": "a||b", "lockOwner": "o"}, 500, "ERR_UNLOCK"),
        ("/v1.0-alpha1/lock/redislock", {"resourceId": 5}, 400, "ERR_MALFORMED_REQUEST"),
    ]
    for path, body, status, code in bad:
        got_status, got = _post(sidecar, path, body)
        assert (got_status, got["errorCode"]) == (status, code), (path, body, got)


def test_no_lock_store_is_not_configured(procs: Processes) -> None:
    sidecar = procs.sidecar("nolocks", resources=procs.workdir)
    body = {"resourceId": "r", "lockOwner": "o", "expiryInSeconds": 5}
    status, got = _post(sidecar, "/v1.0-alpha1/lock/lockstore", body)
    assert (status, got) == (
        500,
        {"errorCode": "ERR_LOCK_NOT_CONFIGURED", "message": "lock lockstore is not configured"},
    )


def test_two_sidecars_exclude_each_other(procs: Processes) -> None:
    """Many clients on two sidecars (one lock store): never two holders; the counter proves it."""
    resources = _resources(procs, "shared")
    sidecars = [procs.sidecar(f"locker-{i}", resources=resources) for i in range(2)]
    resource = f"counter-{uuid.uuid4().hex}"
    holders: list[str] = []
    overlaps: list[list[str]] = []
    acquired: list[str] = []
    guard = threading.Lock()

    def client(index: int) -> None:
        sidecar = sidecars[index % 2]
        owner = f"client-{index}"
        for _ in range(10):
            body = {"resourceId": resource, "lockOwner": owner, "expiryInSeconds": 10}
            if _post(sidecar, "/v1.0-alpha1/lock/redislock", body)[1]["success"]:
                with guard:
                    holders.append(owner)
                    if len(holders) > 1:
                        overlaps.append(list(holders))
                    acquired.append(owner)
                with guard:
                    holders.remove(owner)
                unlock = {"resourceId": resource, "lockOwner": owner}
                assert _post(sidecar, "/v1.0-alpha1/unlock/redislock", unlock) == (200, {"status": 0})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert overlaps == []
    assert len(acquired) >= 5
