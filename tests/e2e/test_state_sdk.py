"""State end to end: a real sidecar on a real sqlite file, driven by the official Dapr Python SDK over
gRPC (sync and asyncio) and by plain HTTP, including the errors a user sees."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.aio.clients import DaprClient as AsyncDaprClient
from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateItem, StateOptions
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from pydapr.api.grpc._ext import state_pb2 as ext_pb2
from pydapr.api.grpc._ext import state_pb2_grpc as ext_pb2_grpc
from tests.e2e.harness import Processes, Sidecar

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
  - name: actorStateStore
    value: "true"
"""


@pytest.fixture
def sidecar(procs: Processes, tmp_path: Path, dapr_settings: Callable[[Sidecar], None]) -> Iterator[Sidecar]:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "statestore.yaml").write_text(STORE)
    side = procs.sidecar("stateapp", resources=resources, args=["--max-body-size", "2Mi"])
    dapr_settings(side)
    yield side


def http(
    side: Sidecar, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    data = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(side.url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_sdk_grpc_sync(sidecar: Sidecar) -> None:
    with DaprClient() as client:
        client.save_state("statestore", "order-1", '{"item": "book", "qty": 1}')
        got = client.get_state("statestore", "order-1")
        assert json.loads(got.data) == {"item": "book", "qty": 1} and got.etag
        client.save_state("statestore", "order-1", '{"item": "book", "qty": 2}', etag=got.etag)
        with pytest.raises(grpc.RpcError) as info:
            client.save_state("statestore", "order-1", "{}", etag=got.etag)  # stale
        assert info.value.code() == grpc.StatusCode.ABORTED
        client.save_bulk_state(
            "statestore",
            [StateItem("order-2", '{"item": "pen", "qty": 5}'), StateItem("blob", b"\x00\xff\x10")],
        )
        bulk = client.get_bulk_state("statestore", ["order-1", "order-2", "blob", "absent"], parallelism=2)
        assert [i.data for i in bulk.items][2:] == [b"\x00\xff\x10", b""]
        client.execute_state_transaction(
            "statestore",
            [
                TransactionalStateOperation(key="order-3", data='{"item": "cup", "qty": 2}'),
                TransactionalStateOperation(key="blob", operation_type=TransactionOperationType.delete),
            ],
        )
        assert client.get_state("statestore", "blob").data == b""
        query = '{"filter": {"EQ": {"qty": 2}}, "sort": [{"key": "item"}]}'
        with pytest.warns(UserWarning, match="Alpha"):  # the SDK warns on every query call
            found = client.query_state("statestore", query)
        assert [r.key for r in found.results] == ["order-1", "order-3"]
        client.save_state(
            "statestore", "order-9", "x", options=StateOptions(concurrency=Concurrency.first_write)
        )
        with pytest.raises(grpc.RpcError) as info:
            client.save_state(
                "statestore", "order-9", "y", options=StateOptions(concurrency=Concurrency.first_write)
            )
        assert info.value.code() == grpc.StatusCode.ABORTED
        client.delete_state("statestore", "order-9")
        assert client.get_state("statestore", "order-9").data == b""
        with pytest.raises(grpc.RpcError) as info:
            client.get_state("nostore", "k")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_sdk_grpc_async(sidecar: Sidecar) -> None:
    async with AsyncDaprClient() as client:
        await client.save_state("statestore", "a-1", "héllo ✓", state_metadata={"ttlInSeconds": "60"})
        got = await client.get_state("statestore", "a-1")
        assert got.data == "héllo ✓".encode() and got.etag
        await client.save_bulk_state("statestore", [StateItem("a-2", "2"), StateItem("a-3", "3")])
        bulk = await client.get_bulk_state("statestore", ["a-2", "a-3"])
        assert [i.data for i in bulk.items] == [b"2", b"3"]
        await client.execute_state_transaction(
            "statestore",
            # data="": the async client of SDK 1.16 cannot encode a delete without data
            [TransactionalStateOperation(key="a-2", data="", operation_type=TransactionOperationType.delete)],
        )
        assert (await client.get_state("statestore", "a-2")).data == b""
        await client.delete_state("statestore", "a-3")
        assert (await client.get_state("statestore", "a-3")).data == b""


def test_http_api_and_errors(sidecar: Sidecar) -> None:
    assert http(sidecar, "POST", "/v1.0/state/statestore", [{"key": "h", "value": {"v": 1}}])[0] == 204
    status, headers, body = http(sidecar, "GET", "/v1.0/state/statestore/h")
    assert status == 200 and json.loads(body) == {"v": 1}
    etag = {k.lower(): v for k, v in headers.items()}["etag"]
    # SQLite compares ETags (contrib's store): one that is not an ETag is simply a mismatch.
    bad = http(sidecar, "DELETE", "/v1.0/state/statestore/h", headers={"If-Match": "not-an-etag"})
    assert bad[0] == 409 and json.loads(bad[2])["errorCode"] == "ERR_STATE_DELETE"
    assert http(sidecar, "DELETE", "/v1.0/state/statestore/h", headers={"If-Match": etag})[0] == 204

    def error(method: str, path: str, body: Any) -> tuple[int, str]:
        status, _, raw = http(sidecar, method, path, body)
        return status, json.loads(raw)["errorCode"]

    assert error("POST", "/v1.0/state/statestore", b"[{oops") == (400, "ERR_MALFORMED_REQUEST")
    assert error("POST", "/v1.0/state/statestore", [{"value": 1}]) == (400, "ERR_MALFORMED_REQUEST")
    assert error("POST", "/v1.0/state/statestore", [{"key": "a||b", "value": 1}]) == (
        400,
        "ERR_MALFORMED_REQUEST",
    )
    assert error("POST", "/v1.0/state/nostore", [{"key": "k", "value": 1}]) == (
        400,
        "ERR_STATE_STORE_NOT_FOUND",
    )
    huge = [{"key": "huge", "value": "x" * (3 * 1024 * 1024)}]
    status, _, _ = http(sidecar, "POST", "/v1.0/state/statestore", huge)
    assert status == 413
    assert http(sidecar, "GET", "/v1.0/state/statestore/huge")[0] == 204
    keys = http(sidecar, "GET", "/v1.0-alpha1/pydapr/state/statestore/keys?limit=10")
    assert keys[0] == 200 and "huge" not in json.loads(keys[2])["keys"]


def error_reason(err: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    """The status code and the ErrorInfo reason (Dapr's error code) of a failed call."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, err
    info = error_details_pb2.ErrorInfo()
    assert status.details and status.details[0].Unpack(info)
    return err.code(), info.reason  # type: ignore[attr-defined]


def test_list_keys_over_grpc(sidecar: Sidecar) -> None:
    """The pydapr extension service, on the same port as Dapr's, pages like the HTTP form."""
    with DaprClient() as client:
        client.save_bulk_state("statestore", [StateItem(f"user-{i:02}", "1") for i in range(7)])
        client.save_state("statestore", "other", "1")
        client.save_state("statestore", "user-gone", "1", state_metadata={"ttlInSeconds": "1"})
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        stub = ext_pb2_grpc.StateExtensionsStub(channel)  # type: ignore[no-untyped-call]

        def page(**kw: Any) -> ext_pb2.ListStateKeysResponse:
            return stub.ListStateKeys(ext_pb2.ListStateKeysRequest(store_name="statestore", **kw), timeout=10)

        time.sleep(1.2)  # user-gone expires: listings never show expired keys
        seen: list[str] = []
        token = ""
        for _ in range(5):
            got = page(prefix="user-", limit=3, token=token)
            assert len(got.keys) <= 3
            seen += got.keys
            token = got.token
            if not token:
                break
        assert seen == [f"user-{i:02}" for i in range(7)]
        everything = page()  # limit 0: the default page size (100)
        assert list(everything.keys) == ["other", *seen] and not everything.token
        # The same answer as the HTTP form.
        status, _, body = http(
            sidecar, "GET", "/v1.0-alpha1/pydapr/state/statestore/keys?prefix=user-&limit=3"
        )
        assert status == 200 and json.loads(body) == {
            "keys": seen[:3],
            "token": page(prefix="user-", limit=3).token,
        }

        with pytest.raises(grpc.RpcError) as info:
            stub.ListStateKeys(ext_pb2.ListStateKeysRequest(store_name="nostore"), timeout=10)
        assert error_reason(info.value) == (grpc.StatusCode.INVALID_ARGUMENT, "ERR_STATE_STORE_NOT_FOUND")
        for bad in ({"limit": 1001}, {"limit": -1}, {"prefix": "a||b"}):
            with pytest.raises(grpc.RpcError) as info:
                page(**bad)
            assert error_reason(info.value) == (grpc.StatusCode.INVALID_ARGUMENT, "ERR_MALFORMED_REQUEST")
    # Dapr's own service still answers on that port.
    with DaprClient() as client:
        assert client.get_state("statestore", "other").data == b"1"


def test_list_keys_over_grpc_needs_the_api_token(procs: Processes, tmp_path: Path) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "statestore.yaml").write_text(STORE)
    side = procs.sidecar("tokenapp", resources=resources, env={"DAPR_API_TOKEN": "s3cret"})
    with grpc.insecure_channel(f"127.0.0.1:{side.grpc_port}") as channel:
        stub = ext_pb2_grpc.StateExtensionsStub(channel)  # type: ignore[no-untyped-call]
        request = ext_pb2.ListStateKeysRequest(store_name="statestore")
        with pytest.raises(grpc.RpcError) as info:
            stub.ListStateKeys(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        got = stub.ListStateKeys(request, timeout=10, metadata=[("dapr-api-token", "s3cret")])
        assert list(got.keys) == []
