"""Many jobs due at one instant: the burst reaches the sidecar whole, each job once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.jobs.client import SchedulerClient
from pydapr.scheduler._proto import scheduler_pb2 as pb
from tests.integration.scheduler.harness import Schedulers
from tests.integration.scheduler.test_scheduler import connected, eventually


async def test_a_burst_larger_than_a_message_arrives_whole_and_once(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    client = SchedulerClient([s.address], "default", "burst")
    got: Counter[str] = Counter()
    sizes: dict[str, int] = {}

    async def deliver(name: str, data: AnyPb) -> bool:
        got[name] += 1
        sizes[name] = len(data.value)
        return True

    try:
        client.watch(deliver)
        await connected(client)
        # 48 x 128 KiB due at the same instant: 6 MiB, more than the sidecar's channel takes in one
        # message (4 MiB), and more triggers than one message holds.
        due = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
        payload = b"x" * (128 * 1024)
        names = [f"big-{i}" for i in range(48)]
        await asyncio.gather(
            *(
                client.schedule(pb.Job(name=n, due_time=due, data=AnyPb(value=payload)), overwrite=False)
                for n in names
            )
        )
        await eventually(lambda: len(got) == len(names), timeout=30)
        await asyncio.sleep(0.5)
        assert got == Counter(names)
        assert set(sizes.values()) == {len(payload)}
        assert await client.list_jobs() == []
    finally:
        await client.close()


async def test_a_burst_of_many_small_jobs_arrives_once_each(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    client = SchedulerClient([s.address], "default", "many")
    got: Counter[str] = Counter()

    async def deliver(name: str, data: AnyPb) -> bool:
        got[name] += 1
        return True

    try:
        client.watch(deliver)
        await connected(client)
        # More than one page of due jobs (2,000) and many stream messages, all due at once.
        due = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
        names = [f"j-{i}" for i in range(3000)]
        sem = asyncio.Semaphore(32)

        async def schedule(n: str) -> None:
            async with sem:
                await client.schedule(pb.Job(name=n, due_time=due, data=AnyPb(value=b"x")), overwrite=False)

        await asyncio.gather(*(schedule(n) for n in names))
        await eventually(lambda: len(got) == len(names), timeout=60)
        await asyncio.sleep(0.5)
        assert got == Counter(names)
        assert await client.list_jobs() == []
    finally:
        await client.close()


async def test_the_deliveries_of_a_burst_run_at_once(scheds: Schedulers, storage: str) -> None:
    s = scheds.start(storage)
    client = SchedulerClient([s.address], "default", "slow")
    names = [f"s-{i}" for i in range(40)]
    inflight = 0
    most = 0
    all_in = asyncio.Event()
    got: Counter[str] = Counter()

    async def deliver(name: str, data: AnyPb) -> bool:
        # Each delivery waits until every one of the burst is under way: only deliveries that
        # run at once get there (one at a time, the first would wait alone until it gave up).
        nonlocal inflight, most
        inflight += 1
        most = max(most, inflight)
        if inflight == len(names):
            all_in.set()
        try:
            await asyncio.wait_for(all_in.wait(), 20)
        except TimeoutError:
            return False
        finally:
            inflight -= 1
        got[name] += 1
        return True

    try:
        client.watch(deliver)
        await connected(client)
        due = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        await asyncio.gather(
            *(
                client.schedule(pb.Job(name=n, due_time=due, data=AnyPb(value=b"x")), overwrite=False)
                for n in names
            )
        )
        await eventually(lambda: len(got) == len(names), timeout=30)
        assert most == len(names)
        assert got == Counter(names)
    finally:
        await client.close()
