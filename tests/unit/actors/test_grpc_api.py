"""Dapr's actor RPCs on a real gRPC server over an in-memory actors facade: what crosses the wire
unchanged, what daprd converts (reminder and timer data), and the status codes of bad input.

``MemoryActors`` and ``start_sidecar`` serve test_grpc_stream.py too."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import grpc
import pytest
from dapr.proto.runtime.v1 import dapr_pb2_grpc
from google.protobuf import any_pb2, wrappers_pb2
from google.rpc import error_details_pb2, status_pb2

from pydapr.actors import errors as actor_errors
from pydapr.actors.contract import (
    ActorAppTransport,
    ActorKey,
    HostedTypes,
    InvokeRequest,
    InvokeResult,
    Reminder,
    StateOperation,
)
from pydapr.actors.grpc_api import ActorsGrpc, name_problem, normalize_method
from pydapr.actors.stream import ActorStream
from pydapr.api.grpc.server import start_grpc_server
from pydapr.api.grpc.wire import runtime
from pydapr.errors import DaprError

T = "Cart"


class MemoryActors:
    """``contract.Actors`` in memory: calls go to whichever transport the app attached."""

    def __init__(self) -> None:
        self.state: dict[tuple[ActorKey, str], bytes] = {}
        self.timers: dict[tuple[ActorKey, str], dict[str, Any]] = {}
        self.reminders: dict[tuple[ActorKey, str], Reminder] = {}
        self.invoked: list[InvokeRequest] = []
        self.attached: list[tuple[HostedTypes, ActorAppTransport]] = []
        self.detached: list[ActorAppTransport] = []
        self.transport: ActorAppTransport | None = None
        self.changed = asyncio.Event()

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        self.invoked.append(request)
        if self.transport is None:
            return InvokeResult(data=b"echo:" + request.data)
        return await self.transport.invoke(request)

    async def get_state(self, key: ActorKey, name: str) -> tuple[bytes, Mapping[str, str]] | None:
        value = self.state.get((key, name))
        return None if value is None else (value, {})

    async def transaction(self, key: ActorKey, operations: Sequence[StateOperation]) -> None:
        for op in operations:
            if op.operation == "upsert":
                self.state[(key, op.key)] = op.value or b""
            else:
                self.state.pop((key, op.key), None)

    async def register_timer(
        self,
        key: ActorKey,
        name: str,
        *,
        due_time: str,
        period: str,
        ttl: str,
        callback: str,
        data: bytes | None,
    ) -> None:
        self.timers[(key, name)] = {
            "due_time": due_time,
            "period": period,
            "ttl": ttl,
            "callback": callback,
            "data": data,
        }

    async def unregister_timer(self, key: ActorKey, name: str) -> None:
        self.timers.pop((key, name), None)

    async def register_reminder(self, reminder: Reminder) -> None:
        self.reminders[(reminder.key, reminder.name)] = reminder

    async def unregister_reminder(self, key: ActorKey, name: str) -> None:
        self.reminders.pop((key, name), None)

    async def get_reminder(self, key: ActorKey, name: str) -> Reminder | None:
        return self.reminders.get((key, name))

    async def list_reminders(self, actor_type: str, actor_id: str | None = None) -> list[Reminder]:
        return [
            r
            for r in self.reminders.values()
            if r.key.actor_type == actor_type and actor_id in (None, r.key.actor_id)
        ]

    async def unregister_reminders(self, actor_type: str, actor_id: str | None = None) -> None:
        for k, r in list(self.reminders.items()):
            if r.key.actor_type == actor_type and actor_id in (None, r.key.actor_id):
                del self.reminders[k]

    def attach_app_transport(self, hosted: HostedTypes, transport: ActorAppTransport) -> None:
        self.attached.append((hosted, transport))
        self.transport = transport
        self.changed.set()

    def detach_app_transport(self, transport: ActorAppTransport) -> None:
        self.detached.append(transport)
        if self.transport is transport:
            self.transport = None
        self.changed.set()


async def _no_proxy(target: str) -> Any:
    raise RuntimeError("no proxying in these tests")


class Sidecar:
    def __init__(self, server: grpc.aio.Server, port: int, api: MemoryActors, handler: ActorsGrpc) -> None:
        self.server = server
        self.address = f"127.0.0.1:{port}"
        self.api = api
        self.handler = handler
        self.channel = grpc.aio.insecure_channel(self.address)
        self.stub = dapr_pb2_grpc.DaprStub(self.channel)  # type: ignore[no-untyped-call]

    async def transport(self, timeout: float = 10.0) -> ActorStream:
        async def attached() -> ActorStream:
            while not isinstance(self.api.transport, ActorStream):
                self.api.changed.clear()
                await self.api.changed.wait()
            return self.api.transport

        return await asyncio.wait_for(attached(), timeout)


async def start_sidecar(app_protocol: str | None = "grpc", api: MemoryActors | None = None) -> Sidecar:
    api = api or MemoryActors()
    handler = ActorsGrpc(api, app_protocol=app_protocol)
    server, port = await start_grpc_server(
        [handler],
        host="127.0.0.1",
        port=0,
        channel_for=_no_proxy,
        max_message_size=4 * 1024 * 1024,
    )
    return Sidecar(server, port, api, handler)


@pytest.fixture
async def sidecar() -> AsyncIterator[Sidecar]:
    side = await start_sidecar()
    try:
        yield side
    finally:
        await side.channel.close()
        await side.server.stop(grace=None)


def reason(err: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, str]:
    """Status code, ErrorInfo reason (Dapr's error code) and message of a failed call."""
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw is not None, err
    status = status_pb2.Status.FromString(raw)
    info = error_details_pb2.ErrorInfo()
    assert status.details and status.details[0].Unpack(info)
    return err.code(), info.reason, err.details() or ""


async def failing(call: Any) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return reason(caught.value)


def test_names_and_methods_as_daprd_checks_them() -> None:
    assert name_problem("order-1") is None
    assert name_problem("a/b") == 'name contains forbidden character: "a/b"'
    assert name_problem("a\x01") == 'name contains control character at position 1: "a\\u0001"'
    assert name_problem("..") == 'name is a path traversal sequence: ".."'
    assert normalize_method("../../x/./y/") == "x/y"
    assert normalize_method("//a//b") == "/a/b"
    assert normalize_method("..") == ""
    assert normalize_method("GetData") == "GetData"


async def test_invoke_passes_data_and_metadata_untouched(sidecar: Sidecar) -> None:
    body = bytes(range(256))
    reply = await sidecar.stub.InvokeActor(
        runtime.InvokeActorRequest(
            actor_type=T,
            actor_id="c1",
            method="a/../Checkout",
            data=body,
            metadata={"Dapr-Reentrancy-Id": "r-1", "x-user": "u"},
        )
    )
    assert reply.data == b"echo:" + body
    (call,) = sidecar.api.invoked
    assert (call.key, call.method, call.data) == (ActorKey(T, "c1"), "Checkout", body)
    assert call.metadata == {"Dapr-Reentrancy-Id": "r-1", "x-user": "u"}


async def test_invoke_refuses_bad_names_with_invalid_argument(sidecar: Sidecar) -> None:
    code, _, message = await failing(
        sidecar.stub.InvokeActor(runtime.InvokeActorRequest(actor_type="a/b", actor_id="1", method="m"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == 'invalid actorType: name contains forbidden character: "a/b"'
    code, _, message = await failing(
        sidecar.stub.InvokeActor(runtime.InvokeActorRequest(actor_type=T, actor_id="1", method="m?x"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith("invalid actor method: method contains forbidden character")
    assert sidecar.api.invoked == []


async def test_state_round_trip_through_the_sdk_grpc_client(sidecar: Sidecar) -> None:
    sdk = pytest.importorskip("dapr.clients.grpc.dapr_actor_grpc_client")  # SDK 1.18 on
    client = sdk.DaprActorGrpcClient(channel=sidecar.channel, timeout=5)
    ops = [
        {"operation": "upsert", "request": {"key": "k1", "value": {"n": 1}}},
        {"operation": "upsert", "request": {"key": "k2", "value": "v", "metadata": {"ttlInSeconds": "9"}}},
    ]
    await client.save_state_transactionally(T, "c1", json.dumps(ops).encode())
    assert sidecar.api.state[(ActorKey(T, "c1"), "k1")] == b'{"n":1}'
    assert await client.get_state(T, "c1", "k1") == b'{"n":1}'
    assert await client.get_state(T, "c1", "absent") == b""
    await client.save_state_transactionally(
        T, "c1", json.dumps([{"operation": "delete", "request": {"key": "k1"}}]).encode()
    )
    assert (ActorKey(T, "c1"), "k1") not in sidecar.api.state


async def test_a_transaction_with_an_unknown_operation_stores_nothing(sidecar: Sidecar) -> None:
    code, err_code, message = await failing(
        sidecar.stub.ExecuteActorStateTransaction(
            runtime.ExecuteActorStateTransactionRequest(
                actor_type=T,
                actor_id="c1",
                operations=[
                    runtime.TransactionalActorStateOperation(
                        operationType="upsert", key="k", value=any_pb2.Any(value=b"1")
                    ),
                    runtime.TransactionalActorStateOperation(operationType="merge", key="k"),
                ],
            )
        )
    )
    assert (code, err_code) == (grpc.StatusCode.UNIMPLEMENTED, "ERR_NOT_SUPPORTED_STATE_OPERATION")
    assert message == "operation type merge not supported"
    assert sidecar.api.state == {}


async def test_timer_and_reminder_data_are_kept_as_daprd_keeps_them(sidecar: Sidecar) -> None:
    key = ActorKey(T, "c1")
    await sidecar.stub.RegisterActorTimer(
        runtime.RegisterActorTimerRequest(
            actor_type=T, actor_id="c1", name="t", due_time="1s", period="2s", callback="cb", data=b'{"n":7}'
        )
    )
    timer = sidecar.api.timers[(key, "t")]
    assert timer == {
        "due_time": "1s",
        "period": "2s",
        "ttl": "",
        "callback": "cb",
        "data": json.dumps(base64.b64encode(b'{"n":7}').decode()).encode(),
    }
    await sidecar.stub.RegisterActorTimer(
        runtime.RegisterActorTimerRequest(actor_type=T, actor_id="c1", name="e")
    )
    assert sidecar.api.timers[(key, "e")]["data"] is None
    await sidecar.stub.UnregisterActorTimer(
        runtime.UnregisterActorTimerRequest(actor_type=T, actor_id="c1", name="t")
    )
    assert (key, "t") not in sidecar.api.timers

    await sidecar.stub.RegisterActorReminder(
        runtime.RegisterActorReminderRequest(
            actor_type=T, actor_id="c1", name="r", due_time="5s", period="R2/PT1S", ttl="1h", data=b"rstate"
        )
    )
    assert sidecar.api.reminders[(key, "r")] == Reminder(key, "r", "5s", "R2/PT1S", "1h", b'"cnN0YXRl"')


async def test_bad_timer_and_reminder_names(sidecar: Sidecar) -> None:
    code, err_code, message = await failing(
        sidecar.stub.RegisterActorReminder(runtime.RegisterActorReminderRequest(actor_type=T, actor_id="1"))
    )
    assert (code, err_code) == (grpc.StatusCode.INVALID_ARGUMENT, "ERR_BAD_REQUEST")
    assert message == "invalid request: reminder name cannot be empty"
    code, err_code, _ = await failing(
        sidecar.stub.RegisterActorTimer(
            runtime.RegisterActorTimerRequest(actor_type=T, actor_id="1", name="a#b")
        )
    )
    assert (code, err_code) == (grpc.StatusCode.INVALID_ARGUMENT, "ERR_BAD_REQUEST")
    assert sidecar.api.timers == {} and sidecar.api.reminders == {}


@pytest.mark.skipif(not runtime.has("GetActorReminderRequest"), reason="the installed protos lack it")
async def test_get_list_and_delete_reminders(sidecar: Sidecar) -> None:
    for actor_id, name in (("c1", "a"), ("c1", "b"), ("c2", "a")):
        await sidecar.api.register_reminder(
            Reminder(ActorKey(T, actor_id), name, due_time="1s", data=b'"x"' if name == "a" else None)
        )
    got = await sidecar.stub.GetActorReminder(
        runtime.GetActorReminderRequest(actor_type=T, actor_id="c1", name="a")
    )
    assert (got.actor_type, got.actor_id, got.due_time) == (T, "c1", "1s")
    assert not got.HasField("period") and not got.HasField("ttl")
    value = wrappers_pb2.BytesValue()
    assert got.data.Unpack(value) and value.value == b'"x"'

    code, err_code, message = await failing(
        sidecar.stub.GetActorReminder(runtime.GetActorReminderRequest(actor_type=T, actor_id="c1", name="zz"))
    )
    assert (code, err_code, message) == (
        grpc.StatusCode.NOT_FOUND,
        "ERR_ACTOR_REMINDER_NOT_FOUND",
        "actor reminder not found: zz",
    )

    listed = await sidecar.stub.ListActorReminders(
        runtime.ListActorRemindersRequest(actor_type=T, actor_id="c1")
    )
    assert sorted(r.name for r in listed.reminders) == ["a", "b"]
    everything = await sidecar.stub.ListActorReminders(runtime.ListActorRemindersRequest(actor_type=T))
    assert len(everything.reminders) == 3

    await sidecar.stub.UnregisterActorRemindersByType(
        runtime.UnregisterActorRemindersByTypeRequest(actor_type=T, actor_id="c2")
    )
    assert {(k.actor_id, n) for k, n in sidecar.api.reminders} == {("c1", "a"), ("c1", "b")}
    await sidecar.stub.UnregisterActorReminder(
        runtime.UnregisterActorReminderRequest(actor_type=T, actor_id="c1", name="a")
    )
    await sidecar.stub.UnregisterActorRemindersByType(
        runtime.UnregisterActorRemindersByTypeRequest(actor_type=T)
    )
    assert sidecar.api.reminders == {}


class NoStateStore(MemoryActors):
    async def get_state(self, key: ActorKey, name: str) -> tuple[bytes, Mapping[str, str]] | None:
        raise actor_errors.RUNTIME_NOT_FOUND()


async def test_facade_errors_carry_daprs_code() -> None:
    side = await start_sidecar(api=NoStateStore())
    try:
        code, err_code, _ = await failing(
            side.stub.GetActorState(runtime.GetActorStateRequest(actor_type=T, actor_id="1", key="k"))
        )
        assert (code, err_code) == (grpc.StatusCode.INTERNAL, "ERR_ACTOR_RUNTIME_NOT_FOUND")
    finally:
        await side.channel.close()
        await side.server.stop(grace=None)


class MethodRaised(DaprError):
    """What the facade raises when the actor method failed: the app's answer rides along."""

    def __init__(self, result: InvokeResult) -> None:
        super().__init__(actor_errors.INVOKE_METHOD, "error invoke actor method: boom")
        self.result = result


class FailingMethods(MemoryActors):
    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        raise MethodRaised(InvokeResult(b'{"message":"boom"}', 500, error=True))


async def test_a_failed_actor_method_answers_ok_with_the_apps_body() -> None:
    side = await start_sidecar(api=FailingMethods())
    try:
        reply = await side.stub.InvokeActor(
            runtime.InvokeActorRequest(actor_type=T, actor_id="1", method="m")
        )
        assert reply.data == b'{"message":"boom"}'
    finally:
        await side.channel.close()
        await side.server.stop(grace=None)
