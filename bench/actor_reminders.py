"""Actor reminders benchmark: registration rate (reminders/s) and triggers per second for N
reminders due at once, through ReminderService against a real ``pydapr scheduler`` process.

Run: ``python bench/actor_reminders.py --storage sqlite --reminders 20000`` (or ``--storage
postgresql``). Dapr's figures for the same two measures: 988 reminders/s, 18,015 triggers/s.
The fire callback stands in for the actor host and takes every reminder at once, so this measures
the reminder service, the scheduler, its storage and the protocol.
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

from pydapr.actors.contract import ActorKey, Reminder
from pydapr.actors.reminders import ReminderService

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def register_all(svc: ReminderService, n: int, due: str, concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            t0 = time.perf_counter()
            await svc.create(Reminder(ActorKey("BenchActor", f"a-{i}"), "r", due, "", "", b'{"i":1}'))
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def run(storage: str, n: int, concurrency: int) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pydapr", "scheduler", "--port", str(port), "--storage", storage,
        "--log-level", "warning", stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        await proc.stdout.readline()
        svc = ReminderService([f"127.0.0.1:{port}"], "default", "bench")
        got = 0
        done = asyncio.Event()
        first = last = 0.0

        async def fire(reminder: Reminder) -> bool:
            nonlocal got, first, last
            last = time.perf_counter()
            if got == 0:
                first = last
            got += 1
            if got == n:
                done.set()
            return True

        # The sidecar is connected when they fall due, as a running host would be.
        svc.watch(["BenchActor"], fire)
        while not svc.connected("BenchActor"):  # noqa: ASYNC110 - the client exposes a flag, not an event
            await asyncio.sleep(0.05)
        # All reminders fall due at one instant, far enough ahead to register them all first.
        due_at = datetime.now(UTC) + timedelta(seconds=n / 300 + 5)
        t0 = time.perf_counter()
        lat = await register_all(svc, n, due_at.isoformat().replace("+00:00", "Z"), concurrency)
        elapsed = time.perf_counter() - t0
        lat.sort()
        print(
            f"registration: {n / elapsed:,.0f} reminders/s, p50 {statistics.median(lat) * 1000:.2f} ms, "
            f"p99 {lat[int(len(lat) * 0.99)] * 1000:.2f} ms (concurrency {concurrency}; Dapr 988/s)"
        )
        if got:
            print(f"warning: {got} reminders fired before all were registered; raise the lead time")
        due_mono = time.perf_counter() + (due_at - datetime.now(UTC)).total_seconds()
        try:
            await asyncio.wait_for(done.wait(), 300)
        except TimeoutError:
            print(f"only {got:,} of {n:,} reminders fired within 300 s of their due time")
            raise
        print(
            f"triggers: {n:,} reminders due at once fired in {last - due_mono:.2f} s from their due time "
            f"= {n / (last - due_mono):,.0f} triggers/s ({n / (last - first):,.0f}/s first to last; "
            f"Dapr 18,015/s)"
        )
        await svc.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)  # never leave the scheduler behind
            await proc.wait()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--storage", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--reminders", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    print(f"command: python bench/actor_reminders.py --storage {args.storage} "
          f"--reminders {args.reminders} --concurrency {args.concurrency}")  # fmt: skip
    if args.storage == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            await run(f"sqlite://{tmp}/jobs.db", args.reminders, args.concurrency)
        return
    name = f"pydapr_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await run(f"postgresql://postgres@127.0.0.1:5432/{name}", args.reminders, args.concurrency)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
