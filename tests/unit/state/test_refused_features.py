"""A store that declares no optional feature: the API refuses each one with Dapr's error, over the API
itself, HTTP and a real gRPC server, and never touches the store for a refused request.

``PlainStore`` is a real (if minimal) implementation of the store contract: get, set, delete and
nothing else, as a store for a key-value backend without versions, expiry or multi-key writes would be.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import dapr_pb2_grpc, state_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from pydapr import rpc
from pydapr.api.grpc._ext import state_pb2 as ext_pb2
from pydapr.api.grpc._ext import state_pb2_grpc as ext_pb2_grpc
from pydapr.api.grpc.compose import compose_servicer
from pydapr.api.grpc.state import StateExtensionsGrpc, StateGrpc
from pydapr.api.http import state as http_state
from pydapr.api.http.router import Router
from pydapr.components.base import ComponentMetadata
from pydapr.errors import DaprError
from pydapr.http.messages import Headers, Request
from pydapr.state.api import DeleteItem, SaveItem, StateAPI, StoreEntry, TransactionOperation
from pydapr.state.contract import DeleteRequest, GetRequest, SetRequest, StateItem, StateStore

S = "plain"
NOT_SUPPORTED = "ERR_STATE_STORE_NOT_SUPPORTED"


class PlainStore(StateStore):
    """get/set/delete on a dict; every value gets the same (meaningless) version string."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.writes = 0

    def features(self) -> frozenset[str]:
        return frozenset()

    async def get(self, req: GetRequest) -> StateItem | None:
        value = self.data.get(req.key)
        return None if value is None else StateItem(value, "-")

    async def set(self, req: SetRequest) -> None:
        self.writes += 1
        self.data[req.key] = req.value

    async def delete(self, req: DeleteRequest) -> None:
        self.writes += 1
        self.data.pop(req.key, None)


@pytest.fixture
async def store() -> PlainStore:
    plain = PlainStore()
    await plain.init(ComponentMetadata(S, "state.plain", "v1", {}, app_id="app"))
    return plain


@pytest.fixture
def api(store: PlainStore) -> StateAPI:
    meta = ComponentMetadata(S, "state.plain", "v1", {}, app_id="app")
    return StateAPI({S: StoreEntry.from_metadata(store, meta)})


async def refused(call: Any, status: int, grpc_code: rpc.StatusCode) -> DaprError:
    with pytest.raises(DaprError) as info:
        await call
    err = info.value
    assert (err.code, err.http_status, err.grpc_status) == (NOT_SUPPORTED, status, grpc_code), err.message
    return err


async def test_plain_operations_work(api: StateAPI, store: PlainStore) -> None:
    await api.save(S, [SaveItem("a", b"1"), SaveItem("b", b"2")])  # bulk, not atomic: one by one
    assert [i.item.data if i.item else None for i in await api.bulk_get(S, ["a", "b", "c"])] == [
        b"1",
        b"2",
        None,
    ]
    await api.bulk_delete(S, [DeleteItem("a"), DeleteItem("b", concurrency="first-write")])
    assert store.data == {}
    # ttlInSeconds empty or absent is no TTL; last-write is the default and needs nothing.
    await api.save(S, [SaveItem("c", b"3", concurrency="last-write", metadata={"ttlInSeconds": ""})])
    assert store.data == {"app||c": b"3"}


async def test_each_missing_feature_is_refused(api: StateAPI, store: PlainStore) -> None:
    await api.save(S, [SaveItem("k", b"before")])
    writes = store.writes
    upsert = TransactionOperation("upsert", SaveItem("k", b"tx"))

    err = await refused(api.transact(S, [upsert]), 500, rpc.StatusCode.UNIMPLEMENTED)
    assert err.message == "state store plain doesn't support transactions"
    ttl = SaveItem("k", b"ttl", metadata={"ttlInSeconds": "60"})
    err = await refused(api.save(S, [ttl]), 400, rpc.StatusCode.INVALID_ARGUMENT)
    assert err.message == "state store plain does not support TTL"
    for etag_call in (
        api.save(S, [SaveItem("k", b"etag", etag="-")]),
        api.save(S, [SaveItem("new", b"fw", concurrency="first-write")]),
        api.delete(S, DeleteItem("k", etag="-")),
        api.bulk_delete(S, [DeleteItem("k"), DeleteItem("k", etag="-")]),
    ):
        err = await refused(etag_call, 400, rpc.StatusCode.INVALID_ARGUMENT)
        assert err.message.startswith("state store plain does not support ETags")
    err = await refused(api.query(S, b'{"filter": {}}'), 500, rpc.StatusCode.INTERNAL)
    assert err.message == "state store does not support querying"
    err = await refused(api.list_keys(S, "k"), 500, rpc.StatusCode.UNIMPLEMENTED)
    assert err.message == "state store plain does not support listing keys"

    assert store.writes == writes and store.data == {"app||k": b"before"}


