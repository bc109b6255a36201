"""``pydapr placement`` processes for the HA tests; ``stop_all`` always runs, so none outlives its test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import free_port


@dataclass
class PlacementProc:
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


class Placements:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[PlacementProc] = []

    def start(self, store: str, replica_id: str, *extra: str) -> PlacementProc:
        port = free_port()
        log_path = self.workdir / f"placement-{replica_id}.log"
        with log_path.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "pydapr", "placement", "--port", str(port), "--store", store,
                 "--id", replica_id, "--lease-ttl", "2s", "--leader-grace", "1s", *extra],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYDAPR_HOME": str(self.workdir / "home")},
            )  # fmt: skip
        proc = PlacementProc(popen, port, log_path)
        self.procs.append(proc)
        deadline = time.monotonic() + 20
        while "listening on" not in proc.log():
            if popen.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"placement did not start:\n{proc.log()}")
            time.sleep(0.05)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.kill(signal.SIGTERM)
            proc.kill()


@contextlib.contextmanager
def placements(workdir: Path) -> Iterator[Placements]:
    p = Placements(workdir)
    try:
        yield p
    finally:
        p.stop_all()
