"""The local control plane as ``pydapr run`` uses it: real background processes in a private home."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from pydapr.controlplane import ControlPlane, ControlPlaneError, ensure_running, status, stop
from pydapr.controlplane.process import _serving
from pydapr.controlplane.state import accepts, pid_alive
from tests.e2e.harness import Processes, free_port, wait_port
from tests.integration.controlplane.conftest import serving_pids

DAPR_SCHEDULER_PORT = 50006


def port_of(cp: ControlPlane) -> int:
    return int(cp.scheduler_address.rpartition(":")[2])


def test_starts_in_background_and_is_reused(home: Path) -> None:
    cp = ensure_running()  # home from $PYDAPR_HOME
    assert cp.pid != os.getpid() and pid_alive(cp.pid)
    assert cp.scheduler_address.startswith("127.0.0.1:") and accepts(cp.scheduler_address)
    assert cp.placement_address is not None and accepts(cp.placement_address)
    # mTLS is on by default: Sentry runs, and its CA's trust anchors are in the home.
    assert cp.sentry_address is not None and accepts(cp.sentry_address)
    assert cp.trust_anchors_file is not None and b"BEGIN CERTIFICATE" in cp.trust_anchors_file.read_bytes()
    # Detached: its own session, and not our child (its parent went away once it was ready).
    assert os.getsid(cp.pid) != os.getsid(0)
    with pytest.raises(ChildProcessError):
        os.waitpid(cp.pid, os.WNOHANG)
    state = json.loads((home / "control-plane.json").read_text())
    assert state["pid"] == cp.pid and state["addresses"] == {
        "sentry": cp.sentry_address,
        "scheduler": cp.scheduler_address,
        "placement": cp.placement_address,
    }
    assert (home / "scheduler" / "jobs.db").exists()
    assert "ready" in (home / "logs" / "control-plane.log").read_text()

    again = ensure_running(home)
    assert (again.pid, again.scheduler_address) == (cp.pid, cp.scheduler_address)
    assert status(home) == cp
    assert serving_pids(home) == [cp.pid]


def test_concurrent_callers_in_threads_get_one_control_plane(home: Path) -> None:
    results: list[ControlPlane] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(ensure_running(home))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    assert len({cp.pid for cp in results}) == 1 and len(results) == 4
    assert serving_pids(home) == [results[0].pid]


def test_concurrent_callers_in_processes_get_one_control_plane(home: Path) -> None:
    script = "import sys; from pathlib import Path; from pydapr.controlplane import ensure_running; " \
             "print(ensure_running(Path(sys.argv[1])).pid)"  # fmt: skip
    callers = [
        subprocess.Popen([sys.executable, "-c", script, str(home)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    pids = set()
    for proc in callers:
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0
        pids.add(int(out))
    assert len(pids) == 1
    assert serving_pids(home) == list(pids)
    assert status(home) is not None and status(home).pid in pids  # type: ignore[union-attr]


def test_stale_state_file_is_replaced(home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    home.mkdir(parents=True)
    closed = f"127.0.0.1:{free_port()}"
    stale = {"pid": dead.pid, "started_at": "", "addresses": {"scheduler": closed}}
    (home / "control-plane.json").write_text(json.dumps(stale))
    assert status(home) is None

    cp = ensure_running(home)
    assert cp.pid != dead.pid and accepts(cp.scheduler_address)
    assert json.loads((home / "control-plane.json").read_text())["pid"] == cp.pid


def test_live_pid_with_closed_port_is_not_trusted(home: Path) -> None:
    home.mkdir(parents=True)
    closed = f"127.0.0.1:{free_port()}"
    stale = {"pid": os.getpid(), "started_at": "", "addresses": {"scheduler": closed}}
    (home / "control-plane.json").write_text(json.dumps(stale))
    assert status(home) is None
    cp = ensure_running(home)
    assert cp.pid != os.getpid() and cp.scheduler_address != closed
    # stop() never signals a process that is not a control plane (here: this test).
    (home / "control-plane.json").write_text(json.dumps(stale))
    assert stop(home) is False
    assert pid_alive(cp.pid)


def test_taken_default_port_gives_another_port(home: Path) -> None:
    holder: socket.socket | None = socket.socket()
    try:
        # Hold it ourselves: another holder (a parallel worker's control plane) may let go mid-test.
        deadline = time.monotonic() + 30
        while True:
            try:
                assert holder is not None
                holder.bind(("127.0.0.1", DAPR_SCHEDULER_PORT))
                break
            except OSError:
                if time.monotonic() > deadline:
                    # Held by another process: taken all the same, which is what this test needs.
                    holder.close()
                    holder = None
                    break
                time.sleep(0.1)
        if holder is not None:
            holder.listen()
        cp = ensure_running(home)
        assert port_of(cp) != DAPR_SCHEDULER_PORT and accepts(cp.scheduler_address)
        state = json.loads((home / "control-plane.json").read_text())
        assert state["addresses"]["scheduler"] == cp.scheduler_address
    finally:
        if holder is not None:
            holder.close()


def test_stop_ends_it_and_leaves_nothing(home: Path) -> None:
    assert stop(home) is False
    cp = ensure_running(home)
    started = time.monotonic()
    assert stop(home) is True
    assert time.monotonic() - started < 5  # SIGTERM was enough
    assert not pid_alive(cp.pid) and serving_pids(home) == []
    assert not (home / "control-plane.json").exists()
    assert status(home) is None and stop(home) is False
    assert "stopped" in (home / "logs" / "control-plane.log").read_text()
    # And it starts again, with the jobs database it left.
    assert ensure_running(home).pid != cp.pid


def test_killed_control_plane_is_restarted(home: Path) -> None:
    cp = ensure_running(home)
    os.kill(cp.pid, 9)
    deadline = time.monotonic() + 5
    while pid_alive(cp.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status(home) is None
    assert ensure_running(home).pid != cp.pid


def test_failed_start_says_why(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "scheduler").write_text("a file where the jobs folder goes")
    with pytest.raises(ControlPlaneError, match="did not start") as info:
        ensure_running(home, timeout=10)
    assert "scheduler" in str(info.value)
    assert serving_pids(home) == []


def test_cli_start_status_stop(home: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pydapr.cli.controlplane", *args, "--home", str(home)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)

    assert cli("status").returncode == 1
    started = cli("start")
    assert started.returncode == 0, started.stderr
    cp = status(home)
    assert cp is not None and f"pid {cp.pid}" in started.stdout
    shown = cli("status", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["pid"] == cp.pid
    assert "stopped" in cli("stop").stdout
    assert cli("status").returncode == 1 and "no control plane" in cli("stop").stdout


HTTP_APP = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out = open(sys.argv[1], "a", buffering=1)

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        out.write(json.dumps({"path": self.path, "body": body.decode()}) + "\\n")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
"""


