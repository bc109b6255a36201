"""Actors over gRPC end to end: the official SDK's ``ActorGrpcHost`` app hosts its actors over the
SubscribeActorEventsAlpha1 stream of a real sidecar, with a real ``pydapr placement``, a real
scheduler (reminders) and Redis as the actor state store; clients call through the SDK's
``ActorProxy`` over HTTP and over gRPC (``DaprActorGrpcClient``) and through raw gRPC stubs."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis
from dapr.actor import ActorId, ActorProxy
from dapr.clients.exceptions import DaprInternalError
from dapr.proto.runtime.v1 import dapr_pb2_grpc
from dapr.serializers import DefaultJSONSerializer
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from pydapr.api.grpc.wire import runtime
from tests.e2e.actor_mesh import (
    metadata,
    redis_actor_store,
    start_placement,
    start_scheduler,
    wait_hosting,
    wait_placement,
)
from tests.e2e.conftest import APPS
from tests.e2e.harness import Proc, Processes, Sidecar, free_port

pytest.importorskip("dapr.actor.runtime.grpc_host")  # the SDK's stream host: SDK 1.18 on

pytestmark = pytest.mark.e2e

TYPE = "GrpcCounter"


@dataclass
class Stack:
    procs: Processes
    sidecar: Sidecar
    app: Proc
    app_port: int
    idle: float
    reentrant: bool = False
    placement: str = ""

    def start_app(self) -> Proc:
        self.app = start_app(self.procs, self.sidecar, self.app_port, self.idle, self.reentrant)
        return self.app


def start_app(
    procs: Processes, sidecar: Sidecar, app_port: int, idle: float, reentrant: bool = False
) -> Proc:
    env = {
        "APP_PORT": str(app_port),
        "DAPR_GRPC_PORT": str(sidecar.grpc_port),
        "DAPR_HTTP_PORT": str(sidecar.http_port),
        "DAPR_RUNTIME_HOST": "127.0.0.1",
    }
    args = [str(idle), *(["reentrant"] if reentrant else [])]
    return procs.app("actor-grpc", APPS / "actor_grpc_host.py", env=env, args=args)


def start_stack(
    procs: Processes,
    settings: Any,
    *,
    idle: float = 3600.0,
    reentrant: bool = False,
    app_channel: bool = True,
) -> Stack:
    """Placement, scheduler, Redis store, the sidecar (a gRPC app channel unless ``app_channel`` is
    False: no app port at all) and the SDK host app."""
    _, placement = start_placement(procs, "p1", f"sqlite:///{procs.workdir}/placement.db")
    scheduler = start_scheduler(procs)
    resources = procs.workdir / "resources"
    redis_actor_store(resources)
    app_port = free_port() if app_channel else 0  # APP_PORT=0: ActorGrpcHost serves no listener
    app_id = f"grpc-actors-{uuid.uuid4().hex[:8]}"
    sidecar = procs.sidecar(
        app_id,
        app_port=app_port,
        app_protocol="grpc",
        resources=resources,
        args=["--placement-host-address", placement, "--scheduler-host-address", scheduler],
    )
    settings(sidecar)
    app = start_app(procs, sidecar, app_port, idle, reentrant)
    return Stack(procs, sidecar, app, app_port, idle, reentrant, placement)


@pytest.fixture
def redis_keys() -> Iterator[list[str]]:
    """App ids whose actor keys the test leaves in Redis; deleted afterwards."""
    app_ids: list[str] = []
    yield app_ids
    client = redis.Redis(host="127.0.0.1", port=6379)
    for app_id in app_ids:
        for key in client.scan_iter(f"{app_id}||*"):
            client.delete(key)
    client.close()


def call(sidecar: Sidecar, method: str, data: Any = None, *, actor_id: str = "c1", over: str = "http") -> Any:
    """One ActorProxy call, over the sidecar's HTTP API (``dapr_settings`` points the SDK at it) or
    its gRPC API; the decoded answer."""

    async def run() -> bytes:
        body = None if data is None else json.dumps(data).encode()
        if over == "grpc":
            from dapr.clients.grpc.dapr_actor_grpc_client import DaprActorGrpcClient

            client = DaprActorGrpcClient(address=f"127.0.0.1:{sidecar.grpc_port}", timeout=20)
            try:
                proxy = ActorProxy(client, TYPE, ActorId(actor_id), None, DefaultJSONSerializer())
                return await proxy.invoke_method(method, body)
            finally:
                await client.close()
        # The SDK's default proxy: DaprActorHttpClient, on the port dapr_settings points it at.
        return await ActorProxy.create(TYPE, ActorId(actor_id)).invoke_method(method, body)

    raw = asyncio.run(run())
    return json.loads(raw) if raw else None


def until(fn: Callable[[], Any], ok: Callable[[Any], bool], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if ok(last):
                return last
        except Exception as exc:  # the stream may not be registered yet
            last = exc
        time.sleep(interval)
    raise AssertionError(f"never satisfied; last: {last!r}")


def active_count(sidecar: Sidecar) -> int:
    """How many ``TYPE`` actors the sidecar's metadata lists as active (asking touches no actor)."""
    counts = (metadata(sidecar).get("actorRuntime") or {}).get("activeActors") or []
    return sum(int(c["count"]) for c in counts if c.get("type") == TYPE)


