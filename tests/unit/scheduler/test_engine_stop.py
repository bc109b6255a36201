"""The engine stops whatever its loops are doing when asked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydapr.scheduler.engine import Engine
from pydapr.scheduler.sqlite_store import SqliteJobStore


async def test_stop_right_after_a_wake_ends_the_due_loop(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db", 4)
    await store.open()
    engine = Engine(store, "r1", poll_interval=5.0)
    try:
        await engine.start()
        await asyncio.sleep(0.05)  # the due loop waits for a wake or the next poll
        # A wake and the stop in the same turn of the loop: the wait the wake ends and the
        # cancellation arrive together, and the cancellation must win (Python 3.11's wait_for
        # returned the wait's result instead, and the loop ran on: stop never returned).
        engine.wake()
        stopping = asyncio.ensure_future(engine.stop())
        done, _ = await asyncio.wait({stopping}, timeout=10)  # not wait_for: it would cancel the stop
        if not done:
            for task in engine._tasks:
                task.cancel()
            await stopping
        assert done, "stop did not return: a loop of the engine ran on"
    finally:
        await store.close()
