"""The state API on every store: what a user of the API sees, the same on each backend."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pydapr.errors import DaprError
from pydapr.state.api import DeleteItem, SaveItem, StateAPI, TransactionOperation
from pydapr.state.contract import (
    FEATURE_ETAG,
    FEATURE_KEYS_LIKE,
    FEATURE_QUERY,
    FEATURE_TRANSACTIONAL,
    FEATURE_TTL,
)

from .conftest import EXPECTED_FEATURES, Backend

S = "store"


def requires(*features: str) -> pytest.MarkDecorator:
    """Run a test only on backends that declare ``features`` (the others are deselected at collection:
    ``test_optional_feature`` checks that they refuse the feature)."""
    return pytest.mark.requires_features(*features)


@contextmanager
def dapr_error(code: str, status: int) -> Iterator[None]:
    with pytest.raises(DaprError) as info:
        yield
    assert (info.value.code, info.value.http_status) == (code, status), info.value.message


async def value(api: StateAPI, key: str) -> bytes | None:
    item = await api.get(S, key)
    return None if item is None else item.data


def save(key: str, data: bytes, **kw: object) -> SaveItem:
    return SaveItem(key, data, **kw)  # type: ignore[arg-type]


async def test_features_declared(backend: Backend) -> None:
    store = await backend.open()
    assert store.features() == EXPECTED_FEATURES[backend.id]


# Every optional feature, and Dapr's answer when a store lacks it (code ERR_STATE_STORE_NOT_SUPPORTED).
REFUSED_STATUS = {
    FEATURE_ETAG: 400,
    FEATURE_TRANSACTIONAL: 500,
    FEATURE_TTL: 400,
    FEATURE_QUERY: 500,
    FEATURE_KEYS_LIKE: 500,
}


async def use_feature(api: StateAPI, feature: str) -> None:
    """One call that only a store with ``feature`` can serve; it leaves "f" holding b"after"."""
    await api.save(S, [save("f", b"before")])
    if feature == FEATURE_ETAG:
        item = await api.get(S, "f")
        assert item is not None
        await api.save(S, [save("f", b"after", etag=item.etag or "1")])
    elif feature == FEATURE_TRANSACTIONAL:
        await api.transact(S, [TransactionOperation("upsert", save("f", b"after"))])
    elif feature == FEATURE_TTL:
        await api.save(S, [save("f", b"after", metadata={"ttlInSeconds": "60"})])
    elif feature == FEATURE_QUERY:
        await api.query(S, b'{"filter": {"EQ": {"a": 1}}}')
        await api.save(S, [save("f", b"after")])
    elif feature == FEATURE_KEYS_LIKE:
        assert (await api.list_keys(S, "f")).keys == ["f"]
        await api.save(S, [save("f", b"after")])


@pytest.mark.parametrize("feature", sorted(REFUSED_STATUS))
async def test_optional_feature(backend: Backend, api: StateAPI, feature: str) -> None:
    """Declared: it works. Not declared: refused with Dapr's error, and nothing changes."""
    if feature in EXPECTED_FEATURES[backend.id]:
        await use_feature(api, feature)
        assert await value(api, "f") == b"after"
        return
    with dapr_error("ERR_STATE_STORE_NOT_SUPPORTED", REFUSED_STATUS[feature]):
        await use_feature(api, feature)
    assert await value(api, "f") == b"before"


def test_every_feature_is_covered_both_ways() -> None:
    """Each optional feature any backend declares is in test_optional_feature, so wherever a backend
    lacks one, its refusal is checked (today: query on redis, postgresql v2, mysql). Features no
    built-in store lacks are refused by tests/unit/state/test_refused_features.py."""
    assert set().union(*EXPECTED_FEATURES.values()) == set(REFUSED_STATUS)


async def test_crud(api: StateAPI) -> None:
    assert await api.get(S, "k") is None
    await api.save(S, [save("k", b'{"n":1}')])
    first = await api.get(S, "k")
    assert first is not None and json.loads(first.data) == {"n": 1} and first.etag
    await api.save(S, [save("k", b'"two"')])
    second = await api.get(S, "k")
    assert second is not None and second.data == b'"two"' and second.etag != first.etag
    await api.delete(S, DeleteItem("k"))
    assert await api.get(S, "k") is None
    await api.delete(S, DeleteItem("k"))  # deleting what is absent is fine


