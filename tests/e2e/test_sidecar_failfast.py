"""A sidecar that fails, fails fast and leaves nothing behind: whatever the exception, whatever the phase.

The cases come from a real incident: beside an older protobuf, importing a building block raised
protobuf's ``VersionError`` at startup; the sidecar printed a traceback, then stayed alive with no port
open and ignored SIGTERM, and ``pydapr run`` left it behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Processes, free_port
from tests.e2e.test_sidecar import _sidecar_argv

pytestmark = pytest.mark.e2e

# Makes importing one building block fail the way a protobuf gencode/runtime mismatch does.
BROKEN_IMPORT = textwrap.dedent(
    """
    import importlib.abc, sys

    class _Mismatch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "pydapr.jobs.block":
                from google.protobuf.runtime_version import VersionError
                raise VersionError("Detected incompatible Protobuf Gencode/Runtime versions (from the test)")
            return None

    sys.meta_path.insert(0, _Mismatch())
    """
)


def _sqlite_store(resources: Path, db: Path) -> None:
    resources.mkdir(exist_ok=True)
    (resources / "store.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n"
        "spec:\n  type: state.sqlite\n  version: v1\n  metadata:\n"
        f"  - name: connectionString\n    value: {db}\n"
    )


class SilentServer:
    """Accepts TCP connections and never answers: a backend that hangs a component's init."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def _hanging_redis(resources: Path, port: int) -> None:
    resources.mkdir(exist_ok=True)
    (resources / "hang.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: hang\n"
        "spec:\n  type: state.redis\n  version: v1\n  initTimeout: 120s\n  metadata:\n"
        f"  - name: redisHost\n    value: 127.0.0.1:{port}\n"
        "  - name: dialTimeout\n    value: 120s\n  - name: readTimeout\n    value: 120s\n"
    )


def test_unexpected_exception_at_startup_is_one_line_exit_1_and_closes_components(
    procs: Processes, tmp_path: Path
) -> None:
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(BROKEN_IMPORT)
    db = tmp_path / "state.db"
    _sqlite_store(tmp_path / "res", db)
    env = procs.env({"PYTHONPATH": str(inject)})
    started = time.monotonic()
    out = subprocess.run(
        _sidecar_argv("broken", "--resources-path", str(tmp_path / "res")),
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        "pydapr sidecar: fatal: unexpected error during startup: VersionError: "
        "Detected incompatible Protobuf Gencode/Runtime versions (from the test)"
    )
    assert "Traceback" not in out.stderr + out.stdout
    # The interpreter's own start is most of this; the failure path itself is bounded at ~1 s.
    assert elapsed < 8, elapsed
    # The SQLite store opened before the failure was closed: a clean close leaves no WAL behind.
    assert db.exists()
    assert not Path(f"{db}-wal").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_a_hanging_component_init_ends_the_sidecar(
    procs: Processes, tmp_path: Path, silent: SilentServer, sig: signal.Signals
) -> None:
    _hanging_redis(tmp_path / "res", silent.port)
    sidecar = procs.spawn("hanging", _sidecar_argv("hanging", "--resources-path", str(tmp_path / "res")))
    assert silent.accepted.wait(20), sidecar.log()
    time.sleep(0.3)
    assert sidecar.alive, sidecar.log()
    os.kill(sidecar.popen.pid, sig)
    started = time.monotonic()
    code = sidecar.popen.wait(10)
    assert time.monotonic() - started < 3
    assert code == 0, sidecar.log()
    assert "startup interrupted by a signal" in sidecar.log()


def test_runner_sigkilled_while_the_sidecar_starts_leaves_no_sidecar(
    procs: Processes, tmp_path: Path, silent: SilentServer
) -> None:
    _hanging_redis(tmp_path / "res", silent.port)
    runner = procs.spawn(
        "runner",
        [
            sys.executable,
            "-m",
            "pydapr",
            "run",
            "--app-id",
            "orphan",
            "--dapr-http-port",
            str(free_port()),
            "--dapr-grpc-port",
            str(free_port()),
            "--resources-path",
            str(tmp_path / "res"),
        ],
    )
    assert silent.accepted.wait(30), runner.log()
    sidecars = _sidecar_pids_with_app_id("orphan")
    assert sidecars, runner.log()
    os.kill(runner.popen.pid, signal.SIGKILL)
    runner.popen.wait(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in sidecars):
        time.sleep(0.1)
    assert [p for p in sidecars if _alive(p)] == []


