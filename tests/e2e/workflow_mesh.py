"""Pieces the workflow end-to-end tests share: `pydapr run` of an SDK example under a private pydapr
home, and a mesh of placement, scheduler and Redis actor store with workflow apps (a sidecar and a
worker written with the official SDK), each of which can be killed and restarted on its ports.

Everything is started through ``Processes`` (tests/e2e/harness.py), so its ``stop_all`` ends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.actor_mesh import redis_actor_store, start_placement, start_scheduler
from tests.e2e.harness import Proc, Processes, Sidecar, free_port

WORKFLOW_APPS = Path(__file__).parent / "workflow_apps"
SDK_EXAMPLES = WORKFLOW_APPS / "sdk_examples"
WORKER = WORKFLOW_APPS / "worker.py"
COMPONENT = "dapr"  # the workflow component name the APIs take


def init_home(home: Path) -> None:
    """``pydapr init`` in ``home``: the embedded ``statestore`` (the actor state store) that
    ``pydapr run`` apps get when they name no resources, as ``dapr init``'s Redis one."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYDAPR_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "pydapr", "init"], env=env, check=True, capture_output=True, timeout=60
    )


# --- `pydapr run` of one app ----------------------------------------------------------------------


@dataclass
class Run:
    """A ``pydapr run --app-id ... -- <app>`` in progress; its output (sidecar and app) in a log."""

    app_id: str
    proc: Proc
    http_port: int
    grpc_port: int

    @property
    def output(self) -> str:
        return self.proc.log()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def type_line(self, text: str) -> None:
        """Writes a line to the app's stdin (``pydapr run`` passes its stdin to the app)."""
        stdin = self.proc.popen.stdin
        assert stdin is not None, "the run was started without a stdin pipe"
        stdin.write(text.encode() + b"\n")
        stdin.flush()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.app_id}: no {text!r} in {timeout}s:\n{self.output[-6000:]}")
            if not self.proc.alive and text not in self.output:
                raise RuntimeError(f"{self.app_id} exited before {text!r}:\n{self.output[-6000:]}")
            time.sleep(0.1)

    def wait(self, timeout: float) -> str:
        """Until the run ends by itself (the app exits); returns the output. Stops it on timeout."""
        try:
            self.proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.stop()
            raise TimeoutError(
                f"{self.app_id}: still running after {timeout}s:\n{self.output[-6000:]}"
            ) from None
        return self.output


def pydapr_run(
    procs: Processes,
    app_id: str,
    app: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    flags: Sequence[str] = (),
) -> Run:
    """Starts ``pydapr run`` as a user does (the app is a Python script run with this venv's
    interpreter), on ports of the test's, with a stdin pipe so a test can answer an app's prompt."""
    http_port, grpc_port = free_port(), free_port()
    argv = [
        sys.executable, "-m", "pydapr", "run", "--app-id", app_id,
        "--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port),
        "--metrics-port", str(free_port()), *flags, "--", sys.executable, *app,
    ]  # fmt: skip
    log_path = procs.workdir / f"run-{app_id}-{len(procs.procs)}.log"
    with log_path.open("wb") as log_file:
        popen = subprocess.Popen(
            argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,
            env=procs.env(env),
            cwd=cwd,
            start_new_session=True,
        )
    proc = Proc(f"run-{app_id}", popen, log_path)
    procs.procs.append(proc)
    return Run(app_id, proc, http_port, grpc_port)


def stop_runs(procs: Processes) -> None:
    """``procs.stop_all`` and the stdin pipes of the runs closed."""
    try:
        procs.stop_all()
    finally:
        for proc in procs.procs:
            if proc.popen.stdin is not None:
                proc.popen.stdin.close()


# --- a mesh of workflow apps -----------------------------------------------------------------------


