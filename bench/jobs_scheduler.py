"""Scheduler benchmark: scheduling rate (jobs/s, p50/p99) and trigger throughput for N jobs due at once,
with the CPU the scheduler and the sidecar's client spend per trigger.

Run: ``python bench/jobs_scheduler.py --storage sqlite --jobs 20000 [--before REV] [--rounds 2]`` (or
``--storage postgresql``). It starts a real ``pydapr scheduler`` process and talks to it with the
sidecar's own client; the app side acknowledges every trigger at once, so this measures the
scheduler, its storage and the protocol. The jobs are due before the client connects, so the
trigger phase runs from connect to the last delivery. CPU per trigger is utime+stime (all threads,
/proc/<pid>/stat) from connect to one second after the last trigger, divided by the jobs.

Each measured run is a child process (``--child``); ``--before REV`` adds runs of a ``git worktree``
of REV (``PYTHONPATH=<worktree>/src`` for the child and its scheduler), interleaved before / after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from google.protobuf.any_pb2 import Any as AnyPb

from pydapr.jobs.client import SchedulerClient
from pydapr.scheduler._proto import scheduler_pb2 as pb

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REPO = c.REPO


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


async def run(storage: str, jobs: int, concurrency: int) -> dict[str, Any]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pydapr", "scheduler", "--port", str(port), "--storage", storage,
        "--log-level", "warning", stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    me = os.getpid()
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

        cpu0 = (c.cpu_ticks(proc.pid), c.cpu_ticks(me))
        start = time.perf_counter()
        client.watch(deliver)
        await asyncio.wait_for(done.wait(), 600)
        end = time.perf_counter()
        await asyncio.sleep(1.0)
        cpu1 = (c.cpu_ticks(proc.pid), c.cpu_ticks(me))
        await client.close()
        us = 1e6 / c.CLK_TCK / jobs
        return {
            "sched_rate": jobs / elapsed,
            "sched_p50_ms": statistics.median(lat) * 1000,
            "sched_p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            "seconds": end - start,
            "rate": jobs / (end - start),
            "rate_after_first": jobs / (end - first),
            "cpu_us": {"scheduler": (cpu1[0] - cpu0[0]) * us, "sidecar": (cpu1[1] - cpu0[1]) * us},
        }
    finally:
        await c.stop_process_group(proc, "the scheduler")


async def child(args: argparse.Namespace) -> None:
    if args.storage == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            res = await run(f"sqlite://{tmp}/jobs.db", args.jobs, args.concurrency)
    else:
        name = f"pydapr_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            res = await run(f"postgresql://postgres@127.0.0.1:5432/{name}", args.jobs, args.concurrency)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--storage", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--before", help="an earlier commit to measure in the same run")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    extra = f" --before {args.before}" if args.before else ""
    print(f"command: python bench/jobs_scheduler.py --storage {args.storage} --jobs {args.jobs} "
          f"--concurrency {args.concurrency} --rounds {args.rounds}{extra}")  # fmt: skip
    after = c.git("rev-parse", "--short", "HEAD")
    dirty = bool(c.git("status", "--porcelain", "src/pydapr/scheduler", "src/pydapr/jobs"))
    tmp = Path(tempfile.mkdtemp(prefix="pydapr-jobs-"))
    sources: list[tuple[str, Path]] = []
    before = None
    if args.before:
        c.git("worktree", "add", "--detach", str(tmp / "before"), args.before)
        before = c.git("rev-parse", "--short", "HEAD", cwd=tmp / "before")
        sources.append(("before", tmp / "before" / "src"))
    sources.append(("after", REPO / "src"))
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in sources}
    try:
        for rnd in range(args.rounds):
            for label, src in sources:
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    "--storage",
                    args.storage,
                    "--jobs",
                    str(args.jobs),
                ]
                cmd += ["--concurrency", str(args.concurrency)]
                env = {**os.environ, "PYTHONPATH": str(src)}
                out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                results[label].append(r)
                print(
                    f"round {rnd + 1} {label:6} scheduling {r['sched_rate']:,.0f}/s "
                    f"(p50 {r['sched_p50_ms']:.1f} ms), triggers {r['rate']:,.0f}/s in {r['seconds']:.2f} s, "
                    f"CPU/trigger scheduler {r['cpu_us']['scheduler']:.1f} us, "
                    f"sidecar {r['cpu_us']['sidecar']:.1f} us",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if before:
            with contextlib.suppress(subprocess.CalledProcessError):
                c.git("worktree", "remove", "--force", str(tmp / "before"))
    print(
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}, "
        f"Python {sys.version.split()[0]}."
    )
    commits = f"after = {after}{' + uncommitted src' if dirty else ''}"
    if before:
        commits = f"before = {before}, {commits}"
    print(f"{commits}. Storage {args.storage}, {args.jobs:,} jobs, {args.rounds} round(s); medians.")
    print()
    print(
        "| variant | scheduling/s (p50 / p99 ms) | triggers/s "
        "| CPU/trigger scheduler (µs) | CPU/trigger sidecar (µs) |"
    )
    print("|---|---|---|---|---|")
    med = statistics.median
    for label, rs in results.items():

        def m(key: str, sub: str | None = None, rs: list[dict[str, Any]] = rs) -> float:
            return med(r[key][sub] if sub else r[key] for r in rs)

        print(
            f"| {label} | {m('sched_rate'):,.0f} ({m('sched_p50_ms'):.1f} / {m('sched_p99_ms'):.1f}) "
            f"| {m('rate'):,.0f} | {m('cpu_us', 'scheduler'):.1f} | {m('cpu_us', 'sidecar'):.1f} |"
        )


if __name__ == "__main__":
    main()