def ready(stack: Stack) -> None:
    wait_hosting(stack.sidecar, TYPE)
    until(lambda: call(stack.sidecar, "GetActivationCount"), lambda n: n >= 1, 30)


def grpc_error(err: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")  # type: ignore[attr-defined]
    assert raw is not None, err
    status = status_pb2.Status.FromString(raw)
    info = error_details_pb2.ErrorInfo()
    assert status.details and status.details[0].Unpack(info)
    return err.code(), info.reason  # type: ignore[attr-defined]


def test_the_sdk_grpc_host_serves_calls_state_reminders_and_timers(
    procs: Processes, redis_keys: list[str], dapr_settings: Any
) -> None:
    stack = start_stack(procs, dapr_settings)
    redis_keys.append(stack.sidecar.app_id)
    ready(stack)

    # Invoke and state, through the HTTP API and through the gRPC API.
    assert call(stack.sidecar, "SetData", {"x": 1}) is None
    assert call(stack.sidecar, "GetData") == {"x": 1}
    assert call(stack.sidecar, "GetData", over="grpc") == {"x": 1}
    call(stack.sidecar, "SetData", [1, "two"], actor_id="c2", over="grpc")
    assert call(stack.sidecar, "GetData", actor_id="c2") == [1, "two"]
    stored = redis.Redis(host="127.0.0.1", port=6379).hget(
        f"{stack.sidecar.app_id}||{TYPE}||c1||data", "data"
    )
    assert stored == b'{"x":1}'  # the bytes the app's state serializer wrote, as daprd stores them

    # The actor method raised: over HTTP the caller gets the app's error body with a 500; over
    # gRPC daprd answers OK with that body (an actor error is not a gRPC error).
    with pytest.raises(DaprInternalError) as failed:
        call(stack.sidecar, "Fail")
    assert "the counter refuses" in failed.value.as_dict()["message"]
    assert "the counter refuses" in call(stack.sidecar, "Fail", over="grpc")["message"]

    # A reminder (registered by the actor over gRPC, fired by the scheduler) and a timer reach
    # the actor over the stream, with their data as registered.
    call(stack.sidecar, "StartReminder")
    call(stack.sidecar, "StartTimer")
    try:
        evidence = until(
            lambda: call(stack.sidecar, "GetEvidence"),
            lambda e: e["reminder"] is not None and e["timer"] is not None,
            timeout=30,
        )
    finally:
        call(stack.sidecar, "StopReminder")
        call(stack.sidecar, "StopTimer")
    assert evidence == {"reminder": {"name": "remind", "state": "rstate"}, "timer": {"n": 7}}


def test_an_idle_actor_is_deactivated_over_the_stream(
    procs: Processes, redis_keys: list[str], dapr_settings: Any
) -> None:
    stack = start_stack(procs, dapr_settings, idle=2.0)
    redis_keys.append(stack.sidecar.app_id)
    ready(stack)
    first = call(stack.sidecar, "GetActivationCount")
    # The stream carries no scan interval: the default 30 s scan runs while the actor is idle and
    # deactivates it over the stream. The wait watches the sidecar's metadata, not the actor (a
    # call would reset its idle clock); the next call activates it again (and _on_activate counts).
    until(lambda: active_count(stack.sidecar), lambda n: n == 0, timeout=45)
    assert call(stack.sidecar, "GetActivationCount") == first + 1


def test_a_restarted_app_hosts_again_and_calls_in_between_fail(
    procs: Processes, redis_keys: list[str], dapr_settings: Any
) -> None:
    stack = start_stack(procs, dapr_settings)
    redis_keys.append(stack.sidecar.app_id)
    ready(stack)
    call(stack.sidecar, "SetData", "kept")
    stack.app.signal(signal.SIGKILL)
    stack.app.popen.wait(10)
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK wraps it in: the call fails
        until(lambda: call(stack.sidecar, "GetData"), lambda _: False, timeout=3)
    stack.start_app()
    assert until(lambda: call(stack.sidecar, "GetData"), lambda v: v == "kept", timeout=30) == "kept"


def test_bad_input_over_grpc_gets_daprs_status_codes(
    procs: Processes, redis_keys: list[str], dapr_settings: Any
) -> None:
    stack = start_stack(procs, dapr_settings)
    redis_keys.append(stack.sidecar.app_id)
    ready(stack)
    with grpc.insecure_channel(f"127.0.0.1:{stack.sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)  # type: ignore[no-untyped-call]

        with pytest.raises(grpc.RpcError) as bad_name:
            stub.InvokeActor(runtime.InvokeActorRequest(actor_type=TYPE, actor_id="a/b", method="GetData"))
        assert bad_name.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]

        with pytest.raises(grpc.RpcError) as unknown_type:
            stub.InvokeActor(
                runtime.InvokeActorRequest(actor_type="NobodyHostsThis", actor_id="1", method="m"), timeout=30
            )
        # Placement has no host for the type (after daprd's not-found retries): daprd's gRPC API
        # answers the lookup's own status, FAILED_PRECONDITION ERR_ACTOR_NO_ADDRESS.
        _, reason = grpc_error(unknown_type.value)
        assert reason == "ERR_ACTOR_NO_ADDRESS"
        assert unknown_type.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
        assert (unknown_type.value.details() or "").startswith(  # type: ignore[attr-defined]
            "failed to lookup actor: did not find address for actor 'NobodyHostsThis||1'"
        )

        bad_tx = runtime.ExecuteActorStateTransactionRequest(
            actor_type=TYPE,
            actor_id="c1",
            operations=[
                runtime.TransactionalActorStateOperation(
                    operationType="upsert", key="half", value=any_pb2.Any(value=b'"x"')
                ),
                runtime.TransactionalActorStateOperation(operationType="merge", key="half"),
            ],
        )
        with pytest.raises(grpc.RpcError) as malformed:
            stub.ExecuteActorStateTransaction(bad_tx)
        assert grpc_error(malformed.value) == (
            grpc.StatusCode.UNIMPLEMENTED,
            "ERR_NOT_SUPPORTED_STATE_OPERATION",
        )
        state = stub.GetActorState(runtime.GetActorStateRequest(actor_type=TYPE, actor_id="c1", key="half"))
        assert state.data == b""  # nothing of the transaction was stored

        with pytest.raises(grpc.RpcError) as no_reminder:
            stub.GetActorReminder(
                runtime.GetActorReminderRequest(actor_type=TYPE, actor_id="c1", name="none")
            )
        assert grpc_error(no_reminder.value) == (grpc.StatusCode.NOT_FOUND, "ERR_ACTOR_REMINDER_NOT_FOUND")


def test_an_http_app_channel_refuses_the_stream(procs: Processes) -> None:
    """As daprd: an app behind an HTTP app channel declares its actors in /dapr/config."""
    placement = start_placement(procs, "p1", f"sqlite:///{procs.workdir}/placement.db")[1]
    # An app port with the HTTP protocol: the channel is HTTP (nothing needs to listen there for
    # the sidecar's gRPC API to serve).
    sidecar = procs.sidecar(
        f"grpc-actors-{uuid.uuid4().hex[:8]}",
        app_port=free_port(),
        args=["--placement-host-address", placement],
    )
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)  # type: ignore[no-untyped-call]
        first = runtime.SubscribeActorEventsRequestAlpha1(
            initial_request=runtime.SubscribeActorEventsRequestInitialAlpha1(entities=[TYPE])
        )
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(stub.SubscribeActorEventsAlpha1(iter([first]), timeout=10)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]