async def test_http_refuses_with_daprs_errors(api: StateAPI, store: PlainStore) -> None:
    router = Router()
    http_state.register(router, api)

    async def call(method: str, target: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        path, _, query = target.partition("?")
        raw = b"" if body is None else json.dumps(body).encode()
        found = router.match(method, path)
        assert found is not None
        handler, params = found
        try:
            resp = await handler(
                Request(method, path, query, Headers(list((headers or {}).items())), raw), params
            )
        except DaprError as err:
            return err.http_status, err.code
        return resp.status, None

    assert await call("POST", "/v1.0/state/plain", [{"key": "k", "value": 1}]) == (204, None)
    tx = {"operations": [{"operation": "upsert", "request": {"key": "k", "value": 2}}]}
    assert await call("POST", "/v1.0/state/plain/transaction", tx) == (500, NOT_SUPPORTED)
    ttl = [{"key": "k", "value": 3, "metadata": {"ttlInSeconds": "5"}}]
    assert await call("POST", "/v1.0/state/plain", ttl) == (400, NOT_SUPPORTED)
    assert await call("POST", "/v1.0/state/plain?metadata.ttlInSeconds=5", [{"key": "k", "value": 3}]) == (
        400,
        NOT_SUPPORTED,
    )
    assert await call("POST", "/v1.0/state/plain", [{"key": "k", "value": 4, "etag": "-"}]) == (
        400,
        NOT_SUPPORTED,
    )
    first = [{"key": "k", "value": 5, "options": {"concurrency": "first-write"}}]
    assert await call("POST", "/v1.0/state/plain", first) == (400, NOT_SUPPORTED)
    assert await call("DELETE", "/v1.0/state/plain/k", headers={"If-Match": "-"}) == (400, NOT_SUPPORTED)
    assert await call("POST", "/v1.0-alpha1/state/plain/query", {"filter": {}}) == (500, NOT_SUPPORTED)
    assert await call("GET", "/v1.0-alpha1/pydapr/state/plain/keys") == (500, NOT_SUPPORTED)
    assert store.data == {"app||k": b"1"}


@pytest.fixture
async def channel(api: StateAPI) -> AsyncIterator[grpc.aio.Channel]:
    """A real gRPC server with Dapr's state service and the key-listing extension, and a channel to it."""
    server = rpc.grpcio_server([])
    dapr_pb2_grpc.add_DaprServicer_to_server(compose_servicer([StateGrpc(api)]), server)  # type: ignore[no-untyped-call]
    StateExtensionsGrpc(api).add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    await server.stop(None)


async def grpc_error(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    status = rpc_status.from_call(info.value)  # type: ignore[arg-type]
    assert status is not None
    detail = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(detail)
    return info.value.code(), detail.reason


async def test_grpc_refuses_with_daprs_errors(channel: grpc.aio.Channel, store: PlainStore) -> None:
    dapr = dapr_pb2_grpc.DaprStub(channel)  # type: ignore[no-untyped-call]
    ext = ext_pb2_grpc.StateExtensionsStub(channel)  # type: ignore[no-untyped-call]
    invalid, unimplemented = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED

    def save(**item: Any) -> state_pb2.SaveStateRequest:
        return state_pb2.SaveStateRequest(store_name=S, states=[common_pb2.StateItem(key="k", **item)])

    await dapr.SaveState(save(value=b"1"))
    op = state_pb2.TransactionalStateOperation(operationType="upsert", request=common_pb2.StateItem(key="k"))
    tx = state_pb2.ExecuteStateTransactionRequest(storeName=S, operations=[op])
    assert await grpc_error(dapr.ExecuteStateTransaction(tx)) == (unimplemented, NOT_SUPPORTED)
    ttl = save(value=b"2", metadata={"ttlInSeconds": "5"})
    assert await grpc_error(dapr.SaveState(ttl)) == (invalid, NOT_SUPPORTED)
    etag = save(value=b"3", etag=common_pb2.Etag(value="-"))
    assert await grpc_error(dapr.SaveState(etag)) == (invalid, NOT_SUPPORTED)
    first = common_pb2.StateOptions(concurrency=common_pb2.StateOptions.CONCURRENCY_FIRST_WRITE)
    assert await grpc_error(dapr.SaveState(save(value=b"4", options=first))) == (invalid, NOT_SUPPORTED)
    delete = state_pb2.DeleteStateRequest(store_name=S, key="k", etag=common_pb2.Etag(value="-"))
    assert await grpc_error(dapr.DeleteState(delete)) == (invalid, NOT_SUPPORTED)
    query = state_pb2.QueryStateRequest(store_name=S, query='{"filter": {}}')
    assert await grpc_error(dapr.QueryStateAlpha1(query)) == (grpc.StatusCode.INTERNAL, NOT_SUPPORTED)
    keys = ext_pb2.ListStateKeysRequest(store_name=S)
    assert await grpc_error(ext.ListStateKeys(keys)) == (unimplemented, NOT_SUPPORTED)
    assert store.data == {"app||k": b"1"}
