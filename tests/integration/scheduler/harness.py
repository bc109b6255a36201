"""Real scheduler processes and real databases for the scheduler's integration tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SchedulerProc:
    popen: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


class Schedulers:
    """Starts ``pydapr scheduler`` processes; ``stop_all`` always runs, so none outlives its test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[SchedulerProc] = []

    def start(
        self, storage: str, *, lease_ttl: float = 2.0, port: int = 0, partitions: int = 8
    ) -> SchedulerProc:
        port = port or free_port()
        log_path = self.workdir / f"scheduler-{port}-{len(self.procs)}.log"
        with log_path.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "pydapr", "scheduler", "--port", str(port), "--storage", storage,
                 "--lease-ttl", str(lease_ttl), "--partitions", str(partitions), "--log-level", "warning"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        proc = SchedulerProc(popen, port, log_path)
        self.procs.append(proc)
        deadline = time.monotonic() + 20
        while "listening on" not in proc.log():
            if popen.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"scheduler did not start:\n{proc.log()}")
            time.sleep(0.05)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.kill(signal.SIGTERM)
            proc.kill()


@contextlib.contextmanager
def schedulers(workdir: Path) -> Iterator[Schedulers]:
    s = Schedulers(workdir)
    try:
        yield s
    finally:
        s.stop_all()


async def create_database() -> str:
    name = f"pydapr_sched_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
