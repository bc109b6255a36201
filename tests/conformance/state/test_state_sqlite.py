"""The embedded default store: a file that survives restarts, in WAL mode."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from pydapr.components.base import ComponentMetadata
from pydapr.state.api import SaveItem, StateAPI, StoreEntry
from pydapr.state.sqlite import SQLiteStateStore


async def open_api(tmp_path: Path) -> tuple[StateAPI, SQLiteStateStore]:
    store = SQLiteStateStore()
    meta = ComponentMetadata(
        "statestore",
        "state.sqlite",
        "v1",
        {"connectionString": "data/state.db", "actorStateStore": "true"},
        app_id="app",
        base_dir=tmp_path,
    )
    await store.init(meta)
    return StateAPI({"statestore": StoreEntry.from_metadata(store, meta)}), store


async def test_survives_restart_in_wal_mode(tmp_path: Path) -> None:
    api, store = await open_api(tmp_path)
    assert api.actor_store_name == "statestore"
    await api.save("statestore", [SaveItem("k", b'{"v":1}', metadata={"ttlInSeconds": "3600"})])
    await store.close()
    db = tmp_path / "data" / "state.db"  # relative paths resolve against the sidecar's directory
    async with aiosqlite.connect(db) as conn, conn.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone()) == ("wal",)
    api, store = await open_api(tmp_path)
    item = await api.get("statestore", "k")
    await store.close()
    assert item is not None and item.data == b'{"v":1}' and "ttlExpireTime" in item.response_metadata()
