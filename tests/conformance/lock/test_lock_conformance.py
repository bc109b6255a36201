"""Every lock store: one holder at a time, owner-checked unlock with Dapr's statuses, expiry."""

from __future__ import annotations

import asyncio
import random

from pydapr.lock.contract import UnlockStatus
from tests.conformance.lock.conftest import OpenStore


async def test_one_owner_at_a_time(open_store: OpenStore, resource: str) -> None:
    store = await open_store()
    assert await store.try_lock(resource, "a", 10) is True
    assert await store.try_lock(resource, "b", 10) is False
    # Taking a held lock again fails even for its owner (it is not reentrant).
    assert await store.try_lock(resource, "a", 10) is False
    assert await store.unlock(resource, "a") == UnlockStatus.SUCCESS
    assert await store.try_lock(resource, "b", 10) is True
    assert await store.unlock(resource, "b") == UnlockStatus.SUCCESS


async def test_unlock_statuses(open_store: OpenStore, resource: str) -> None:
    store = await open_store()
    assert await store.unlock(resource, "a") == UnlockStatus.LOCK_DOES_NOT_EXIST
    assert await store.try_lock(resource, "a", 10)
    assert await store.unlock(resource, "b") == UnlockStatus.LOCK_BELONGS_TO_OTHERS
    # The failed unlock left the lock with its owner.
    assert await store.try_lock(resource, "b", 10) is False
    assert await store.unlock(resource, "a") == UnlockStatus.SUCCESS
    assert await store.unlock(resource, "a") == UnlockStatus.LOCK_DOES_NOT_EXIST


async def test_expiry_frees_the_lock_of_a_dead_holder(open_store: OpenStore, resource: str) -> None:
    holder = await open_store()
    other = await open_store()
    assert await holder.try_lock(resource, "dead", 1)
    await holder.close()  # the holder goes away without unlocking
    assert await other.try_lock(resource, "alive", 10) is False
    await asyncio.sleep(1.2)
    assert await other.try_lock(resource, "alive", 10) is True
    assert await other.unlock(resource, "dead") == UnlockStatus.LOCK_BELONGS_TO_OTHERS
    assert await other.unlock(resource, "alive") == UnlockStatus.SUCCESS


async def test_expired_lock_cannot_be_unlocked_by_its_old_owner(open_store: OpenStore, resource: str) -> None:
    store = await open_store()
    assert await store.try_lock(resource, "a", 1)
    await asyncio.sleep(1.2)
    assert await store.unlock(resource, "a") == UnlockStatus.LOCK_DOES_NOT_EXIST


async def test_mutual_exclusion_under_contention(open_store: OpenStore, resource: str) -> None:
    clients = [await open_store() for _ in range(8)]
    holders: list[str] = []
    overlaps: list[list[str]] = []
    acquired = 0
    rng = random.Random(7)

    async def worker(index: int) -> None:
        nonlocal acquired
        store = clients[index % len(clients)]
        owner = f"owner-{index}"
        for _ in range(15):
            if await store.try_lock(resource, owner, 10):
                holders.append(owner)
                if len(holders) > 1:
                    overlaps.append(list(holders))
                acquired += 1
                await asyncio.sleep(rng.uniform(0, 0.004))
                holders.remove(owner)
                assert await store.unlock(resource, owner) == UnlockStatus.SUCCESS
            await asyncio.sleep(rng.uniform(0, 0.002))

    await asyncio.gather(*(worker(i) for i in range(24)))
    assert overlaps == []
    assert acquired >= 10
