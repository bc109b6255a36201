"""The state API through both transports' adapters, on the in-memory store: same answers, same errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import state_pb2

from pydapr.api.grpc.state import StateGrpc
from pydapr.api.http import state as http_state
from pydapr.api.http.router import Router
from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.errors import DaprError
from pydapr.http.messages import Headers, Request, Response
from pydapr.rpc import StatusCode
from pydapr.state.api import StateAPI, StoreEntry, key_prefix
from pydapr.state.memory import InMemoryStateStore
from pydapr.state.query import parse_query


async def make_api(**props: str) -> StateAPI:
    store = InMemoryStateStore()
    meta = ComponentMetadata("store", "state.in-memory", "v1", props, app_id="app")
    await store.init(meta)
    return StateAPI({"store": StoreEntry.from_metadata(store, meta)})


class Http:
    def __init__(self, api: StateAPI) -> None:
        self.router = Router()
        http_state.register(self.router, api)

    async def __call__(
        self, method: str, target: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        path, _, query = target.partition("?")
        raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        req = Request(method, path, query, Headers(list((headers or {}).items())), raw)
        found = self.router.match(method, path)
        assert found is not None, target
        handler, params = found
        try:
            return await handler(req, params)
        except DaprError as err:
            return Response.json(err.http_body(), err.http_status)


def error_of(resp: Response) -> tuple[int, str]:
    return resp.status, json.loads(resp.body)["errorCode"]


@pytest.fixture
async def api() -> StateAPI:
    return await make_api()


@pytest.fixture
def http(api: StateAPI) -> Http:
    return Http(api)


async def test_http_save_get_delete(http: Http, api: StateAPI) -> None:
    assert (await http("POST", "/v1.0/state/store", [{"key": "k", "value": {"a": 1}}])).status == 204
    got = await http("GET", "/v1.0/state/store/k")
    assert got.status == 200 and json.loads(got.body) == {"a": 1}
    etag = got.headers.get("etag")
    assert etag and (await api.get("store", "k")).etag == etag  # type: ignore[union-attr]
    stale = await http("DELETE", "/v1.0/state/store/k", headers={"If-Match": "999"})
    assert error_of(stale) == (409, "ERR_STATE_DELETE")
    assert (await http("DELETE", "/v1.0/state/store/k", headers={"If-Match": etag})).status == 204
    assert (await http("GET", "/v1.0/state/store/k")).status == 204


async def test_stored_keys_carry_the_app_prefix(http: Http, api: StateAPI) -> None:
    await http("POST", "/v1.0/state/store", [{"key": "k", "value": 1}])
    store = api.store("store").store
    assert isinstance(store, InMemoryStateStore)
    assert list(store._data) == ["app||k"]


async def test_http_ttl_metadata_and_headers(http: Http) -> None:
    await http("POST", "/v1.0/state/store?metadata.ttlInSeconds=60", [{"key": "t", "value": "v"}])
    got = await http("GET", "/v1.0/state/store/t")
    assert got.headers.get("metadata.ttlexpiretime")


async def test_http_raw_payload_stores_the_text(http: Http, api: StateAPI) -> None:
    body = [{"key": "r", "value": "plain text", "metadata": {"rawPayload": "true"}}]
    await http("POST", "/v1.0/state/store", body)
    assert (await api.get("store", "r")).data == b"plain text"  # type: ignore[union-attr]


async def test_http_keys_named_like_routes(http: Http) -> None:
    await http("POST", "/v1.0/state/store", [{"key": "bulk", "value": 1}, {"key": "transaction", "value": 2}])
    assert (await http("GET", "/v1.0/state/store/bulk")).body == b"1"
    assert (await http("DELETE", "/v1.0/state/store/transaction")).status == 204


async def test_http_bulk_transaction_query_and_keys(http: Http) -> None:
    await http("POST", "/v1.0/state/store", [{"key": f"k{i}", "value": {"n": i}} for i in range(3)])
    bulk = await http("POST", "/v1.0/state/store/bulk", {"keys": ["k0", "zz"], "parallelism": 2})
    items = json.loads(bulk.body)
    assert items[0]["data"] == {"n": 0} and items[0]["etag"] and items[1] == {"key": "zz"}
    tx = {
        "operations": [
            {"operation": "upsert", "request": {"key": "k9", "value": {"n": 9}}},
            {"operation": "delete", "request": {"key": "k0"}},
        ]
    }
    assert (await http("POST", "/v1.0/state/store/transaction", tx)).status == 204
    q = await http("POST", "/v1.0-alpha1/state/store/query", {"filter": {"IN": {"n": [1, 9]}}})
    assert sorted(r["key"] for r in json.loads(q.body)["results"]) == ["k1", "k9"]
    empty = await http("POST", "/v1.0-alpha1/state/store/query", {"filter": {"EQ": {"n": 42}}})
    assert empty.status == 204
    keys = await http("GET", "/v1.0-alpha1/pydapr/state/store/keys?prefix=k&limit=2")
    page = json.loads(keys.body)
    assert page["keys"] == ["k1", "k2"] and page["token"]
    rest = await http("GET", f"/v1.0-alpha1/pydapr/state/store/keys?prefix=k&limit=2&token={page['token']}")
    assert json.loads(rest.body) == {"keys": ["k9"]}


@pytest.mark.parametrize(
    ("method", "target", "body", "expected"),
    [
        ("POST", "/v1.0/state/store", b"[{not json", (400, "ERR_MALFORMED_REQUEST")),
        ("POST", "/v1.0/state/store", b'{"key": "k"}', (400, "ERR_MALFORMED_REQUEST")),
        ("POST", "/v1.0/state/store", [{"value": 1}], (400, "ERR_MALFORMED_REQUEST")),
        ("POST", "/v1.0/state/store", [{"key": "a||b", "value": 1}], (400, "ERR_MALFORMED_REQUEST")),
        ("POST", "/v1.0/state/store", [{"key": "k", "value": 1, "metadata": {"ttlInSeconds": "x"}}],
         (400, "ERR_STATE_SAVE")),
        ("POST", "/v1.0/state/store", [{"key": "k", "value": 1, "options": {"concurrency": "x"}}],
         (400, "ERR_STATE_SAVE")),
        # contrib's in-memory store compares ETags as text: a malformed one is a mismatch.
        ("POST", "/v1.0/state/store", [{"key": "k", "value": 1, "etag": "x"}], (409, "ERR_STATE_SAVE")),
        ("POST", "/v1.0/state/nope", [{"key": "k", "value": 1}], (400, "ERR_STATE_STORE_NOT_FOUND")),
        ("GET", "/v1.0/state/nope/k", None, (400, "ERR_STATE_STORE_NOT_FOUND")),
        ("GET", "/v1.0/state/store/a||b", None, (400, "ERR_MALFORMED_REQUEST")),
        ("GET", "/v1.0/state/store/k?consistency=often", None, (400, "ERR_STATE_GET")),
        ("POST", "/v1.0/state/store/bulk", b"[]", (400, "ERR_MALFORMED_REQUEST")),
        ("POST", "/v1.0/state/store/transaction", b"{", (400, "ERR_MALFORMED_REQUEST")),
        ("POST", "/v1.0/state/store/transaction",
         {"operations": [{"operation": "upsert", "request": {"key": "k", "value": 1}},
                         {"operation": "merge", "request": {"key": "j"}}]},
         (400, "ERR_NOT_SUPPORTED_STATE_OPERATION")),
        ("POST", "/v1.0-alpha1/state/store/query", b"{bad", (500, "ERR_STATE_QUERY")),  # as daprd
        ("GET", "/v1.0-alpha1/pydapr/state/store/keys?limit=0", None, (400, "ERR_MALFORMED_REQUEST")),
    ],
)  # fmt: skip
async def test_http_bad_input_changes_nothing(
    http: Http, api: StateAPI, method: str, target: str, body: Any, expected: tuple[int, str]
) -> None:
    await http("POST", "/v1.0/state/store", [{"key": "k", "value": "before"}])
    resp = await http(method, target, body)
    assert error_of(resp) == expected
    assert (await api.get("store", "k")).data == b'"before"'  # type: ignore[union-attr]
    assert (await api.get("store", "j")) is None


async def test_no_store_configured() -> None:
    http = Http(StateAPI({}))
    assert error_of(await http("GET", "/v1.0/state/any/k")) == (500, "ERR_STATE_STORE_NOT_CONFIGURED")


class Aborted(Exception):
    pass


async def test_grpc_adapter_matches_http(api: StateAPI) -> None:
    rpc = StateGrpc(api)
    opts = common_pb2.StateOptions(concurrency=common_pb2.StateOptions.CONCURRENCY_FIRST_WRITE)
    await rpc.SaveState(
        state_pb2.SaveStateRequest(
            store_name="store",
            states=[
                common_pb2.StateItem(key="g", value=b"\x00bin", options=opts, metadata={"ttlInSeconds": "60"})
            ],
        ),
        None,
    )
    got = await rpc.GetState(state_pb2.GetStateRequest(store_name="store", key="g"), None)
    assert got.data == b"\x00bin" and got.etag and "ttlExpireTime" in got.metadata
    with pytest.raises(DaprError) as info:
        await rpc.SaveState(
            state_pb2.SaveStateRequest(
                store_name="store", states=[common_pb2.StateItem(key="g", value=b"x", options=opts)]
            ),
            None,
        )
    assert info.value.grpc_status == StatusCode.ABORTED and info.value.code == "ERR_STATE_SAVE"
    with pytest.raises(DaprError) as info:
        await rpc.ExecuteStateTransaction(
            state_pb2.ExecuteStateTransactionRequest(
                storeName="store",
                operations=[state_pb2.TransactionalStateOperation(operationType="merge")],
            ),
            None,
        )
    assert info.value.grpc_status == StatusCode.UNIMPLEMENTED
    bulk = await rpc.GetBulkState(state_pb2.GetBulkStateRequest(store_name="store", keys=["g", "no"]), None)
    assert [(i.key, i.data) for i in bulk.items] == [("g", b"\x00bin"), ("no", b"")]
    await rpc.DeleteState(
        state_pb2.DeleteStateRequest(store_name="store", key="g", etag=common_pb2.Etag(value=got.etag)), None
    )
    assert (await rpc.GetState(state_pb2.GetStateRequest(store_name="store", key="g"), None)).data == b""
    with pytest.raises(DaprError) as info:
        await rpc.GetState(state_pb2.GetStateRequest(store_name="missing", key="g"), None)
    assert info.value.grpc_status == StatusCode.INVALID_ARGUMENT


def test_key_prefix_strategies() -> None:
    assert key_prefix("appid", "s", "app", "ns") == "app||"
    assert key_prefix("", "s", "", "ns") == ""
    assert key_prefix("name", "s", "app", "ns") == "s||"
    assert key_prefix("namespace", "s", "app", "ns") == "ns.app||"
    assert key_prefix("none", "s", "app", "ns") == ""
    assert key_prefix("shared", "s", "app", "ns") == "shared||"


async def test_illegal_custom_prefix_is_a_config_error() -> None:
    with pytest.raises(ComponentConfigError):
        await make_api(keyPrefix="a||b")


async def test_two_actor_stores_are_refused() -> None:
    one, two = InMemoryStateStore(), InMemoryStateStore()
    metas = [
        ComponentMetadata(n, "state.in-memory", "v1", {"actorStateStore": "true"}, app_id="a") for n in "xy"
    ]
    with pytest.raises(ValueError, match="only one state store"):
        StateAPI({m.name: StoreEntry.from_metadata(s, m) for s, m in zip((one, two), metas, strict=True)})


def test_query_parsing() -> None:
    body = {
        "filter": {"AND": [{"EQ": {"a.b": 1}}, {"IN": {"c": [1, 2]}}]},
        "sort": [{"key": "d", "order": "DESC"}],
        "page": {"limit": 2, "token": "4"},
    }
    q = parse_query(json.dumps(body).encode(), "p||")
    assert q.limit == 2 and q.offset == 4 and q.sort[0].descending and q.key_prefix == "p||"
