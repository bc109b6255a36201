"""Starts real pydapr sidecars and real apps as processes for end-to-end tests, and always stops them.

Every process runs in its own process group with its output in a log file; a failing start raises
with that log, so a test failure says why. ``Processes.stop_all`` is called by the fixtures even
when a test fails, so no process outlives its test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydapr.testing.ports import PortPicker

STARTUP_TIMEOUT = 30.0


def _shared_record() -> Path | None:
    """Under pytest-xdist, the file where all workers of this run record the ports they handed out."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"pydapr-test-ports-{run}" if run else None


# The test sidecar plugin's picker (pydapr.testing.ports): never a port handed out before in this
# run, by this process or (through the shared record) another worker.
_PORTS = PortPicker(_shared_record())


def records(path: Path) -> list[Any]:
    """The JSON lines an app has written to ``path`` so far, whole lines only: a test reading while
    the app writes may find the last line half-written. No file yet is no record."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]


def free_port() -> int:
    """A port nothing listens on, never one handed out before in this test run: the kernel may give
    a just-released port again, and two of them (say a sidecar's HTTP and gRPC ports, or two
    workers' sidecars under pytest-xdist) would collide."""
    return _PORTS.pick()


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> int:
        if self.alive:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        # Children of the group (e.g. uvicorn workers) go too.
        self.signal(signal.SIGKILL)
        return int(self.popen.returncode)


@dataclass
class Sidecar(Proc):
    app_id: str = ""
    http_port: int = 0
    grpc_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@dataclass
class Processes:
    """The processes one test started; ``stop_all`` ends them, newest first."""

    home: Path
    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYDAPR_HOME"] = str(self.home)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Proc:
        log_path = self.workdir / f"{name}-{len(self.procs)}.log"
        log_file = log_path.open("wb")
        popen = subprocess.Popen(
            argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env(env),
            cwd=cwd or self.workdir,
            start_new_session=True,
        )
        log_file.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def sidecar(
        self,
        app_id: str,
        *,
        app_port: int | None = None,
        app_protocol: str = "http",
        resources: Path | None = None,
        config: Path | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> Sidecar:
        http_port, grpc_port = free_port(), free_port()
        argv = [
            sys.executable,
            "-m",
            "pydapr",
            "sidecar",
            "--app-id",
            app_id,
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
            "--metrics-port",
            str(free_port()),
            "--app-protocol",
            app_protocol,
        ]
        if app_port:
            argv += ["--app-port", str(app_port)]
        if resources is not None:
            argv += ["--resources-path", str(resources)]
        if config is not None:
            argv += ["--config", str(config)]
        argv += args or []
        base = self.spawn(f"sidecar-{app_id}", argv, env)
        self.procs.pop()
        sidecar = Sidecar(base.name, base.popen, base.log_path, app_id, http_port, grpc_port)
        self.procs.append(sidecar)
        if wait:
            self.wait_healthy(sidecar, "/v1.0/healthz/outbound")
        return sidecar

    def wait_healthy(
        self, sidecar: Sidecar, path: str = "/v1.0/healthz", timeout: float = STARTUP_TIMEOUT
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not sidecar.alive:
                raise RuntimeError(
                    f"sidecar {sidecar.app_id} exited ({sidecar.popen.returncode}):\n{sidecar.log()}"
                )
            if http_status(sidecar.url + path, timeout=1.0) == 204:
                return
            time.sleep(0.05)
        raise TimeoutError(f"sidecar {sidecar.app_id} not healthy at {path} in {timeout}s:\n{sidecar.log()}")

    def app(
        self, name: str, script: Path, *, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> Proc:
        return self.spawn(f"app-{name}", [sys.executable, str(script), *(args or [])], env)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        # `pydapr run` starts a local control plane in this home when none is up.
        from pydapr.controlplane import stop as stop_control_plane

        stop_control_plane(self.home)


def wait_port(port: int, timeout: float = STARTUP_TIMEOUT, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.log()}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not open in {timeout}s" + (f":\n{proc.log()}" if proc else ""))
