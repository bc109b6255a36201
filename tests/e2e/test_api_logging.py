"""API logging on a live sidecar, read from its stdout as a user reads daprd's: the ``HTTP API
Called`` / ``gRPC API Called`` lines with daprd's scopes and fields, in JSON (``--log-as-json``) and
in text; ``omitHealthChecks``; ``obfuscateURLs``; the caller's trace id; a gRPC stream's line at
its end; the Configuration's ``enabled`` against the flag; ``--log-level``; calls the API token
refuses. Calls are made as users make them: the official SDK over gRPC, plain HTTP requests."""

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
from dapr.proto.runtime.v1 import dapr_pb2_grpc

from pydapr.api.grpc.wire import runtime
from tests.e2e.harness import Processes, Sidecar
from tests.e2e.test_invoke import call

pytestmark = pytest.mark.e2e

STORE = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
"""
PUBSUB = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
"""
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
USER_AGENT = "orders-client/2.1"
DAPR = "/dapr.proto.runtime.v1.Dapr/"
# Present on every line, with values of this host and run.
VOLATILE = ("time", "instance", "ver", "duration")


def _resources(tmp_path: Path, *docs: str) -> Path:
    resources = tmp_path / f"resources-{uuid.uuid4().hex[:6]}"
    resources.mkdir()
    for i, doc in enumerate(docs):
        (resources / f"r{i}.yaml").write_text(doc)
    return resources


def _config(tmp_path: Path, api_logging: str) -> Path:
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: logs\nspec:\n"
        f"  logging:\n    apiLogging:\n{api_logging}"
    )
    return path