async def test_bulk_save_get_delete(api: StateAPI) -> None:
    await api.save(S, [save(f"b{i}", str(i).encode()) for i in range(10)])
    items = await api.bulk_get(S, [*(f"b{i}" for i in range(10)), "missing"], parallelism=3)
    assert [i.key for i in items] == [*(f"b{i}" for i in range(10)), "missing"]
    assert [i.item.data if i.item else None for i in items] == [*(str(i).encode() for i in range(10)), None]
    assert all(i.item.etag for i in items[:10] if i.item)
    await api.bulk_delete(S, [DeleteItem(f"b{i}") for i in range(5)])
    items = await api.bulk_get(S, [f"b{i}" for i in range(10)])
    assert [i.item is not None for i in items] == [False] * 5 + [True] * 5


@requires(FEATURE_ETAG)
async def test_stale_etag_is_refused(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("e", b"1")])
    old = await api.get(S, "e")
    assert old is not None
    await api.save(S, [save("e", b"2", etag=old.etag)])
    with dapr_error("ERR_STATE_SAVE", 409):
        await api.save(S, [save("e", b"3", etag=old.etag)])
    with dapr_error("ERR_STATE_DELETE", 409):
        await api.delete(S, DeleteItem("e", etag=old.etag))
    assert await value(api, "e") == b"2"
    current = await api.get(S, "e")
    assert current is not None
    await api.delete(S, DeleteItem("e", etag=current.etag))
    assert await api.get(S, "e") is None


# Where the contrib store accepts an ETag on a key that does not exist: redis's scripts check the
# version only of a key that has one. The others find no row to match: 409.
ETAG_ON_MISSING_KEY_ACCEPTED = {"redis"}
# Where contrib parses the ETag and answers a malformed one ETagInvalid (400): redis (an integer)
# and postgresql v1 (xmin); the others compare it and find no match (409).
MALFORMED_ETAG_STATUS = {"redis": 400, "postgresql-v1": 400}


@requires(FEATURE_ETAG)
async def test_etag_on_a_key_that_does_not_exist(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("e", b"1")])
    etag = (await api.get(S, "e")).etag  # type: ignore[union-attr]
    assert etag
    if backend.id in ETAG_ON_MISSING_KEY_ACCEPTED:
        await api.save(S, [save("nokey", b"x", etag=etag)])
        assert await value(api, "nokey") == b"x"
        await api.delete(S, DeleteItem("gone", etag=etag))
        return
    with dapr_error("ERR_STATE_SAVE", 409):
        await api.save(S, [save("nokey", b"x", etag=etag)])
    assert await api.get(S, "nokey") is None
    with dapr_error("ERR_STATE_DELETE", 409):
        await api.delete(S, DeleteItem("gone", etag=etag))


@requires(FEATURE_ETAG)
async def test_malformed_etag_is_refused(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("m", b"1")])
    status = MALFORMED_ETAG_STATUS.get(backend.id, 409)
    with dapr_error("ERR_STATE_SAVE", status):
        await api.save(S, [save("m", b"2", etag="not an etag!")])
    with dapr_error("ERR_STATE_DELETE", status):
        await api.delete(S, DeleteItem("m", etag="not an etag!"))
    assert await value(api, "m") == b"1"


@requires(FEATURE_ETAG)
async def test_etag_race_exactly_one_writer_wins(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("race", b"0")])
    item = await api.get(S, "race")
    assert item is not None
    results = await asyncio.gather(
        *(api.save(S, [save("race", f"w{i}".encode(), etag=item.etag)]) for i in range(2)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, DaprError)]
    assert len(errors) == 1 and errors[0].http_status == 409
    winner = results.index(None)
    assert await value(api, "race") == f"w{winner}".encode()


@requires(FEATURE_ETAG)
async def test_first_write_without_etag_only_creates(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("fw", b"1", concurrency="first-write")])
    with dapr_error("ERR_STATE_SAVE", 409):
        await api.save(S, [save("fw", b"2", concurrency="first-write")])
    assert await value(api, "fw") == b"1"
    await api.save(S, [save("fw", b"3", concurrency="last-write")])
    assert await value(api, "fw") == b"3"


@requires(FEATURE_ETAG)
async def test_concurrent_writers_lose_no_update(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("counter", b"0")])

    async def increment(times: int) -> None:
        done = 0
        while done < times:
            item = await api.get(S, "counter")
            assert item is not None
            try:
                new = str(int(item.data) + 1).encode()
                await api.save(S, [save("counter", new, etag=item.etag, concurrency="first-write")])
            except DaprError as err:
                assert err.http_status == 409
                continue
            done += 1

    await asyncio.gather(*(increment(5) for _ in range(4)))
    assert await value(api, "counter") == b"20"


