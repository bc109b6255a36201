"""Every configuration store: get by keys and all, subscriptions see later changes in order, deletes,
unsubscribe, and a subscription that ends when its consumer goes away."""

from __future__ import annotations

import asyncio

import pytest

from pydapr.configuration.api import ConfigurationAPI
from pydapr.configuration.contract import ConfigurationItem, SubscriptionNotFound
from tests.conformance.configuration.conftest import Backend

Seen = list[tuple[str, ConfigurationItem]]


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_get_keys_and_all(backend: Backend) -> None:
    a, b, missing = backend.prefix + "a", backend.prefix + "b", backend.prefix + "missing"
    await backend.set(a, "1", "v1")
    await backend.set(b, "two", "v7")
    got = await backend.store.get([a, missing], {})
    assert got == {a: ConfigurationItem("1", "v1", {})}
    everything = await backend.store.get([], {})
    assert everything[a] == ConfigurationItem("1", "v1", {}) and everything[b].value == "two"


async def test_subscriber_sees_later_changes_in_order(backend: Backend) -> None:
    key, other = backend.prefix + "k", backend.prefix + "other"
    await backend.set(key, "before", "0")
    seen: Seen = []

    async def handler(sub_id: str, items: dict[str, ConfigurationItem]) -> None:
        seen.extend(items.items())

    sub_id = await backend.store.subscribe([key], backend.subscribe_metadata, handler)
    assert sub_id
    for i in range(1, 6):
        await backend.set(key, f"value-{i}", str(i))
        if not backend.every_change:
            await asyncio.sleep(0.05)
    await backend.set(other, "not subscribed", "1")
    await wait_for(lambda: seen and seen[-1][1].value == "value-5")
    assert all(k == key for k, _ in seen)
    versions = [int(item.version) for _, item in seen]
    if backend.every_change:
        assert versions == [1, 2, 3, 4, 5]
    else:
        assert versions == sorted(versions) and versions[-1] == 5


async def test_all_keys_subscription_and_deletes(backend: Backend) -> None:
    a, b = backend.prefix + "x", backend.prefix + "y"
    seen: Seen = []

    async def handler(sub_id: str, items: dict[str, ConfigurationItem]) -> None:
        seen.extend((k, v) for k, v in items.items() if k.startswith(backend.prefix))

    await backend.store.subscribe([], backend.subscribe_metadata, handler)
    await backend.set(a, "1", "1")
    await backend.set(b, "2", "1")
    await wait_for(lambda: {k for k, _ in seen} == {a, b})
    await backend.delete(a)
    await wait_for(lambda: seen[-1][0] == a and seen[-1][1].metadata.get("deleted") == "true")
    assert seen[-1][1].value == ""


async def test_unsubscribe_stops_updates(backend: Backend) -> None:
    key = backend.prefix + "u"
    seen: Seen = []

    async def handler(sub_id: str, items: dict[str, ConfigurationItem]) -> None:
        seen.extend(items.items())

    sub_id = await backend.store.subscribe([key], backend.subscribe_metadata, handler)
    await backend.set(key, "1", "1")
    await wait_for(lambda: len(seen) == 1)
    await backend.store.unsubscribe(sub_id)
    await backend.set(key, "2", "2")
    await asyncio.sleep(0.3)
    assert [item.value for _, item in seen] == ["1"]
    with pytest.raises(SubscriptionNotFound):
        await backend.store.unsubscribe(sub_id)


async def test_stream_ends_cleanly_when_consumer_goes_away(backend: Backend) -> None:
    api = ConfigurationAPI({"configstore": backend.store})
    key = backend.prefix + "s"
    stream = api.stream("configstore", [key], backend.subscribe_metadata)
    sub_id, first = await anext(stream)
    assert first == {}
    await backend.set(key, "1", "1")
    got_id, items = await asyncio.wait_for(anext(stream), 5)
    assert got_id == sub_id and items[key].value == "1"
    await stream.aclose()  # what grpc does when the client disconnects
    with pytest.raises(SubscriptionNotFound):
        await backend.store.unsubscribe(sub_id)


async def test_unsubscribe_from_elsewhere_ends_the_stream(backend: Backend) -> None:
    api = ConfigurationAPI({"configstore": backend.store})
    stream = api.stream("configstore", [], backend.subscribe_metadata)
    sub_id, _ = await anext(stream)
    await api.unsubscribe("", sub_id)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), 5)