def _api_lines(sidecar: Sidecar, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The API lines of the sidecar's JSON log, once there are ``count`` (volatile fields checked
    for their type and taken off)."""
    deadline = time.monotonic() + timeout
    while True:
        parsed = [json.loads(line) for line in sidecar.log().splitlines() if line.startswith("{")]
        lines = [line for line in parsed if line["msg"] in ("HTTP API Called", "gRPC API Called")]
        if len(lines) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for line in lines:
        assert isinstance(line.pop("duration"), int) and line.pop("instance") and line.pop("ver")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", line.pop("time"))
    return lines


def _http_line(app_id: str, method: str, code: int, size: int, **extra: Any) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "code": code,
        "level": "info",
        "method": method,
        "msg": "HTTP API Called",
        "scope": "dapr.runtime.http-info",
        "size": size,
        "type": "log",
        **extra,
    }


def _grpc_line(app_id: str, method: str, code: int, **extra: Any) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "code": code,
        "level": "info",
        "method": DAPR + method,
        "msg": "gRPC API Called",
        "scope": "dapr.runtime.grpc.api-info",
        "type": "log",
        **extra,
    }


def _without_user_agent(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for line in lines:
        line.pop("useragent", None)  # its own test below
    return lines


def test_http_and_grpc_calls_are_logged_as_daprd_logs_them(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    sidecar = procs.sidecar(
        "logjson",
        resources=_resources(tmp_path, STORE),
        args=["--enable-api-logging", "--log-as-json"],
    )
    before = len(_api_lines(sidecar, 1))  # the harness's /v1.0/healthz/outbound probe
    url = sidecar.url
    body = json.dumps([{"key": "order-1", "value": {"n": 1}}]).encode()
    assert call(f"{url}/v1.0/state/statestore", "POST", body, {"content-type": "application/json"})[0] == 204
    status, _, got = call(f"{url}/v1.0/state/statestore/order-1")
    assert status == 200 and json.loads(got) == {"n": 1}
    status, _, missing = call(f"{url}/v1.0/state/nostore/order-1")
    assert status == 400
    dapr_settings(sidecar)
    with DaprClient() as client:
        client.save_state("statestore", "order-2", "v")
        with pytest.raises(DaprGrpcError):
            client.get_state("nostore", "order-2")
    # The SDK's client probes /v1.0/healthz/outbound as it starts (how often is its own business):
    # those lines are left out, and the five calls' lines waited for (a refused call's line can
    # follow its answer by a moment).
    deadline = time.monotonic() + 5
    while True:
        lines = _without_user_agent(_api_lines(sidecar, before + 5)[before:])
        lines = [line for line in lines if line["method"] != "GET /v1.0/healthz/outbound"]
        if len(lines) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lines == [
        _http_line("logjson", "POST /v1.0/state/statestore", 204, 0),
        _http_line("logjson", "GET /v1.0/state/statestore/order-1", 200, len(got)),
        _http_line("logjson", "GET /v1.0/state/nostore/order-1", 400, len(missing)),
        _grpc_line("logjson", "SaveState", 0),
        _grpc_line("logjson", "GetState", 3),  # INVALID_ARGUMENT, as daprd answers
    ]


def test_text_lines_are_daprds_text_layout(procs: Processes) -> None:
    sidecar = procs.sidecar("logtext", args=["--enable-api-logging"])
    assert call(f"{sidecar.url}/v1.0/metadata?x=1")[0] == 200
    deadline = time.monotonic() + 5
    while "/v1.0/metadata" not in sidecar.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in sidecar.log().splitlines() if "/v1.0/metadata" in line]
    assert len(lines) == 1, sidecar.log()
    # logrus's layout: time, level, msg, then the other keys alphabetically; quoted only when needed.
    assert re.fullmatch(
        r'time="[^"]+" level=info msg="HTTP API Called" app_id=logtext code=200 duration=\d+ '
        r'instance=\S+ method="GET /v1.0/metadata" scope=dapr.runtime.http-info size=\d+ type=log '
        r"(useragent=\S+ )?ver=\S+",
        lines[0],
    ), lines[0]


def test_the_callers_trace_id_is_on_its_line(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    sidecar = procs.sidecar(
        "logtrace", resources=_resources(tmp_path, STORE), args=["--enable-api-logging", "--log-as-json"]
    )
    before = len(_api_lines(sidecar, 1))
    assert call(f"{sidecar.url}/v1.0/state/statestore/k", headers={"traceparent": TRACEPARENT})[0] == 204
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        stub.GetState(
            runtime.GetStateRequest(store_name="statestore", key="k"),
            metadata=(("traceparent", TRACEPARENT),),
            timeout=10,
        )
    assert call(f"{sidecar.url}/v1.0/state/statestore/k")[0] == 204  # no trace context given
    lines = _api_lines(sidecar, before + 3)[before:]
    assert [line.get("trace_id") for line in lines[:2]] == [TRACE_ID, TRACE_ID]
    # A call without one belongs to no trace of the caller's (tracing, when on, starts its own).
    assert lines[2].get("trace_id", "") != TRACE_ID


def test_a_grpc_stream_is_logged_once_when_it_ends(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    sidecar = procs.sidecar(
        "logstream", resources=_resources(tmp_path, PUBSUB), args=["--enable-api-logging", "--log-as-json"]
    )
    dapr_settings(sidecar)
    with DaprClient() as client:
        subscription: Any = client.subscribe("pubsub", "orders")
        try:
            client.publish_event(
                "pubsub", "orders", json.dumps({"n": 1}), data_content_type="application/json"
            )
            message = subscription.next_message()
            assert message.data() == {"n": 1}
            subscription.respond_success(message)
            time.sleep(0.2)
            open_lines = [x["method"] for x in _api_lines(sidecar, 0, timeout=0)]
            assert DAPR + "SubscribeTopicEventsAlpha1" not in open_lines  # not while it is open
        finally:
            subscription.close()
    deadline = time.monotonic() + 5
    streams: list[dict[str, Any]] = []
    while not streams and time.monotonic() < deadline:
        streams = [x for x in _api_lines(sidecar, 0, 0) if x["method"] == DAPR + "SubscribeTopicEventsAlpha1"]
        time.sleep(0.05)
    assert len(streams) == 1, sidecar.log()
    # The SDK's close() ends its requests and cancels the call: whichever the sidecar sees first
    # ends the stream, OK (the requests ended) or CANCELLED, never an error of the sidecar's.
    assert streams[0]["code"] in (grpc.StatusCode.OK.value[0], grpc.StatusCode.CANCELLED.value[0])


def test_omit_health_checks_leaves_out_both_probes(procs: Processes, tmp_path: Path) -> None:
    config = _config(tmp_path, "      enabled: true\n      omitHealthChecks: true\n")
    sidecar = procs.sidecar("logomit", config=config, args=["--log-as-json"])
    for path in ("/v1.0/healthz", "/v1.0/healthz/outbound", "/v1.0/metadata"):
        call(sidecar.url + path)
    lines = _api_lines(sidecar, 1)
    assert [x["method"] for x in lines] == ["GET /v1.0/metadata"]


def test_obfuscate_urls_logs_the_endpoint_name_not_the_path(
    procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]
) -> None:
    config = _config(tmp_path, "      enabled: true\n      obfuscateURLs: true\n")
    sidecar = procs.sidecar(
        "logobf", resources=_resources(tmp_path, STORE), config=config, args=["--log-as-json"]
    )
    before = len(_api_lines(sidecar, 1))
    call(f"{sidecar.url}/v1.0/state/statestore/card-4111")
    call(f"{sidecar.url}/v1.0/invoke/nosuchapp-{uuid.uuid4().hex[:4]}/method/orders/4111")
    dapr_settings(sidecar)
    with DaprClient() as client:
        client.save_state("statestore", "card-4111", "v")
    methods = [x["method"] for x in _api_lines(sidecar, before + 3)[before:]]
    methods = [m for m in methods if m != "HealthzOutbound"]  # the SDK client's readiness probes
    assert methods[0] == "GetState"
    assert methods[1].startswith("InvokeService/nosuchapp-")
    assert methods[2] == DAPR + "SaveState"  # gRPC lines always name the method
    assert "4111" not in "".join(methods)


def test_the_user_agent_is_logged(procs: Processes) -> None:
    sidecar = procs.sidecar("logua", args=["--enable-api-logging", "--log-as-json"])
    before = len(_api_lines(sidecar, 1))
    call(f"{sidecar.url}/v1.0/metadata", headers={"user-agent": USER_AGENT})
    with grpc.insecure_channel(
        f"127.0.0.1:{sidecar.grpc_port}", options=[("grpc.primary_user_agent", USER_AGENT)]
    ) as channel:
        dapr_pb2_grpc.DaprStub(channel).GetMetadata(runtime.GetMetadataRequest(), timeout=10)
    lines = _api_lines(sidecar, before + 2)[before:]
    assert lines[0]["useragent"] == USER_AGENT
    assert lines[1]["useragent"].startswith(USER_AGENT)  # grpc adds its own after the primary one


def test_the_flag_wins_over_the_configuration_and_logs_at_any_level(procs: Processes, tmp_path: Path) -> None:
    """daprd: --enable-api-logging decides when given; the Configuration's ``enabled`` only when it
    is not. The API loggers write at info even with --log-level warn (daprd sets their level)."""
    off = _config(tmp_path, "      enabled: false\n")
    flagged = procs.sidecar(
        "logflag", config=off, args=["--enable-api-logging", "--log-as-json", "--log-level", "warn"]
    )
    call(f"{flagged.url}/v1.0/metadata")
    methods = [x["method"] for x in _api_lines(flagged, 2)]
    # The harness's readiness probes (as many as it took), then the call.
    assert methods[-1] == "GET /v1.0/metadata" and set(methods[:-1]) == {"GET /v1.0/healthz/outbound"}
    infos = [line for line in flagged.log().splitlines() if '"level":"info"' in line]
    assert all('API Called"' in line for line in infos), infos  # warn: no other info line
    quiet = procs.sidecar("logquiet", config=off, args=["--log-as-json"])
    call(f"{quiet.url}/v1.0/metadata")
    time.sleep(0.3)
    assert _api_lines(quiet, 0, 0) == []


def test_the_flag_false_turns_off_what_the_configuration_enables(procs: Processes, tmp_path: Path) -> None:
    on = _config(tmp_path, "      enabled: true\n")
    silenced = procs.sidecar("logoff", config=on, args=["--enable-api-logging=false", "--log-as-json"])
    call(f"{silenced.url}/v1.0/metadata")
    time.sleep(0.3)
    assert _api_lines(silenced, 0, 0) == []
    logged = procs.sidecar("logon", config=on, args=["--log-as-json"])
    call(f"{logged.url}/v1.0/metadata")
    assert _api_lines(logged, 2)[-1]["method"] == "GET /v1.0/metadata"


def test_calls_the_api_token_refuses_are_not_logged(procs: Processes) -> None:
    """daprd checks the token before its API logging, over HTTP and gRPC: a refused call has no line."""
    token = uuid.uuid4().hex
    sidecar = procs.sidecar(
        "logtoken", args=["--enable-api-logging", "--log-as-json"], env={"DAPR_API_TOKEN": token}
    )
    before = len(_api_lines(sidecar, 1))
    assert call(f"{sidecar.url}/v1.0/metadata")[0] == 401
    assert call(f"{sidecar.url}/v1.0/metadata", headers={"dapr-api-token": token})[0] == 200
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetMetadata(runtime.GetMetadataRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        stub.GetMetadata(runtime.GetMetadataRequest(), metadata=(("dapr-api-token", token),), timeout=10)
    time.sleep(0.2)
    lines = _api_lines(sidecar, before + 2)[before:]
    assert [(x["method"], x["code"]) for x in lines] == [
        ("GET /v1.0/metadata", 200),
        (DAPR + "GetMetadata", 0),
    ]


def test_lines_written_inside_a_traced_call_carry_its_trace_id(procs: Processes, tmp_path: Path) -> None:
    """With tracing on, every line of a call (the API line and what the call logs on its way, here
    the secret store's debug lines for keys the scopes hide) has the trace id the sidecar answered
    with in ``traceparent``; lines outside the call have none."""
    from tests.e2e.collectors import ZipkinCollector, running

    with running(ZipkinCollector(drop=True)) as zipkin:
        config = tmp_path / "traced.yaml"
        config.write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: traced\nspec:\n"
            f'  tracing:\n    samplingRate: "1"\n    zipkin:\n      endpointAddress: "{zipkin.endpoint}"\n'
            "  secrets:\n    scopes:\n    - storeName: envstore\n      defaultAccess: deny\n"
            "      allowedSecrets: [LOGS_VISIBLE]\n"
        )
        envstore = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: envstore\nspec:\n"
        envstore += "  type: secretstores.local.env\n  version: v1\n"
        sidecar = procs.sidecar(
            "logtraced",
            resources=_resources(tmp_path, envstore),
            config=config,
            args=["--enable-api-logging", "--log-as-json", "--log-level", "debug"],
            env={"LOGS_VISIBLE": "1", "LOGS_HIDDEN": "2"},
        )
        status, headers, body = call(f"{sidecar.url}/v1.0/secrets/envstore/bulk")
        assert status == 200 and set(json.loads(body)) == {"LOGS_VISIBLE"}
        answered = headers["traceparent"].split("-")[1]
        api = [x for x in _api_lines(sidecar, 2) if x["method"] == "GET /v1.0/secrets/envstore/bulk"]
        assert [x.get("trace_id") for x in api] == [answered]
        parsed = [json.loads(line) for line in sidecar.log().splitlines() if line.startswith("{")]
        hidden = [
            x for x in parsed if x["msg"] == 'access denied by policy to get "LOGS_HIDDEN" from "envstore"'
        ]
        assert [x.get("trace_id") for x in hidden] == [answered], hidden
        ready = [x for x in parsed if x["msg"].startswith("sidecar ready")]
        assert ready and "trace_id" not in ready[0]