@requires(FEATURE_TRANSACTIONAL)
async def test_transaction_applies_everything(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("gone", b"x")])
    await api.transact(
        S,
        [
            TransactionOperation("upsert", save("t1", b"1")),
            TransactionOperation("upsert", save("t2", b"2")),
            TransactionOperation("delete", DeleteItem("gone")),
        ],
    )
    assert [await value(api, k) for k in ("t1", "t2", "gone")] == [b"1", b"2", None]


@requires(FEATURE_TRANSACTIONAL, FEATURE_ETAG)
async def test_failing_transaction_applies_nothing(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("keep", b"old"), save("guarded", b"g")])
    stale = await api.get(S, "guarded")
    assert stale is not None
    await api.save(S, [save("guarded", b"g2")])
    with dapr_error("ERR_STATE_TRANSACTION", 409):
        await api.transact(
            S,
            [
                TransactionOperation("upsert", save("new1", b"1")),
                TransactionOperation("delete", DeleteItem("keep")),
                TransactionOperation("upsert", save("guarded", b"lost", etag=stale.etag)),
            ],
        )
    assert [await value(api, k) for k in ("new1", "keep", "guarded")] == [None, b"old", b"g2"]
    with dapr_error("ERR_NOT_SUPPORTED_STATE_OPERATION", 400):
        await api.transact(
            S,
            [
                TransactionOperation("upsert", save("new2", b"1")),
                TransactionOperation("merge", save("x", b"")),
            ],
        )
    assert await api.get(S, "new2") is None


@requires(FEATURE_TTL, FEATURE_KEYS_LIKE)
async def test_ttl_expiry(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save("short", b"1", metadata={"ttlInSeconds": "1"}), save("forever", b"2")])
    await api.save(S, [save("persist", b"3", metadata={"ttlInSeconds": "-1"})])
    short = await api.get(S, "short")
    assert short is not None and "ttlExpireTime" in short.response_metadata()
    forever = await api.get(S, "forever")
    assert forever is not None and forever.response_metadata() == {}
    await asyncio.sleep(1.3)
    assert await api.get(S, "short") is None
    items = await api.bulk_get(S, ["short", "forever", "persist"])
    assert [i.item is not None for i in items] == [False, True, True]
    page = await api.list_keys(S, "")
    assert sorted(page.keys) == ["forever", "persist"]
    # An expired key can be written again with first-write, as if it never existed.
    await api.save(S, [save("short", b"again", concurrency="first-write")])
    assert await value(api, "short") == b"again"


async def test_bad_ttl_is_refused(api: StateAPI) -> None:
    with dapr_error("ERR_STATE_SAVE", 400):
        await api.save(S, [save("badttl", b"1", metadata={"ttlInSeconds": "soon"})])
    assert await api.get(S, "badttl") is None


@requires(FEATURE_QUERY)
async def test_query(backend: Backend, api: StateAPI) -> None:
    people = {
        "p1": {"name": "ann", "city": "Paris", "age": 31, "org": {"team": "red"}},
        "p2": {"name": "bob", "city": "Oslo", "age": 25, "org": {"team": "blue"}},
        "p3": {"name": "cid", "city": "Paris", "age": 45, "org": {"team": "blue"}},
        "p4": {"name": "dan", "city": "Rome", "age": 38, "org": {"team": "red"}},
    }
    await api.save(S, [save(k, json.dumps(v).encode()) for k, v in people.items()])
    await api.save(S, [save("raw", b"\x00\xffnot json")])
    other = await backend.api(app_id=backend.base + "-other")
    await other.save(S, [save("p9", json.dumps({"city": "Paris", "age": 50}).encode())])

    async def keys(q: dict[str, object]) -> list[str]:
        return [k for k, _ in (await api.query(S, json.dumps(q).encode())).items]

    assert sorted(await keys({"filter": {"EQ": {"city": "Paris"}}})) == ["p1", "p3"]
    assert sorted(await keys({"filter": {"IN": {"city": ["Oslo", "Rome"]}}})) == ["p2", "p4"]
    assert await keys({"filter": {"AND": [{"EQ": {"city": "Paris"}}, {"EQ": {"org.team": "blue"}}]}}) == [
        "p3"
    ]
    both = {"filter": {"OR": [{"EQ": {"name": "ann"}}, {"EQ": {"org.team": "blue"}}]}}
    assert sorted(await keys(both)) == ["p1", "p2", "p3"]
    assert await keys({"sort": [{"key": "age", "order": "DESC"}]}) == ["p3", "p4", "p1", "p2"]
    first = await api.query(S, json.dumps({"sort": [{"key": "age"}], "page": {"limit": 3}}).encode())
    assert [k for k, _ in first.items] == ["p2", "p1", "p4"] and first.token
    q2 = {"sort": [{"key": "age"}], "page": {"limit": 3, "token": first.token}}
    rest = await api.query(S, json.dumps(q2).encode())
    assert [k for k, _ in rest.items] == ["p3"]
    item = dict((await api.query(S, b'{"filter": {"EQ": {"name": "bob"}}}')).items)["p2"]
    assert json.loads(item.data) == people["p2"] and item.etag == (await api.get(S, "p2")).etag  # type: ignore[union-attr]
    # As daprd: a malformed query is a failed query, 500 (state_query.go StateStoreQueryFailed).
    with dapr_error("ERR_STATE_QUERY", 500):
        await api.query(S, b'{"filter": {"LIKE": {"a": 1}}}')
    with dapr_error("ERR_STATE_QUERY", 500):
        await api.query(S, b"{not json")