@dataclass
class WorkflowHost:
    """One workflow app: its sidecar and its worker process, killed and restarted together or
    apart; a restarted sidecar keeps the app id and the ports."""

    mesh: WorkflowMesh
    app_id: str
    http_port: int
    grpc_port: int
    worker_env: dict[str, str]
    config: Path | None = None  # the sidecar's --config
    sidecar: Sidecar = field(init=False)
    worker: Proc | None = field(init=False, default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start_sidecar(self) -> None:
        argv = [
            sys.executable, "-m", "pydapr", "sidecar", "--app-id", self.app_id,
            "--dapr-http-port", str(self.http_port), "--dapr-grpc-port", str(self.grpc_port),
            "--metrics-port", str(free_port()), "--resources-path", str(self.mesh.resources),
            "--placement-host-address", self.mesh.placement,
            "--scheduler-host-address", self.mesh.scheduler, "--log-level", "info",
        ]  # fmt: skip
        if self.config is not None:
            argv += ["--config", str(self.config)]
        base = self.mesh.procs.spawn(f"sidecar-{self.app_id}", argv)
        self.mesh.procs.procs.pop()
        self.sidecar = Sidecar(
            base.name, base.popen, base.log_path, self.app_id, self.http_port, self.grpc_port
        )
        self.mesh.procs.procs.append(self.sidecar)
        self.mesh.procs.wait_healthy(self.sidecar, "/v1.0/healthz")

    def start_worker(self, *, wait: bool = True) -> Proc:
        env = {
            "APP_ID": self.app_id,
            "DAPR_HTTP_PORT": str(self.http_port),
            "DAPR_GRPC_PORT": str(self.grpc_port),
            **self.worker_env,
        }
        self.worker = self.mesh.procs.app(self.app_id, WORKER, env=env)
        if wait:
            wait_line(self.worker, "worker ready", 30)
        return self.worker

    def kill_sidecar(self) -> None:
        self.sidecar.signal(signal.SIGKILL)
        self.sidecar.popen.wait(10)

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.signal(signal.SIGKILL)
        self.worker.popen.wait(10)

    def client(self) -> Any:
        from dapr.ext.workflow import DaprWorkflowClient

        return DaprWorkflowClient(host="127.0.0.1", port=str(self.grpc_port))


@dataclass
class WorkflowMesh:
    """``pydapr placement`` and ``pydapr scheduler`` of the test's, a Redis actor state store (keys
    carry the app ids, which carry ``run``; ``cleanup`` deletes them), and the hosts on them."""

    procs: Processes
    run: str
    placement: str = ""
    scheduler: str = ""
    resources: Path = field(init=False)
    hosts: list[WorkflowHost] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resources = self.procs.workdir / "wf-resources"
        redis_actor_store(self.resources)
        if not self.placement:
            store = f"sqlite://{self.procs.workdir}/placement.db"
            self.placement = start_placement(self.procs, "wf", store)[1]
        if not self.scheduler:
            self.scheduler = start_scheduler(self.procs)

    def host(
        self,
        name: str,
        *,
        worker: bool = True,
        env: dict[str, str] | None = None,
        config: Path | None = None,
    ) -> WorkflowHost:
        """A new app ``<run>-<name>``; ``config``: a Configuration file for its sidecar."""
        host = WorkflowHost(self, f"{self.run}-{name}", free_port(), free_port(), dict(env or {}), config)
        host.start_sidecar()
        if worker:
            host.start_worker()
        self.hosts.append(host)
        return host

    def cleanup(self) -> None:
        client = redis.Redis(host="127.0.0.1", port=6379)
        for key in client.scan_iter(match=f"{self.run}-*"):
            client.delete(key)


@contextlib.contextmanager
def workflow_mesh(tmp_path_factory: pytest.TempPathFactory, label: str, run: str) -> Iterator[WorkflowMesh]:
    """A ``WorkflowMesh`` in a directory and pydapr home of its own; on leaving, every process it
    started is stopped (also when starting its placement or scheduler failed) and its keys deleted."""
    workdir = tmp_path_factory.mktemp(label)
    home = workdir / "pydapr-home"
    home.mkdir()
    procs = Processes(home=home, workdir=workdir)
    mesh: WorkflowMesh | None = None
    try:
        mesh = WorkflowMesh(procs, run)
        yield mesh
    finally:
        procs.stop_all()
        if mesh is not None:
            mesh.cleanup()


def unique_id(label: str) -> str:
    """A workflow instance id no other test or run uses."""
    return f"{label}-{uuid.uuid4().hex[:10]}"


def wait_line(proc: Proc, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in proc.log():
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.log()[-6000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.name}: no {text!r} in {timeout}s:\n{proc.log()[-6000:]}")
        time.sleep(0.05)


# --- HTTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any

    @property
    def error(self) -> tuple[str, str]:
        """``(errorCode, message)`` of a Dapr error body."""
        return (str(self.body.get("errorCode")), str(self.body.get("message")))


def http(method: str, url: str, body: Any = None, timeout: float = 30.0) -> Reply:
    """One request; a JSON body is decoded, anything else kept as text."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read()
    try:
        return Reply(status, json.loads(raw) if raw else None)
    except ValueError:
        return Reply(status, raw.decode(errors="replace"))


def wait_http_status(url: str, want: str, timeout: float = 30.0) -> dict[str, Any]:
    """Polls ``GET url`` (the workflow HTTP API) until ``runtimeStatus`` is ``want``."""
    deadline = time.monotonic() + timeout
    last: Reply | None = None
    while time.monotonic() < deadline:
        last = http("GET", url)
        if last.status == 200 and last.body.get("runtimeStatus") == want:
            return dict(last.body)
        time.sleep(0.1)
    raise TimeoutError(f"{url} not {want} in {timeout}s: {last}")


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:  # the line a SIGKILL cut
            continue


def wait_port_free(port: int, timeout: float = 10.0) -> None:
    """A killed sidecar's ports are free again once the kernel let them go (restart on them)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                time.sleep(0.05)
    raise TimeoutError(f"port {port} still taken after {timeout}s")
