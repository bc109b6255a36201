"""Starting, finding and stopping the local control plane from any process (``pydapr run``, the CLI)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pydapr.controlplane.state import (
    SERVE_LOCK,
    START_LOCK,
    ControlPlane,
    ControlPlaneError,
    is_live,
    log_path,
    pid_alive,
    read_state,
    remove_state,
)

# The module, not ``pydapr control-plane``: it runs whether or not the command is registered.
SERVE_ARGV = ["-m", "pydapr.cli.controlplane", "serve", "--detach"]
STOP_GRACE = 5.0


def _home(home: Path | None) -> Path:
    if home is None:
        from pydapr.home import pydapr_home

        home = pydapr_home()
    return home.expanduser().absolute()


@contextlib.contextmanager
def _locked(home: Path, timeout: float) -> Iterator[None]:
    """Holds ``control-plane.lock``: one process at a time checks, starts or stops the control plane."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / START_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ControlPlaneError(f"{home / START_LOCK} stayed locked for {timeout:g}s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _serving(home: Path) -> bool:
    """Whether a process holds ``control-plane.serve.lock``, i.e. a control plane runs for ``home``."""
    try:
        fd = os.open(home / SERVE_LOCK, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def status(home: Path | None = None) -> ControlPlane | None:
    """The running control plane of ``home`` (default: the pydapr home), or None."""
    cp = read_state(_home(home))
    return cp if cp is not None and is_live(cp) else None


def ensure_running(home: Path | None = None, *, timeout: float = 20.0) -> ControlPlane:
    """Returns the control plane of ``home``, starting it in the background first if it is not up."""
    home = _home(home)
    deadline = time.monotonic() + timeout
    with _locked(home, timeout):
        cp = read_state(home)
        if cp is not None and is_live(cp):
            return cp
        # Its process holds the serve lock while it lives: one may be starting (by hand), stopping,
        # or just slow to answer. Wait for it to answer or to go; a second one would not start anyway.
        while _serving(home):
            cp = read_state(home)
            if cp is not None and is_live(cp):
                return cp
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"a control plane serves {home} (pid {cp.pid if cp else '?'}) but does not answer; "
                    f"see {log_path(home)}, or stop it with `pydapr control-plane stop`"
                )
            time.sleep(0.1)
        return _start(home, deadline - time.monotonic())


def _start(home: Path, timeout: float) -> ControlPlane:
    log_file = log_path(home)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        offset = out.tell()
        # ``serve --detach`` forks and exits once its child listens: exit 0 ready, 1 failed.
        proc = subprocess.Popen(
            [sys.executable, *SERVE_ARGV, "--home", str(home)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        code = proc.wait(max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        # The session holds the starter and the server it forked: end both.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise ControlPlaneError(
            f"the control plane did not start in {timeout:g}s:\n{_log_since(log_file, offset)}"
        ) from None
    cp = read_state(home)
    if code != 0 or cp is None or not is_live(cp):
        raise ControlPlaneError(f"the control plane did not start:\n{_log_since(log_file, offset)}")
    return cp


def _log_since(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return text[-4000:] + f"\n(log: {path})"


def stop(home: Path | None = None, *, grace: float = STOP_GRACE) -> bool:
    """Stops the control plane of ``home``: SIGTERM, SIGKILL after ``grace`` s. Whether one was running."""
    home = _home(home)
    with _locked(home, grace + 10.0):
        cp = read_state(home)
        if cp is None:
            return False
        if not pid_alive(cp.pid) or not _is_control_plane(cp.pid):
            remove_state(home, cp.pid)
            return False
        _signal(cp.pid, signal.SIGTERM)
        if not _wait_gone(cp.pid, grace):
            _signal(cp.pid, signal.SIGKILL)
            _wait_gone(cp.pid, 5.0)
        remove_state(home, cp.pid)
        return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _is_control_plane(pid: int) -> bool:
    """Whether ``pid`` still runs the control plane, not an unrelated process that reused the pid."""
    if not Path("/proc/self").exists():
        return True  # no procfs (macOS): trust the state file
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"\0pydapr.cli.controlplane\0serve\0" in cmdline or b"\0control-plane\0serve\0" in cmdline