@requires(FEATURE_KEYS_LIKE)
async def test_key_prefixes_isolate_apps(backend: Backend) -> None:
    a = await backend.api(app_id=backend.base + "-a")
    b = await backend.api(app_id=backend.base + "-b")
    await a.save(S, [save("shared", b"from-a")])
    await b.save(S, [save("shared", b"from-b")])
    assert await value(a, "shared") == b"from-a"
    assert await value(b, "shared") == b"from-b"
    assert (await a.list_keys(S, "")).keys == ["shared"]
    await a.delete(S, DeleteItem("shared"))
    assert await value(b, "shared") == b"from-b"
    # keyPrefix none: keys are stored as given, and '||' stays reserved.
    raw = await backend.api(keyPrefix="none")
    with dapr_error("ERR_MALFORMED_REQUEST", 400):
        await raw.get(S, f"{backend.base}-b||shared")
    custom = await backend.api(keyPrefix=backend.base + "-b")
    assert await value(custom, "shared") == b"from-b"  # a custom prefix equal to an app id shares its keys
    named = await backend.api(name=backend.base, keyPrefix="name")
    await named.save(backend.base, [save("n", b"named")])
    by_none = await backend.api(keyPrefix="none")
    await by_none.save(S, [save(f"{backend.base}-none", b"plain")])
    assert (await by_none.list_keys(S, backend.base + "-none")).keys == [f"{backend.base}-none"]


async def test_large_value(api: StateAPI) -> None:
    big = json.dumps("x" * (1024 * 1024)).encode()
    await api.save(S, [save("big", big)])
    assert await value(api, "big") == big
    blob = os.urandom(1024 * 1024)
    await api.save(S, [save("blob", blob)])
    assert await value(api, "blob") == blob


async def test_unicode_and_binary(api: StateAPI) -> None:
    text = json.dumps("héllo ✓ 日本語 🙂", ensure_ascii=False).encode()
    binary = bytes(range(256))
    await api.save(S, [save("ключ-✓", text), save("bin", binary), save("plain", "ünïcode".encode())])
    assert await value(api, "ключ-✓") == text
    assert await value(api, "bin") == binary
    assert await value(api, "plain") == "ünïcode".encode()


@requires(FEATURE_KEYS_LIKE)
async def test_list_keys_pages(backend: Backend, api: StateAPI) -> None:
    await api.save(S, [save(f"user-{i:02}", b"1") for i in range(25)] + [save("other", b"1")])
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await api.list_keys(S, "user-", limit=10, token=token)
        seen += page.keys
        token = page.token
        if not token:
            break
    assert sorted(seen) == [f"user-{i:02}" for i in range(25)]
    assert len(seen) == len(set(seen))


async def test_bad_input_changes_nothing(api: StateAPI) -> None:
    await api.save(S, [save("safe", b"1")])
    with dapr_error("ERR_MALFORMED_REQUEST", 400):
        await api.save(S, [save("ok", b"2"), save("bad||key", b"3")])
    with dapr_error("ERR_MALFORMED_REQUEST", 400):
        await api.save(S, [save("ok", b"2"), save("", b"3")])
    with dapr_error("ERR_STATE_SAVE", 400):
        await api.save(S, [save("ok", b"2"), save("safe", b"3", concurrency="whenever")])
    with dapr_error("ERR_STATE_STORE_NOT_FOUND", 400):
        await api.save("nope", [save("ok", b"2")])
    assert await api.get(S, "ok") is None
    assert await value(api, "safe") == b"1"
