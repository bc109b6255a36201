"""Finding the running sidecars: registry entries, the sidecar's flags from /proc, its metadata;
stale and foreign entries left out, a silent sidecar costing no more than the timeout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pydapr.cli.instances import running_instances

pytestmark = pytest.mark.timeout(60)

# Stands in for a sidecar: a process whose command line says "sidecar" and carries its flags, and
# which answers GET /v1.0/metadata (chunked, as a streaming server may) or accepts and never answers.
FAKE = textwrap.dedent(
    """
    import json, socket, sys, time
    mode, port = sys.argv[1], int(sys.argv[2])
    server = socket.create_server(("127.0.0.1", port))
    meta = {"id": "x", "extended": {"cliPID": "4242", "appPID": "4343", "appCommand": "python app.py",
            "runTemplatePath": "/w/dapr.yaml", "runTemplateName": "shop",
            "appLogPath": "/w/a.log", "daprdLogPath": "/w/d.log"},
            "appConnectionProperties": {"port": 6001}}
    held = []
    while True:
        conn, _ = server.accept()
        if mode == "silent":
            held.append(conn)
            continue
        conn.recv(65536)
        body = json.dumps(meta).encode()
        chunk = b"%x\\r\\n%s\\r\\n0\\r\\n\\r\\n" % (len(body), body)
        head = b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
        conn.sendall(head + chunk)
        conn.close()
    """
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Starter = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Starter]:
    procs: list[subprocess.Popen[bytes]] = []
    script = tmp_path / "fake.py"
    script.write_text(FAKE)

    def start(mode: str, port: int, *flags: str) -> subprocess.Popen[bytes]:
        # argv as a sidecar's: "sidecar", then its flags.
        proc = subprocess.Popen([sys.executable, str(script), mode, str(port), "sidecar", *flags])
        procs.append(proc)
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return proc
            assert time.monotonic() < deadline, "the fake sidecar did not listen"
            time.sleep(0.05)

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def register(home: Path, app_id: str, pid: int, http_port: int, namespace: str = "default") -> None:
    folder = home / "registry" / namespace / app_id
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"host": "127.0.0.1", "internalPort": 1, "grpcPort": 50001, "httpPort": http_port, "pid": pid}
    (folder / f"{pid}.json").write_text(json.dumps(entry))


def test_a_sidecar_is_described_by_its_entry_flags_and_metadata(home: Path, spawn: Starter) -> None:
    port = _port()
    proc = spawn("answer", port, "--app-id", "orders", "--max-body-size", "2Mi", "--enable-metrics=false")
    register(home, "orders", proc.pid, port)
    [inst] = running_instances(home)
    assert (inst.app_id, inst.namespace, inst.http_port, inst.grpc_port) == ("orders", "default", port, 50001)
    assert inst.daprd_pid == proc.pid and abs(inst.created_at - time.time()) < 30
    assert inst.max_request_body_size == 2 << 20 and inst.metrics_enabled is False
    assert (inst.cli_pid, inst.app_pid, inst.command) == (4242, 4343, "python app.py")
    assert (inst.run_template_path, inst.run_template_name) == ("/w/dapr.yaml", "shop")
    assert (inst.app_log_path, inst.daprd_log_path) == ("/w/a.log", "/w/d.log")
    assert inst.app_port == 6001  # no --app-port: the metadata's app connection
    assert inst.to_output()["command"] == "python app.py"


def test_stale_and_foreign_entries_are_left_out(home: Path, spawn: Starter) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    register(home, "gone", dead.pid, 1)
    register(home, "not-a-sidecar", os.getpid(), 1)  # this test's process: no "sidecar" in its argv
    (home / "registry" / "default" / "torn").mkdir(parents=True)
    (home / "registry" / "default" / "torn" / "1.json").write_text("{not json")
    port = _port()
    proc = spawn("answer", port, "--app-id", "real", "--app-port", "7001")
    register(home, "real", proc.pid, port, namespace="shop")
    assert [(i.app_id, i.namespace, i.app_port) for i in running_instances(home)] == [("real", "shop", 7001)]


def test_silent_sidecars_cost_one_timeout_together(home: Path, spawn: Starter) -> None:
    for i in range(5):
        port = _port()
        proc = spawn("silent", port, "--app-id", f"quiet-{i}")
        register(home, f"quiet-{i}", proc.pid, port)
    t = time.monotonic()
    found = running_instances(home, timeout=0.3)
    elapsed = time.monotonic() - t
    assert [i.app_id for i in found] == [f"quiet-{i}" for i in range(5)]
    assert all(i.metadata is None and i.cli_pid == 0 for i in found)
    assert elapsed < 1.0  # five at once, not 5 x 0.3 s


def test_no_registry_no_instances(home: Path) -> None:
    assert running_instances(home) == []