def test_the_sidecar_stops_without_waiting_for_the_open_stream(
    procs: Processes, redis_keys: list[str], dapr_settings: Any
) -> None:
    """As daprd: the callback stream ends with the API (the app sees it), it does not hold the
    sidecar's shutdown for the graceful period (5 s)."""
    stack = start_stack(procs, dapr_settings)
    redis_keys.append(stack.sidecar.app_id)
    ready(stack)
    started = time.monotonic()
    stack.sidecar.signal(signal.SIGTERM)
    stack.sidecar.popen.wait(15)
    assert time.monotonic() - started < 3.0, stack.sidecar.log()[-2000:]
    assert "actor callback stream 1 closed" in stack.sidecar.log()


def test_a_reentrant_actor_calls_itself_over_the_grpc_api(
    procs: Processes, redis_keys: list[str], dapr_settings: Any
) -> None:
    """The reentrancy id the sidecar hands the app over the stream comes back in the gRPC call's
    metadata, and the nested call enters the turn in progress."""
    stack = start_stack(procs, dapr_settings, reentrant=True)
    redis_keys.append(stack.sidecar.app_id)
    ready(stack)
    call(stack.sidecar, "SetData", "inner")
    assert call(stack.sidecar, "CallSelf", over="grpc") == "inner"


