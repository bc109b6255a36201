"""Actor reminders benchmark: registration rate and triggers per second for N reminders due at once,
through ReminderService against a real ``pydapr scheduler`` process, with the CPU each process
spends per trigger.

    python bench/actor_reminders.py --storage sqlite --reminders 20000 [--before REV] [--rounds 2]
        [--lead S] [--profile DIR]

(or ``--storage postgresql``). Dapr's figures for the same two measures: 988 reminders/s, 18,015
triggers/s. The fire callback stands in for the actor host and takes every reminder at once, so
this measures the reminder service and the scheduler client (the sidecar's side, in this process),
the scheduler, its storage and the protocol.

Each measured run is a child process (``--child``) that starts its own scheduler on fresh storage.
``--before REV`` adds runs of a ``git worktree`` of REV (``PYTHONPATH=<worktree>/src``, for the
child and its scheduler alike), interleaved before / after for ``--rounds`` rounds. CPU per trigger
is utime+stime (all threads, /proc/<pid>/stat) of the scheduler and of the sidecar side, from half
a second before the due time to one second after the last trigger (the scheduler's read-ahead and
its result writes fall inside), divided by the triggers: the figure to compare on a shared machine,
where rates are noisy. CPU per registration is taken the same way over the registration phase.
``--profile DIR`` records both processes with py-spy over the trigger window (collapsed stacks,
one file per process and run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

REPO = c.REPO
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PY_SPY = Path(sys.executable).with_name("py-spy")


# -- the measured run (child process) ------------------------------------------------------------


async def register_all(
    svc: Any, n: int, due: str, concurrency: int, actor_type: str = "BenchActor"
) -> list[float]:
    from pydapr.actors.contract import ActorKey, Reminder

    latencies: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            t0 = time.perf_counter()
            await svc.create(Reminder(ActorKey(actor_type, f"a-{i}"), "r", due, "", "", b'{"i":1}'))
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def py_spy(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    cmd = [str(PY_SPY), "record", "-p", str(pid), "-r", "500", "-d", str(int(seconds) + 1)]
    cmd += ["-f", "raw", "-o", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def measure(storage: str, n: int, concurrency: int, lead: float, profile: str | None) -> dict[str, Any]:
    from pydapr.actors.contract import Reminder
    from pydapr.actors.reminders import ReminderService

    port = c.free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pydapr", "scheduler", "--port", str(port), "--storage", storage,
        "--log-level", "warning", stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    me = os.getpid()
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
        # All reminders fall due at one instant, far enough ahead to register them all first: unless
        # --lead says, 5 s plus three times the time the registration rate of a warm-up says it takes
        # (the warm-up's reminders, of a type nobody watches, are due in an hour).
        if lead <= 0:
            warm = max(200, n // 40)
            t0 = time.perf_counter()
            far = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
            await register_all(svc, warm, far, concurrency, "WarmActor")
            lead = 5 + 3 * n * (time.perf_counter() - t0) / warm
        due_at = datetime.now(UTC) + timedelta(seconds=lead)
        reg0 = (c.cpu_ticks(proc.pid), c.cpu_ticks(me))
        t0 = time.perf_counter()
        lat = await register_all(svc, n, due_at.isoformat().replace("+00:00", "Z"), concurrency)
        elapsed = time.perf_counter() - t0
        reg1 = (c.cpu_ticks(proc.pid), c.cpu_ticks(me))
        early = got
        due_mono = time.perf_counter() + (due_at - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, due_mono - 0.5 - time.perf_counter()))
        spies = []
        if profile is not None:
            tag = f"{os.environ.get('BENCH_LABEL', 'run')}-{os.getpid()}"
            for who, pid in (("scheduler", proc.pid), ("sidecar", me)):
                spies.append(py_spy(pid, Path(profile) / f"{tag}-{who}.txt", 4.0))
        trig0 = (c.cpu_ticks(proc.pid), c.cpu_ticks(me))
        try:
            await asyncio.wait_for(done.wait(), 300)
        except TimeoutError:
            print(f"only {got:,} of {n:,} reminders fired within 300 s of their due time", file=sys.stderr)
            raise
        await asyncio.sleep(1.0)
        trig1 = (c.cpu_ticks(proc.pid), c.cpu_ticks(me))
        for spy in spies:
            spy.wait()
        await svc.close()
        lat.sort()
        us = 1e6 / c.CLK_TCK / n

        def per_item(t0: tuple[int, int], t1: tuple[int, int]) -> dict[str, float]:
            return {"scheduler": (t1[0] - t0[0]) * us, "sidecar": (t1[1] - t0[1]) * us}

        return {
            "reg_rate": n / elapsed,
            "reg_p50_ms": statistics.median(lat) * 1000,
            "reg_p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            "reg_cpu_us": per_item(reg0, reg1),
            "early": early,
            "lead": lead,
            "seconds": last - due_mono,
            "rate": n / (last - due_mono),
            "first_s": first - due_mono,
            "rate_first_to_last": n / (last - first),
            "cpu_us": per_item(trig0, trig1),
        }
    finally:
        await c.stop_process_group(proc, "the scheduler")


async def child(args: argparse.Namespace) -> None:
    if args.storage == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            res = await measure(
                f"sqlite://{tmp}/jobs.db", args.reminders, args.concurrency, args.lead, args.profile
            )
    else:
        import asyncpg

        name = f"pydapr_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
            res = await measure(dsn, args.reminders, args.concurrency, args.lead, args.profile)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    print(json.dumps(res))


# -- orchestration -------------------------------------------------------------------------------


def run_child(label: str, src: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--storage", args.storage, "--reminders", str(args.reminders)]
    cmd += ["--concurrency", str(args.concurrency), "--lead", str(args.lead)]
    if args.profile:
        cmd += ["--profile", args.profile]
    env = {**os.environ, "PYTHONPATH": str(src), "BENCH_LABEL": label}
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--storage", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--reminders", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument(
        "--lead",
        type=float,
        default=0.0,
        help="seconds from the first registration to the due time (0: measured)",
    )
    ap.add_argument("--before", help="an earlier commit to measure in the same run")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--profile", help="a folder for py-spy's collapsed stacks of the trigger window")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    extra = (f" --lead {args.lead:g}" if args.lead else "") + (
        f" --before {args.before}" if args.before else ""
    )
    print(f"command: python bench/actor_reminders.py --storage {args.storage} --reminders {args.reminders} "
          f"--concurrency {args.concurrency} --rounds {args.rounds}{extra}")  # fmt: skip
    after = c.git("rev-parse", "--short", "HEAD")
    dirty = bool(
        c.git("status", "--porcelain", "src/pydapr/scheduler", "src/pydapr/jobs", "src/pydapr/actors")
    )
    tmp = Path(tempfile.mkdtemp(prefix="pydapr-reminders-"))
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
                r = run_child(label, src, args)
                results[label].append(r)
                print(
                    f"round {rnd + 1} {label:6} registration {r['reg_rate']:,.0f}/s "
                    f"(p50 {r['reg_p50_ms']:.1f} ms), triggers {r['rate']:,.0f}/s in {r['seconds']:.2f} s "
                    f"(first at {r['first_s']:+.3f} s), "
                    f"CPU/trigger scheduler {r['cpu_us']['scheduler']:.1f} us, "
                    f"sidecar {r['cpu_us']['sidecar']:.1f} us"
                    + (f", {r['early']} fired early: raise --lead" if r["early"] else ""),
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
    print(
        f"{commits}. Storage {args.storage}, {args.reminders:,} reminders, {args.rounds} round(s); "
        "medians of the runs where none fired early."
    )
    print()
    print(
        "| variant | registration/s (p50 ms) | CPU/registration sched + sidecar (µs) | triggers/s "
        "| CPU/trigger scheduler (µs) | CPU/trigger sidecar (µs) |"
    )
    print("|---|---|---|---|---|---|")
    med = statistics.median
    for label, runs in results.items():
        rs = [r for r in runs if not r["early"]] or runs  # a run whose reminders fired early measured nothing
        print(
            f"| {label} | {med(r['reg_rate'] for r in rs):,.0f} ({med(r['reg_p50_ms'] for r in rs):.1f}) "
            f"| {med(r['reg_cpu_us']['scheduler'] for r in rs):.0f} + "
            f"{med(r['reg_cpu_us']['sidecar'] for r in rs):.0f} "
            f"| {med(r['rate'] for r in rs):,.0f} | {med(r['cpu_us']['scheduler'] for r in rs):.1f} "
            f"| {med(r['cpu_us']['sidecar'] for r in rs):.1f} |"
        )


if __name__ == "__main__":
    main()
