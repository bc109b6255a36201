"""Lock stores the lock conformance suite runs against; every lock a test takes is in its own key space."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pydapr.components.base import ComponentMetadata
from pydapr.components.registry import registry
from pydapr.lock.contract import LockStore

BACKENDS = [("redis", "lock.redis"), ("sqlite", "lock.sqlite")]

OpenStore = Callable[[], Awaitable[LockStore]]


@pytest.fixture(params=[b[0] for b in BACKENDS])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens store instances (each its own connection, like separate sidecars) on one backend."""
    backend = request.param
    type_name = dict(BACKENDS)[backend]
    props = (
        {"redisHost": "127.0.0.1:6379"}
        if backend == "redis"
        else {"connectionString": str(tmp_path / "l.db")}
    )
    opened: list[LockStore] = []

    async def open_one() -> LockStore:
        store = registry.create(type_name, "v1")
        assert isinstance(store, LockStore)
        await store.init(ComponentMetadata("lockstore", type_name, "v1", dict(props), base_dir=tmp_path))
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
def resource() -> str:
    return f"conf-lock-{uuid.uuid4().hex}"