def _sidecar_pids_with_app_id(app_id: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sidecar" in argv and app_id.encode() in argv:
            pids.append(int(entry.name))
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize(
    ("extra", "env", "said"),
    [
        (["--enable-mtls"], {}, "--enable-mtls needs --sentry-address"),
        (
            ["--enable-mtls", "--sentry-address", "127.0.0.1:1"],
            {},
            "--enable-mtls needs the trust anchors (PEM) in the DAPR_TRUST_ANCHORS environment variable",
        ),
    ],
)
def test_mtls_without_what_it_needs_exits_at_once(extra: list[str], env: dict[str, str], said: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAPR_TRUST_ANCHORS"} | env
    started = time.monotonic()
    out = subprocess.run(
        _sidecar_argv("nomtls", *extra), env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert out.returncode == 1 and said in out.stdout + out.stderr
    assert time.monotonic() - started < 10


def test_an_unreachable_sentry_fails_startup_after_a_bounded_wait(tmp_path: Path) -> None:
    from pydapr.security.ca import CertificateAuthority
    from pydapr.security.spiffe import SpiffeId

    anchors = CertificateAuthority.generate("localhost", SpiffeId("localhost", "default", "dapr-sentry"))
    dead = free_port()  # nothing listens there
    env = {**os.environ, "DAPR_TRUST_ANCHORS": anchors.trust_anchors_pem.decode()}
    argv = _sidecar_argv("nosentry", "--enable-mtls", "--sentry-address", f"127.0.0.1:{dead}")
    started = time.monotonic()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    took = time.monotonic() - started
    assert out.returncode == 1, out.stdout + out.stderr
    assert (
        f"Sentry at 127.0.0.1:{dead} did not sign a certificate for spiffe://public/ns/default/nosentry"
        in (out.stdout + out.stderr)
    )
    assert took < 25


def test_otlp_headers_from_the_environment_that_do_not_parse_stop_startup() -> None:
    env = os.environ | {"OTEL_EXPORTER_OTLP_HEADERS": "authorization"}  # no '='
    out = subprocess.run(
        _sidecar_argv("badotel"), env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert out.returncode == 1
    assert "OTEL_EXPORTER_OTLP_(TRACES_)HEADERS: missing '=' in OTLP exporter header 'authorization'" in (
        out.stdout + out.stderr
    )


# A parent that starts the sidecar as `pydapr run` does, but without the kernel's parent-death
# signal: only the sidecar's own watch of its parent can notice that the parent is gone.
PARENT_WITHOUT_DEATH_SIGNAL = textwrap.dedent(
    """
    import os, subprocess, sys, time
    env = dict(os.environ, PYDAPR_RUNNER_PID=str(os.getpid()))
    child = subprocess.Popen(sys.argv[1:], env=env)
    print("sidecar pid", child.pid, flush=True)
    time.sleep(600)
    """
)


def test_sidecar_whose_runner_is_gone_stops_without_the_death_signal(procs: Processes) -> None:
    http_port = free_port()
    argv = _sidecar_argv("watched")
    argv[argv.index("--dapr-http-port") + 1] = str(http_port)
    parent = procs.spawn("parent", [sys.executable, "-c", PARENT_WITHOUT_DEATH_SIGNAL, *argv])
    deadline = time.monotonic() + 30
    while "sidecar pid" not in parent.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    sidecar = int(parent.log().split("sidecar pid", 1)[1].split()[0])
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", http_port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    else:
        raise AssertionError(parent.log())
    os.kill(parent.popen.pid, signal.SIGKILL)
    parent.popen.wait(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(sidecar):
        time.sleep(0.05)
    assert not _alive(sidecar), parent.log()
    assert "is gone; stopping" in parent.log()
