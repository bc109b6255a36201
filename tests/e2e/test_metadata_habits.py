"""GET /v1.0/metadata and gRPC GetMetadata as daprd writes them: capabilities as daprd computes
them per component, empty fields left out over HTTP, the app channel and actor runtime always."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.e2e.harness import Processes
from tests.e2e.test_invoke import as_json, call

pytestmark = pytest.mark.e2e

RESOURCES = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: actorstore}
spec:
  type: state.in-memory
  version: v1
  metadata: [{name: actorStateStore, value: "true"}]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: redisstate}
spec:
  type: state.redis
  version: v1
  metadata: [{name: redisHost, value: "127.0.0.1:6379"}]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: redispubsub}
spec:
  type: pubsub.redis
  version: v1
  metadata: [{name: redisHost, value: "127.0.0.1:6379"}]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: mqtt}
spec:
  type: pubsub.mqtt3
  version: v1
  metadata: [{name: url, value: "tcp://127.0.0.1:1883"}]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: files}
spec:
  type: bindings.localstorage
  version: v1
  metadata: [{name: rootPath, value: "./files"}]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: ticker}
spec:
  type: bindings.cron
  version: v1
  metadata: [{name: schedule, value: "@every 1h"}]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: lockstore}
spec:
  type: lock.redis
  metadata: [{name: redisHost, value: "127.0.0.1:6379"}]
"""

EXPECTED_CAPABILITIES = {
    "actorstore": ["ETAG", "TRANSACTIONAL", "TTL", "QUERY_API", "KEYS_LIKE", "ACTOR"],
    "redisstate": ["ETAG", "TRANSACTIONAL", "TTL", "KEYS_LIKE", "ACTOR"],
    "redispubsub": [],
    "mqtt": ["SUBSCRIBE_WILDCARDS"],
    "files": ["OUTPUT_BINDING"],
    "ticker": ["INPUT_BINDING"],
    "lockstore": [],
}


@pytest.fixture
def resources(procs: Processes) -> Path:
    res = procs.workdir / "metadata-res"
    res.mkdir()
    (res / "components.yaml").write_text(RESOURCES)
    return res


def test_http_metadata_as_daprd_writes_it(procs: Processes, resources: Path) -> None:
    sidecar = procs.sidecar("meta", resources=resources)
    status, _, body = call(sidecar.url + "/v1.0/metadata")
    assert status == 200
    doc: dict[str, Any] = as_json(body)
    components = {c["name"]: c for c in doc["components"]}
    assert {n: c.get("capabilities", []) for n, c in components.items()} == EXPECTED_CAPABILITIES
    # Go's omitempty: no capabilities key for a lock store, no version key when the file has none.
    assert components["lockstore"] == {"name": "lockstore", "type": "lock.redis"}
    # No app: the channel is still described (without a port); actors are off without placement.
    assert doc["appConnectionProperties"] == {
        "protocol": "http",
        "channelAddress": "127.0.0.1",
        "maxConcurrency": -1,
    }
    assert doc["actorRuntime"] == {
        "runtimeStatus": "DISABLED",
        "hostReady": False,
        "placement": "placement: disconnected",
    }
    for empty in (
        "enabledFeatures",
        "subscriptions",
        "httpEndpoints",
        "actors",
        "workflowAccessPolicies",
        "resiliencies",
    ):
        assert empty not in doc
    assert doc["extended"]["daprRuntimeVersion"] == doc["runtimeVersion"]


def test_grpc_metadata_matches(procs: Processes, resources: Path) -> None:
    from dapr.proto.runtime.v1 import dapr_pb2_grpc, metadata_pb2

    sidecar = procs.sidecar("meta", resources=resources)
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        # daprd takes an empty key as a no-op, not an error.
        stub.SetMetadata(metadata_pb2.SetMetadataRequest(key="", value="x"), timeout=5)
        meta = stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=5)
    got = {c.name: list(c.capabilities) for c in meta.registered_components}
    assert got == EXPECTED_CAPABILITIES
    assert meta.actor_runtime.runtime_status == metadata_pb2.ActorRuntime.DISABLED
    assert meta.actor_runtime.placement == "placement: disconnected"
    assert (meta.app_connection_properties.protocol, meta.app_connection_properties.max_concurrency) == (
        "http",
        -1,
    )
    assert "" not in meta.extended_metadata


POLICIES = """\
apiVersion: dapr.io/v1alpha1
kind: WorkflowAccessPolicy
metadata: {name: only-billing}
spec:
  rules:
  - callers: [{appID: billing}]
    workflows: [{name: "Order*", operations: [schedule, get]}]
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: calm}
spec:
  policies: {timeouts: {short: 2s}}
  targets: {apps: {billing: {timeout: short}}}
"""


def test_loaded_policies_and_resiliencies_are_listed(procs: Processes) -> None:
    """daprd 1.18 lists the WorkflowAccessPolicy and Resiliency resources in effect by name."""
    from dapr.proto.runtime.v1 import dapr_pb2_grpc, metadata_pb2

    res = procs.workdir / "metadata-policies"
    res.mkdir()
    (res / "policies.yaml").write_text(POLICIES)
    sidecar = procs.sidecar("metapol", resources=res)
    doc = as_json(call(sidecar.url + "/v1.0/metadata")[2])
    assert doc["workflowAccessPolicies"] == [{"name": "only-billing"}]
    assert doc["resiliencies"] == [{"name": "calm"}]
    assert "workflows" not in doc  # no workflow worker connected
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        meta = dapr_pb2_grpc.DaprStub(channel).GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=5)
    assert [p.name for p in meta.workflow_access_policies] == ["only-billing"]
    assert [r.name for r in meta.resiliencies] == ["calm"]
    assert meta.workflows.connected_workers == 0


def test_health_durations_are_go_durations(procs: Processes) -> None:
    sidecar = procs.sidecar(
        "probed",
        app_port=1,
        args=[
            "--enable-app-health-check",
            "--app-health-probe-interval",
            "90",
            "--app-health-threshold",
            "2",
        ],
        wait=False,
    )
    procs.wait_healthy(sidecar, "/v1.0/healthz/outbound")
    doc = as_json(call(sidecar.url + "/v1.0/metadata")[2])
    assert doc["appConnectionProperties"]["health"] == {
        "healthCheckPath": "/healthz",
        "healthProbeInterval": "1m30s",
        "healthProbeTimeout": "500ms",
        "healthThreshold": 2,
    }
