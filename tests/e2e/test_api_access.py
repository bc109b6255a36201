"""Configuration settings a user relies on for protection, tried against a live sidecar: ``spec.api``
allowed / denied over HTTP and gRPC (with the official SDK), ``spec.components.deny``, and gRPC API
logging."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.proto import api_v1
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.e2e.harness import Processes, Sidecar
from tests.e2e.test_invoke import call

pytestmark = pytest.mark.e2e

STORE = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: state.db
"""
PUBSUB = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
"""
FILES = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: files
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - name: rootPath
    value: files
"""


def _config(tmp_path: Path, spec: str) -> Path:
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(
        f"apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: access\nspec:\n{spec}"
    )
    return path


def _resources(tmp_path: Path, *docs: str) -> Path:
    resources = tmp_path / f"resources-{uuid.uuid4().hex[:6]}"
    resources.mkdir()
    for i, doc in enumerate(docs):
        (resources / f"r{i}.yaml").write_text(doc)
    return resources


def _error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


def _save(sidecar: Sidecar, key: str) -> int:
    body = json.dumps([{"key": key, "value": "v"}]).encode()
    return call(sidecar.url + "/v1.0/state/statestore", "POST", body, {"content-type": "application/json"})[0]


def test_denied_http_state_is_gone_over_http_and_still_served_over_grpc(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    config = _config(
        tmp_path, "  api:\n    denied:\n    - name: state\n      version: v1.0\n      protocol: http\n"
    )
    sidecar = procs.sidecar("denyhttp", resources=_resources(tmp_path, STORE), config=config)
    dapr_settings(sidecar)
    # As daprd: a denied route is not served at all, so it answers as an unknown path does.
    assert _save(sidecar, "k") == 404
    assert call(sidecar.url + "/v1.0/state/statestore/k")[0] == 404
    # Other APIs and the probes stay; the rule was for HTTP only, so gRPC state still works.
    assert call(sidecar.url + "/v1.0/metadata")[0] == 200
    assert call(sidecar.url + "/v1.0/healthz")[0] == 204
    with DaprClient() as client:
        client.save_state("statestore", "k", "over-grpc")
        assert client.get_state("statestore", "k").data == b"over-grpc"


def test_allowed_list_over_grpc_refuses_the_rest_with_daprs_status(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    config = _config(
        tmp_path,
        "  api:\n    allowed:\n    - name: state\n      version: v1\n      protocol: grpc\n",
    )
    sidecar = procs.sidecar("allowgrpc", resources=_resources(tmp_path, STORE, PUBSUB), config=config)
    dapr_settings(sidecar)
    with DaprClient() as client:
        client.save_state("statestore", "k", "fine")
        assert client.get_state("statestore", "k").data == b"fine"
        with pytest.raises(grpc.RpcError) as caught:
            # The SDK's own stub, so the raw status is seen (its wrapper re-raises as DaprGrpcError).
            client._stub.PublishEvent(
                api_v1.PublishEventRequest(
                    pubsub_name="pubsub", topic="t", data=b"{}", data_content_type="application/json"
                )
            )
    err = caught.value
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    assert err.details() == "Not Implemented"  # type: ignore[attr-defined]
    info = _error_info(err)
    assert info.metadata["http.code"] == "501"
    assert info.metadata["http.error_message"] == "requested endpoint is not available"
    # HTTP has no rules, so the HTTP API is all there.
    assert (
        call(sidecar.url + "/v1.0/publish/pubsub/t", "POST", b"{}", {"content-type": "application/json"})[0]
        == 204
    )


def test_denied_publish_over_grpc_fails_with_the_sdk(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    config = _config(
        tmp_path, "  api:\n    denied:\n    - name: publish\n      version: v1\n      protocol: grpc\n"
    )
    sidecar = procs.sidecar("denypub", resources=_resources(tmp_path, PUBSUB, STORE), config=config)
    dapr_settings(sidecar)
    with DaprClient() as client:
        with pytest.raises(DaprGrpcError) as caught:
            client.publish_event("pubsub", "orders", data=json.dumps({"id": 1}))
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        client.save_state("statestore", "k", "still")  # not denied


def test_allowed_http_by_url_version_and_denied_wins(procs: Processes, tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "  api:\n    allowed:\n    - name: state\n      version: v1.0\n      protocol: http\n"
        "    - name: metadata\n      version: v1\n      protocol: http\n"
        "    denied:\n    - name: metadata\n      version: v1.0\n      protocol: http\n",
    )
    sidecar = procs.sidecar("allowhttp", resources=_resources(tmp_path, STORE, PUBSUB), config=config)
    assert _save(sidecar, "a") == 204
    assert call(sidecar.url + "/v1.0/state/statestore/a")[0] == 200
    assert call(sidecar.url + "/v1.0/metadata")[0] == 404  # allowed, but denied as well: denied wins
    assert (
        call(sidecar.url + "/v1.0/publish/pubsub/t", "POST", b"{}", {"content-type": "application/json"})[0]
        == 404
    )  # not in the allowed list
    # Invocation is not allowed either, so the dapr-app-id header fallback is gone too.
    assert call(sidecar.url + "/anything", headers={"dapr-app-id": "allowhttp"})[0] == 404
    assert call(sidecar.url + "/v1.0/healthz")[0] == 204  # always served


def test_rule_without_protocol_is_named_at_startup(procs: Processes, tmp_path: Path) -> None:
    config = _config(tmp_path, "  api:\n    denied:\n    - name: state\n      version: v1.0\n")
    sidecar = procs.sidecar("noproto", resources=_resources(tmp_path, STORE), config=config)
    assert "names no protocol and applies to neither HTTP nor gRPC" in sidecar.log()
    assert config.name in sidecar.log()
    assert _save(sidecar, "k") == 204  # as daprd: such a rule applies nowhere


def test_components_deny_skips_the_denied_type_and_says_so(procs: Processes, tmp_path: Path) -> None:
    config = _config(
        tmp_path, "  components:\n    deny:\n    - bindings.localstorage\n    - state.redis/v2\n"
    )
    sidecar = procs.sidecar("denycomp", resources=_resources(tmp_path, FILES, STORE), config=config)
    status, _, body = call(sidecar.url + "/v1.0/metadata")
    assert status == 200
    names = {c["name"] for c in json.loads(body).get("components", [])}
    assert names == {"statestore"}  # state.sqlite is not denied; state.redis/v2 matches nothing here
    assert "component 'files' cannot be loaded" in sidecar.log()
    assert "spec.components.deny" in sidecar.log()
    status, _, body = call(
        sidecar.url + "/v1.0/bindings/files",
        "POST",
        b'{"operation":"create","data":"x"}',
        {"content-type": "application/json"},
    )
    assert status >= 400 and b"files" in body


def test_grpc_api_logging(procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]) -> None:
    config = _config(tmp_path, "  logging:\n    apiLogging:\n      enabled: true\n")
    sidecar = procs.sidecar("grpclog", resources=_resources(tmp_path, STORE), config=config)
    dapr_settings(sidecar)
    with DaprClient() as client:
        client.save_state("statestore", "k", "v")
        with pytest.raises(DaprGrpcError):
            client.get_state("nosuchstore", "k")
    deadline = time.monotonic() + 5
    while "GetState" not in sidecar.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = sidecar.log()
    called = 'msg="gRPC API Called" app_id=grpclog code=%d .* method=/dapr.proto.runtime.v1.Dapr/%s '
    assert re.search(called % (0, "SaveState"), log), log
    assert re.search(called % (3, "GetState"), log), log  # INVALID_ARGUMENT


def test_a_denied_streaming_method_is_refused(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    config = _config(
        tmp_path,
        "  api:\n    denied:\n    - name: subscribe\n      version: v1alpha1\n      protocol: grpc\n",
    )
    sidecar = procs.sidecar("denystream", resources=_resources(tmp_path, PUBSUB), config=config)
    dapr_settings(sidecar)
    initial = api_v1.SubscribeTopicEventsRequestAlpha1(
        initial_request=api_v1.SubscribeTopicEventsRequestInitialAlpha1(pubsub_name="pubsub", topic="t")
    )
    with DaprClient() as client:
        stream = client._stub.SubscribeTopicEventsAlpha1(iter([initial]), timeout=10)
        with pytest.raises(grpc.RpcError) as caught:
            next(iter(stream))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]


def test_streaming_through_the_logging_chain_still_delivers(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    config = _config(tmp_path, "  logging:\n    apiLogging:\n      enabled: true\n")
    sidecar = procs.sidecar("logstream", resources=_resources(tmp_path, PUBSUB), config=config)
    dapr_settings(sidecar)
    with DaprClient() as client:
        subscription: Any = client.subscribe("pubsub", "streamed")
        try:
            client.publish_event(
                "pubsub", "streamed", json.dumps({"n": 1}), data_content_type="application/json"
            )
            message = subscription.next_message()
            assert message.data() == {"n": 1}
            subscription.respond_success(message)
        finally:
            subscription.close()
    # The stream's line is written when it ends, once the client has closed it.
    deadline = time.monotonic() + 5
    while "Dapr/SubscribeTopicEventsAlpha1" not in sidecar.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 'msg="gRPC API Called"' in sidecar.log()
    assert "method=/dapr.proto.runtime.v1.Dapr/SubscribeTopicEventsAlpha1 " in sidecar.log()