def test_sidecar_schedules_jobs_through_the_control_plane(home: Path, tmp_path: Path) -> None:
    cp = ensure_running(home)
    procs = Processes(home=home, workdir=tmp_path)
    try:
        app_port = free_port()
        script, record = tmp_path / "app.py", tmp_path / "triggers.jsonl"
        script.write_text(textwrap.dedent(HTTP_APP))
        wait_port(app_port, proc=procs.app("jobs", script, args=[str(record), str(app_port)]))
        # The control plane's scheduler takes mTLS only: the sidecar gets a certificate from its Sentry.
        assert cp.sentry_address is not None and cp.trust_anchors_file is not None
        sidecar = procs.sidecar(
            "cp-jobs",
            app_port=app_port,
            args=[
                "--scheduler-host-address",
                cp.scheduler_address,
                "--enable-mtls",
                "--sentry-address",
                cp.sentry_address,
            ],
            env={"DAPR_TRUST_ANCHORS": cp.trust_anchors_file.read_text()},
        )
        req = urllib.request.Request(
            f"{sidecar.url}/v1.0-alpha1/jobs/nightly",
            data=json.dumps({"dueTime": "1s", "data": {"db": "prod"}}).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 204
        deadline = time.monotonic() + 10
        while not (record.exists() and record.read_text().strip()):
            assert time.monotonic() < deadline, "the app got no trigger"
            time.sleep(0.1)
        trigger = json.loads(record.read_text().splitlines()[0])
        assert trigger["path"] == "/job/nightly"
        assert json.loads(trigger["body"]) == {"db": "prod"}
    finally:
        procs.stop_all()


def test_one_control_plane_per_home_even_by_hand(home: Path) -> None:
    argv = [sys.executable, "-m", "pydapr.cli.controlplane", "serve", "--home", str(home)]
    by_hand = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _serving(home):  # it holds the serve lock from before its services start
            assert by_hand.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        # Still starting or already up: ensure_running waits for it instead of starting another.
        cp = ensure_running(home)
        assert cp.pid == by_hand.pid
        second = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
        assert second.returncode == 1 and "another control plane already serves" in second.stderr
        assert stop(home) is True
        assert by_hand.wait(5) == 0
    finally:
        if by_hand.poll() is None:
            by_hand.kill()
            by_hand.wait()
