"""The stores' batch paths on SQLite and PostgreSQL: a fenced batch of trigger results, and due jobs
read page by page after a cursor."""

from __future__ import annotations

import time
import uuid

from pydapr.scheduler.storage import open_store
from pydapr.scheduler.store import Advance, JobRecord, JobStore, Remove, partition_of

PARTS = 4


def job(name: str, next_at: float) -> JobRecord:
    return JobRecord(
        "default", "app", name, uuid.uuid4().hex, partition_of("default", "app", name, PARTS),
        b"spec", next_at, True, None, next_at, next_at,
    )  # fmt: skip


async def opened(url: str) -> JobStore:
    store = open_store(url, PARTS)
    await store.open()
    return store


async def test_a_batch_of_results_is_written_only_for_partitions_the_writer_holds(storage: str) -> None:
    a, b = await opened(storage), await opened(storage)
    try:
        assert await a.lease("a", 30) == set(range(PARTS))
        now = time.time()
        jobs = [job(f"j{i}", now) for i in range(40)]
        for j in jobs:
            await a.put(j, overwrite=False)
        held_by_a = {j.partition for j in jobs}
        assert len(held_by_a) > 1

        def advance(j: JobRecord, uid: str | None = None) -> Advance:
            return Advance(j.namespace, j.app_id, j.name, uid or j.uid, now + 60, now + 60, 1, 0, j.partition)

        def remove(j: JobRecord) -> Remove:
            return Remove(j.namespace, j.app_id, j.name, j.uid, j.partition)

        # A replica holding no lease writes nothing.
        await b.apply("b", [advance(j) for j in jobs[:20]] + [remove(j) for j in jobs[20:]])
        assert [(r.name, r.next_at) for r in await a.list_jobs("default", "app")] == sorted(
            (j.name, j.next_at) for j in jobs
        )
        # The holder writes its batch; a result for another version of a job (uid) writes nothing.
        stale = jobs[0]
        await a.apply(
            "a",
            [advance(stale, uid="other")] + [advance(j) for j in jobs[1:20]] + [remove(j) for j in jobs[20:]],
        )
        left = {r.name: r for r in await a.list_jobs("default", "app")}
        assert set(left) == {j.name for j in jobs[:20]}
        assert left[stale.name].next_at == stale.next_at and left[stale.name].count == 0
        assert all(left[j.name].next_at == now + 60 and left[j.name].count == 1 for j in jobs[1:20])
    finally:
        await a.close()
        await b.close()


async def test_due_jobs_are_read_page_by_page_after_a_cursor(storage: str) -> None:
    store = await opened(storage)
    try:
        owned = sorted(await store.lease("a", 30))
        now = time.time()
        # Ties on next_at are ordered by key, so a page boundary inside a tie loses nothing.
        jobs = [job(f"j{i:02}", now - (i % 3)) for i in range(25)]
        for j in jobs:
            await store.put(j, overwrite=False)
        await store.put(job("later", now + 3600), overwrite=False)
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.due(owned, ["default/app"], now, 7, after=cursor)
            seen += [r.name for r in page]
            if len(page) < 7:
                break
            last = page[-1]
            assert last.next_at is not None
            cursor = (last.next_at, last.namespace, last.app_id, last.name)
        expected = sorted(jobs, key=lambda j: (j.next_at or 0.0, j.name))
        assert seen == [j.name for j in expected]
    finally:
        await store.close()
