"""Request bodies decoded as daprd decodes them: Go's encoding/json (keys match fields
case-insensitively, unknown keys ignored) for state, bulk publish and bindings; protojson (JSON or
proto field names, int ranges) for lock and jobs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pydapr.api.http import bindings as http_bindings
from pydapr.api.http import jobs as http_jobs
from pydapr.api.http import lock as http_lock
from pydapr.api.http import pubsub as http_pubsub
from pydapr.api.http import state as http_state
from pydapr.api.http.jsonbody import BodyDecoder
from pydapr.api.http.router import Router
from pydapr.bindings.api import BindingsAPI
from pydapr.bindings.localstorage import LocalStorageBinding
from pydapr.components.base import ComponentMetadata
from pydapr.errors import DaprError
from pydapr.http.messages import Headers, Request, Response
from pydapr.lock.api import LockAPI, LockEntry
from pydapr.lock.sqlite import SQLiteLockStore
from pydapr.pubsub.api import PubSubAPI
from pydapr.pubsub.contract import Message, SubscribeRequest
from pydapr.pubsub.memory import InMemoryPubSub
from pydapr.state.api import StateAPI, StoreEntry
from pydapr.state.memory import InMemoryStateStore


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    concurrency: str = ""


class Item(msgspec.Struct, forbid_unknown_fields=True):
    key: str = ""
    value: msgspec.Raw = msgspec.Raw(b"null")
    ttlInSeconds: int = 0
    options: Inner | None = None


def test_keys_match_fields_case_insensitively_and_unknown_keys_are_ignored() -> None:
    dec: BodyDecoder[list[Item]] = BodyDecoder(list[Item])
    body = (
        b'[{"KEY":"a","Value":{"Key":1, "x" : [1,2]},"TTLInSeconds":5,"extra":{"y":1},'
        b'"Options":{"CONCURRENCY":"first-write"}}]'
    )
    [item] = dec.decode(body)
    assert (item.key, item.ttlInSeconds, item.options) == ("a", 5, Inner("first-write"))
    # The value is kept byte for byte: its own keys are the user's, never renamed.
    assert bytes(item.value) == b'{"Key":1, "x" : [1,2]}'


def test_an_exact_key_and_a_later_case_variant_the_later_wins_as_in_go() -> None:
    dec: BodyDecoder[Item] = BodyDecoder(Item)
    assert dec.decode(b'{"key":"first","Key":"second"}').key == "second"


def test_wrong_types_are_still_reported() -> None:
    dec: BodyDecoder[Item] = BodyDecoder(Item)
    with pytest.raises(msgspec.ValidationError, match="ttlInSeconds"):
        dec.decode(b'{"TTLINSECONDS":"five"}')
    with pytest.raises(msgspec.DecodeError):
        dec.decode(b'{"key": ')


def test_protojson_takes_json_or_proto_names_case_sensitively() -> None:
    dec: BodyDecoder[Item] = BodyDecoder(Item, "protojson")
    assert dec.decode(b'{"ttl_in_seconds":7,"key":"k"}').ttlInSeconds == 7
    assert dec.decode(b'{"TtlInSeconds":7,"KEY":"k"}') == Item()


def test_structs_must_forbid_unknown_fields() -> None:
    class Loose(msgspec.Struct):
        key: str = ""

    # The schema is walked on the first body that takes the second pass, not when the decoder is
    # made (that walk is most of a decoder's cost, and the sidecar makes a dozen at import time).
    dec = BodyDecoder(Loose)
    with pytest.raises(TypeError, match="forbid_unknown_fields"):
        dec.decode(b'{"key": 1}')


def test_every_route_decoder_forbids_unknown_fields() -> None:
    # So this is where a route's loose struct is caught: walk every module-level decoder's schema.
    from pydapr.actors import http_api as actors_http_api
    from pydapr.state import query as state_query

    modules = (http_bindings, http_jobs, http_lock, http_pubsub, http_state, actors_http_api, state_query)
    decoders = [v for m in modules for v in vars(m).values() if isinstance(v, BodyDecoder)]
    assert len(decoders) == 12
    for decoder in decoders:
        assert decoder._root is not None


# --- through the routes ------------------------------------------------------------------------


async def call(router: Router, method: str, path: str, body: bytes) -> Response:
    found = router.match(method, path)
    assert found is not None, path
    handler, params = found
    try:
        return await handler(Request(method, path, "", Headers([]), body), params)
    except DaprError as err:
        return Response.json(err.http_body(), err.http_status)


@pytest.fixture
async def state_router() -> Router:
    store = InMemoryStateStore()
    meta = ComponentMetadata("store", "state.in-memory", "v1", {}, app_id="app")
    await store.init(meta)
    router = Router()
    http_state.register(router, StateAPI({"store": StoreEntry.from_metadata(store, meta)}))
    return router


async def test_state_save_with_go_spelled_fields(state_router: Router) -> None:
    body = (
        b'[{"Key":"k","Value":{"Name":"n"},"Metadata":{"ttlInSeconds":"100"},'
        b'"contentType":"application/json"}]'
    )
    assert (await call(state_router, "POST", "/v1.0/state/store", body)).status == 204
    got = await call(state_router, "POST", "/v1.0/state/store/bulk", b'{"KEYS":["k"]}')
    [item] = json.loads(got.body)
    assert item["key"] == "k" and item["data"] == {"Name": "n"}
    assert "ttlExpireTime" in item["metadata"]
    # ETag spelled as Go's field is named: checked, so a stale one is refused.
    stale = b'[{"key":"k","value":1,"ETag":"999"}]'
    resp = await call(state_router, "POST", "/v1.0/state/store", stale)
    assert resp.status == 409


async def test_state_transaction_with_go_spelled_fields(state_router: Router) -> None:
    body = (
        b'{"Operations":[{"Operation":"upsert","Request":{"KEY":"a","VALUE":"x","unknown":1}},'
        b'{"operation":"upsert","request":{"key":"b","value":"y"}}]}'
    )
    assert (await call(state_router, "POST", "/v1.0/state/store/transaction", body)).status == 204
    got = await call(state_router, "POST", "/v1.0/state/store/bulk", b'{"keys":["a","b"]}')
    assert [i["data"] for i in json.loads(got.body)] == ["x", "y"]


async def test_a_null_save_body_saves_nothing(state_router: Router) -> None:
    assert (await call(state_router, "POST", "/v1.0/state/store", b"null")).status == 204


async def test_bulk_publish_entry_id_in_any_case() -> None:
    comp = InMemoryPubSub()
    await comp.init(ComponentMetadata("pubsub", "pubsub.in-memory", "v1", {}, app_id="pub", base_dir=Path()))
    got: list[Message] = []

    async def handler(msg: Message) -> None:
        got.append(msg)

    await comp.subscribe(SubscribeRequest("orders"), handler)
    router = Router()
    http_pubsub.register(router, PubSubAPI(lambda: {"pubsub": comp}, "pub"))
    body = b'[{"entryID":"1","Event":{"n":1},"ContentType":"application/json","traceid":"x"}]'
    resp = await call(router, "POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", body)
    assert resp.status == 204, resp.body
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    assert json.loads(got[0].data)["data"] == {"n": 1}


async def test_output_binding_body_in_any_case(tmp_path: Path) -> None:
    binding = LocalStorageBinding()
    await binding.init(ComponentMetadata("files", "bindings.localstorage", "v1", {"rootPath": str(tmp_path)}))
    router = Router()
    http_bindings.register(router, BindingsAPI({"files": binding}))
    body = b'{"Operation":"create","Data":"hello","Metadata":{"fileName":"a.txt"},"other":true}'
    assert (await call(router, "POST", "/v1.0/bindings/files", body)).status in (200, 204)
    assert (tmp_path / "a.txt").read_text() == "hello"


async def test_lock_body_proto_names_and_int32_expiry(tmp_path: Path) -> None:
    store = SQLiteLockStore()
    await store.init(
        ComponentMetadata("lockstore", "lock.sqlite", "v1", {"connectionString": str(tmp_path / "l.db")})
    )
    router = Router()
    http_lock.register(router, LockAPI({"lockstore": LockEntry(store, "app")}))
    ok = await call(
        router,
        "POST",
        "/v1.0-alpha1/lock/lockstore",
        b'{"resource_id":"r","lock_owner":"o","expiry_in_seconds":10,"unknown":1}',
    )
    assert json.loads(ok.body) == {"success": True}
    too_long = await call(
        router,
        "POST",
        "/v1.0-alpha1/lock/lockstore",
        b'{"resourceId":"r2","lockOwner":"o","expiryInSeconds":3000000000}',
    )
    err: dict[str, Any] = json.loads(too_long.body)
    assert too_long.status == 400 and err["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert err["message"].startswith("failed deserializing HTTP body")
    await store.close()


def test_job_body_proto_names() -> None:
    job, overwrite = http_jobs._job_from_body(
        "j", b'{"due_time":"10s","repeats":2,"failure_policy":{"drop":{}},"data":{"a":1},"overwrite":true}'
    )
    assert (job.due_time, job.repeats, overwrite) == ("10s", 2, True)
    assert job.failure_policy.HasField("drop")
    with pytest.raises(DaprError) as bad:
        http_jobs._job_from_body("j", b'{"schedule":"@every 1s","repeats":-1}')
    assert bad.value.code == "ERR_MALFORMED_REQUEST"


async def test_state_query_body_in_any_case(state_router: Router) -> None:
    for key, n in (("a", 1), ("b", 2), ("c", 3)):
        save = json.dumps([{"key": key, "value": {"n": n, "kind": "x"}}]).encode()
        assert (await call(state_router, "POST", "/v1.0/state/store", save)).status == 204
    query = b'{"Filter":{"EQ":{"kind":"x"}},"Sort":[{"KEY":"n","Order":"DESC"}],"PAGE":{"Limit":2}}'
    resp = await call(state_router, "POST", "/v1.0-alpha1/state/store/query", query)
    doc = json.loads(resp.body)
    assert [r["key"] for r in doc["results"]] == ["c", "b"] and doc["token"] == "2"