def test_a_call_through_another_sidecar_reaches_the_stream_host(
    procs: Processes, redis_keys: list[str], dapr_settings: Any
) -> None:
    """A sidecar with no actors of its own routes the call to the one whose app holds the stream."""
    stack = start_stack(procs, dapr_settings)
    redis_keys.append(stack.sidecar.app_id)
    ready(stack)
    call(stack.sidecar, "SetData", {"via": "host"})
    caller = procs.sidecar(
        f"grpc-caller-{uuid.uuid4().hex[:8]}", args=["--placement-host-address", stack.placement]
    )
    wait_placement(caller)
    assert until(lambda: call(caller, "GetData", over="grpc"), lambda v: v == {"via": "host"}, timeout=20)
    dapr_settings(caller)
    assert call(caller, "GetData") == {"via": "host"}


def test_a_sidecar_without_an_app_port_accepts_the_stream(
    procs: Processes, redis_keys: list[str], dapr_settings: Any
) -> None:
    """As daprd: with no app channel at all the stream is the app's only connection."""
    stack = start_stack(procs, dapr_settings, app_channel=False)
    redis_keys.append(stack.sidecar.app_id)
    ready(stack)
    call(stack.sidecar, "SetData", "no port")
    assert call(stack.sidecar, "GetData", over="grpc") == "no port"
