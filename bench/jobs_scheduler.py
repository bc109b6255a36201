"""Scheduler benchmark: scheduling rate (jobs/s, p50/p99) and trigger throughput for N jobs due at once.

Run: ``python bench/jobs_scheduler.py --storage sqlite --jobs 20000`` (or ``--storage postgresql``).
It starts a real ``pydapr scheduler`` process and talks to it with the sidecar's own client; the app
side acknowledges every trigger at once, so this measures the scheduler, its storage and the protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.jobs.client import SchedulerClient
from pydapr.scheduler._proto import scheduler_pb2 as pb

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def schedule_all(client: SchedulerClient, names: list[str], due: str, concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue = iter(names)

    async def worker() -> None:
        for name in queue:
            t0 = time.perf_counter()
            await client.schedule(pb.Job(name=name, due_time=due, data=AnyPb(value=b"x")), overwrite=False)
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def run(storage: str, jobs: int, concurrency: int) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pydapr", "scheduler", "--port", str(port), "--storage", storage,
        "--log-level", "warning", stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        await proc.stdout.readline()
        client = SchedulerClient([f"127.0.0.1:{port}"], "default", "bench")
        # All jobs fall due at one instant, far enough ahead to schedule them all first.
        due_at = datetime.now(UTC) + timedelta(seconds=jobs / 300 + 5)
        names = [f"job-{i}" for i in range(jobs)]
        t0 = time.perf_counter()
        lat = await schedule_all(client, names, due_at.isoformat(), concurrency)
        elapsed = time.perf_counter() - t0
        lat.sort()
        print(
            f"scheduling: {jobs / elapsed:,.0f} jobs/s, p50 {statistics.median(lat) * 1000:.2f} ms, "
            f"p99 {lat[int(len(lat) * 0.99)] * 1000:.2f} ms (concurrency {concurrency})"
        )
        await asyncio.sleep(max(0.0, (due_at - datetime.now(UTC)).total_seconds()) + 0.5)
        got = 0
        done = asyncio.Event()
        first = 0.0

        async def deliver(name: str, data: AnyPb) -> bool:
            nonlocal got, first
            if got == 0:
                first = time.perf_counter()
            got += 1
            if got == jobs:
                done.set()
            return True

        start = time.perf_counter()
        client.watch(deliver)
        await asyncio.wait_for(done.wait(), 600)
        end = time.perf_counter()
        print(
            f"triggers: {jobs:,} due at once delivered in {end - start:.2f} s from connect "
            f"= {jobs / (end - start):,.0f} triggers/s ({jobs / (end - first):,.0f}/s after the first)"
        )
        await client.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 15)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--storage", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    if args.storage == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            await run(f"sqlite://{tmp}/jobs.db", args.jobs, args.concurrency)
        return
    name = f"pydapr_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await run(f"postgresql://postgres@127.0.0.1:5432/{name}", args.jobs, args.concurrency)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
