"""The lock API: Dapr's validation order and error codes, and key prefixes, over the embedded store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pydapr.components.base import ComponentMetadata
from pydapr.errors import DaprError
from pydapr.lock.api import LockAPI, LockEntry, key_prefix
from pydapr.lock.contract import UnlockStatus
from pydapr.lock.sqlite import SQLiteLockStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteLockStore]:
    s = SQLiteLockStore()
    await s.init(
        ComponentMetadata("lockstore", "lock.sqlite", "v1", {"connectionString": str(tmp_path / "l.db")})
    )
    yield s
    await s.close()


def test_key_prefix_strategies() -> None:
    assert key_prefix(None, "store", "app") == "app"
    assert key_prefix("AppID", "store", "app") == "app"
    assert key_prefix("name", "store", "app") == "store"
    assert key_prefix("none", "store", "app") == ""
    assert key_prefix("shared", "store", "app") == "shared"


async def test_errors_in_dapr_order(store: SQLiteLockStore) -> None:
    api = LockAPI({"lockstore": LockEntry(store, "app")})
    cases = [
        (api.try_lock("lockstore", "r", "o", 0), "ERR_EXPIRY_NOT_POSITIVE", 400),
        # The expiry is checked before anything else, even an unknown store.
        (api.try_lock("nostore", "r", "o", -1), "ERR_EXPIRY_NOT_POSITIVE", 400),
        (api.try_lock("lockstore", "", "o", 5), "ERR_RESOURCE_ID_EMPTY", 400),
        (api.try_lock("lockstore", "r", "", 5), "ERR_OWNER_EMPTY", 400),
        (api.try_lock("nostore", "r", "o", 5), "ERR_LOCK_NOT_FOUND", 404),
        (api.try_lock("lockstore", "a||b", "o", 5), "ERR_TRY_LOCK", 500),
        (api.unlock("lockstore", "", "o"), "ERR_RESOURCE_ID_EMPTY", 400),
        (api.unlock("nostore", "r", "o"), "ERR_LOCK_NOT_FOUND", 404),
        (api.unlock("lockstore", "a||b", "o"), "ERR_UNLOCK", 500),
        (LockAPI({}).try_lock("lockstore", "r", "o", 5), "ERR_LOCK_NOT_CONFIGURED", 500),
    ]
    for call, code, status in cases:
        with pytest.raises(DaprError) as err:
            await call
        assert (err.value.code, err.value.http_status) == (code, status)
    with pytest.raises(DaprError) as nf:
        await api.unlock("nostore", "r", "o")
    assert nf.value.message == "lock nostore is not found"


async def test_prefix_separates_apps_sharing_a_store(store: SQLiteLockStore) -> None:
    app1 = LockAPI({"lockstore": LockEntry(store, "app1")})
    app2 = LockAPI({"lockstore": LockEntry(store, "app2")})
    shared1 = LockAPI({"lockstore": LockEntry(store, "")})
    shared2 = LockAPI({"lockstore": LockEntry(store, "")})
    assert await app1.try_lock("lockstore", "res", "o1", 5)
    assert await app2.try_lock("lockstore", "res", "o2", 5)  # another app's key space
    assert await shared1.try_lock("lockstore", "res", "o1", 5)
    assert not await shared2.try_lock("lockstore", "res", "o2", 5)  # keyPrefix none: one lock for all
    assert await app2.unlock("lockstore", "res", "o1") == UnlockStatus.LOCK_BELONGS_TO_OTHERS
