"""Several scheduler replicas on one PostgreSQL database: work is shared, and a killed replica's
jobs are taken over with no trigger lost or doubled."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.jobs.client import SchedulerClient
from pydapr.scheduler._proto import scheduler_pb2 as pb
from tests.integration.scheduler.harness import Schedulers


async def test_killed_replica_loses_and_doubles_nothing(scheds: Schedulers, pg_url: str) -> None:
    replicas = [scheds.start(pg_url, lease_ttl=1.5, partitions=12) for _ in range(3)]
    addresses = [r.address for r in replicas]
    # Two replicas of the app, each connected to every scheduler replica, as sidecars are.
    apps = [SchedulerClient(addresses, "default", "orders") for _ in range(2)]
    seen: list[tuple[str, float]] = []

    async def deliver(name: str, data: AnyPb) -> bool:
        seen.append((name, time.monotonic()))
        return True

    try:
        for app in apps:
            app.watch(deliver)
        deadline = time.monotonic() + 10
        while not all(all(a.connected) for a in apps):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        # 120 one-shot jobs due over the next 5 s, and 4 jobs ticking every second.
        for i in range(120):
            await apps[0].schedule(
                pb.Job(name=f"once-{i}", due_time=f"{0.5 + i * 0.04:.2f}s"), overwrite=False
            )
        for i in range(4):
            await apps[0].schedule(pb.Job(name=f"tick-{i}", schedule="@every 1s", repeats=8), overwrite=False)
        await asyncio.sleep(1.5)
        # Every replica holds partitions (so the one killed had work), read from the lease table.
        db = await asyncpg.connect(pg_url)
        try:
            owners = await db.fetchval(
                "SELECT count(DISTINCT owner) FROM pydapr_scheduler_leases WHERE owner IS NOT NULL"
            )
        finally:
            await db.close()
        assert owners == 3
        replicas[1].kill()  # SIGKILL mid-run: its leases must expire and pass to the others
        deadline = time.monotonic() + 20
        while sum(1 for n, _ in seen if n.startswith("tick")) < 32 or len({n for n, _ in seen}) < 124:
            assert time.monotonic() < deadline, (
                f"missing triggers: {sorted(Counter(n for n, _ in seen).items())}"
            )
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
        counts = Counter(n for n, _ in seen)
        assert {n: c for n, c in counts.items() if n.startswith("once") and c != 1} == {}
        assert {n: counts[n] for n in counts if n.startswith("tick")} == {f"tick-{i}": 8 for i in range(4)}
        assert await apps[0].list_jobs() == []
    finally:
        for app in apps:
            await app.close()
