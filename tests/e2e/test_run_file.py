"""``pydapr run -f`` as a Dapr user meets it: one merged stream (coloured per app on a terminal, plain
elsewhere), one success line once every app is up, one Ctrl-C or ``stop -f`` ends everything, an app
crashing leaves the others running, and per-app log files as ``dapr run -f`` writes them.

Every test runs the real CLI with real sidecars and apps and checks, after the run, that no process
it started is left (``os.kill(pid, 0)``; a zombie counts as gone, as it waits only for a reaper).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import termios
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pydapr.controlplane import status
from pydapr.controlplane import stop as stop_control_plane
from tests.e2e.harness import http_status
from tests.e2e.test_run_lifecycle import APP, descendants

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

UP = "You're up and running! Both Dapr and your app logs will appear here."
STARTED = re.compile(r'Started Dapr with app id "([^"]+)"\. HTTP Port: (\d+)\. gRPC Port: (\d+)')
ESC = "\x1b["


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    # Exited, not yet reaped: an orphaned grandchild waits for the container's init, not for us.
    return state in ("Z", "X")


class Run:
    """``pydapr run -f`` on a pipe, or on a pseudo-terminal it has as its controlling terminal (so
    Ctrl-C typed there reaches it as a terminal's SIGINT does); collects its output as it comes."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], tty: bool) -> None:
        self.home = Path(env["PYDAPR_HOME"])
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self.pids: set[int] = set()
        self.master: int | None = None
        if tty:
            self.master, slave = os.openpty()
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "pydapr", "run", *args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=cwd,
                env=env,
                start_new_session=True,
                # A new session without a terminal takes this one: the shell's job control, in short.
                # (Only an ioctl runs between fork and exec, so the threads' locks are no concern.)
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # noqa: PLW1509
            )
            os.close(slave)
            source = self.master
        else:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "pydapr", "run", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
            assert self.popen.stdout is not None
            source = self.popen.stdout.fileno()
        self._reader = threading.Thread(target=self._read, args=(source,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's last writer closed it
                return
            if not data:
                return
            with self._lock:
                self._chunks.append(data)

    @property
    def raw(self) -> str:
        with self._lock:
            data = b"".join(self._chunks)
        return data.decode(errors="replace").replace("\r\n", "\n")

    @property
    def text(self) -> str:
        return re.sub(r"\x1b\[[0-9;]*m", "", self.raw)

    def lines(self) -> list[str]:
        return self.text.splitlines()

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pids.update(descendants(self.popen.pid))
            if text in self.text:
                return
            if self.popen.poll() is not None:
                time.sleep(0.2)  # the reader's last chunk
                if text in self.text:
                    return
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not printed:\n{self.text}")

    def ctrl_c(self) -> None:
        assert self.master is not None, "Ctrl-C needs the terminal"
        os.write(self.master, b"\x03")

    def wait(self, timeout: float = 30.0) -> int:
        code = self.popen.wait(timeout)
        self._reader.join(5)
        return code

    def ports(self) -> dict[str, int]:
        """HTTP port of each app's sidecar, from the "Started Dapr with app id" lines."""
        return {m[1]: int(m[2]) for m in STARTED.finditer(self.text)}

    def left(self, extra: set[int] | None = None) -> list[int]:
        """Processes of the run still alive: its descendants seen while it ran, and ``extra``.

        The local control plane it started (a daemon, like the services `dapr init` starts) is
        meant to outlive the run; the fixture stops it.
        """
        control_plane = status(self.home)
        keep = {control_plane.pid} if control_plane is not None else set()
        return sorted(pid for pid in {*self.pids, *(extra or set())} - keep if not gone(pid))

    def close(self) -> None:
        for pid in [*self.pids, self.popen.pid]:
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


StartRun = Callable[..., Run]


@pytest.fixture
def start_run(tmp_path: Path) -> Iterator[StartRun]:
    home = tmp_path / "home"
    home.mkdir()
    runs: list[Run] = []

    def start(*args: str, tty: bool = False, env: dict[str, str] | None = None) -> Run:
        base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        full_env = {**base, "PYDAPR_HOME": str(home), "PYTHONUNBUFFERED": "1", "TERM": "xterm", **(env or {})}
        run = Run(list(args), tmp_path, full_env, tty)
        runs.append(run)
        return run

    try:
        yield start
    finally:
        for run in runs:
            run.close()
        stop_control_plane(home)


def write_run_file(tmp_path: Path, apps: dict[str, list[str]], extra: str = "") -> Path:
    """A run file with one app per entry (its folder is its id), each running ``APP`` with args."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    body = "version: 1\nname: shop\napps:\n"
    for app_id, args in apps.items():
        (tmp_path / app_id).mkdir()
        command = json.dumps([sys.executable, str(script), *args])
        body += f"  - appDirPath: ./{app_id}/\n    command: {command}\n{extra}"
    path = tmp_path / "dapr.yaml"
    path.write_text(body)
    return path


def pids_of(tmp_path: Path, app_id: str) -> dict[str, int]:
    return dict(json.loads((tmp_path / app_id / "pids.json").read_text()))


def extended_metadata(port: int) -> dict[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1.0/metadata", timeout=5) as resp:
        return dict(json.loads(resp.read())["extended"])


def test_on_a_terminal_apps_have_distinct_colours_and_one_ctrl_c_stops_everything(
    start_run: StartRun, tmp_path: Path
) -> None:
    write_run_file(tmp_path, {"orders": ["run", "pids.json"], "checkout": ["run", "pids.json"]})
    run = start_run("-f", ".", tty=True)
    run.wait_for(UP)
    run.wait_for("== APP - checkout == APP RUNNING")
    run.wait_for("== APP - orders == APP RUNNING")
    apps = [pids_of(tmp_path, app) for app in ("orders", "checkout")]

    # Each app's prefixes in a colour of their own: the APP prefix bold, the DAPR one plain.
    raw = run.raw
    colours = {}
    for app in ("orders", "checkout"):
        found = re.search(rf"\x1b\[1;(\d+)m== APP - {app} ==\x1b\[0m APP RUNNING", raw)
        assert found, raw
        colours[app] = found[1]
        assert f"\x1b[{colours[app]}m== DAPR - {app} ==\x1b[0m " in raw
    assert colours["orders"] != colours["checkout"]
    assert colours["orders"] == "94"  # the first app in dapr's blue

    run.ctrl_c()
    assert run.wait() == 0, run.text
    lines = run.lines()
    assert "Received signal to stop Dapr and app processes. Shutting down Dapr and app processes." in run.text
    for app in ("orders", "checkout"):
        assert f"== APP - {app} == ✅  Exited App successfully" in lines
        assert f"== DAPR - {app} == ✅  Exited Dapr successfully" in lines
    assert run.left({p for d in apps for p in d.values()}) == []
    # The log files are plain: no colour escapes, no prefixes.
    for app in ("orders", "checkout"):
        for log in (tmp_path / app / ".dapr" / "logs").iterdir():
            text = log.read_text()
            assert ESC not in text and "== " not in text, (log, text)


def test_no_color_on_a_terminal_and_a_pipe_get_plain_lines(start_run: StartRun, tmp_path: Path) -> None:
    write_run_file(tmp_path, {"plain": ["run"]})
    for tty, env in ((True, {"NO_COLOR": "1"}), (False, {})):
        run = start_run("-f", ".", tty=tty, env=env)
        run.wait_for("== APP - plain == APP RUNNING")
        os.kill(run.popen.pid, signal.SIGINT)
        assert run.wait() == 0, run.text
        assert "== APP - plain == ✅  Exited App successfully" in run.lines(), run.text
        assert ESC not in run.raw, run.raw
        assert run.left() == []


def test_the_success_line_comes_once_every_sidecar_is_ready_and_every_app_started(
    start_run: StartRun, tmp_path: Path
) -> None:
    run_file = write_run_file(tmp_path, {name: ["run", "pids.json"] for name in ("a1", "a2", "a3")})
    run = start_run("-f", str(run_file))
    run.wait_for(UP)
    # Right when it is printed: every sidecar serves, and has the run's metadata `pydapr list` and
    # `pydapr stop -f` read.
    ports = run.ports()
    assert sorted(ports) == ["a1", "a2", "a3"], run.text
    for port in ports.values():
        assert http_status(f"http://127.0.0.1:{port}/v1.0/healthz/outbound") == 204
        meta = extended_metadata(port)
        assert meta["cliPID"] == str(run.popen.pid)
        assert meta["runTemplatePath"] == str(run_file.resolve())
        assert meta["runTemplateName"] == "shop"
        assert meta["appCommand"].endswith("app.py run pids.json")
    lines = run.lines()
    up_at = [i for i, line in enumerate(lines) if UP in line]
    assert len(up_at) == 1, run.text
    for app in ports:
        ready = next(
            i
            for i, line in enumerate(lines)
            if line == f"== DAPR - {app} == \u2139\ufe0f  Dapr sidecar is up and running."
        )
        started = next(i for i, line in enumerate(lines) if f'Started Dapr with app id "{app}"' in line)
        assert ready < started < up_at[0], run.text
    # "You're up and running" nowhere else (no per-app success line a harness could stop at).
    assert run.text.count("You're up and running") == 1

    for app in ports:  # started, but a Python app takes a moment to say so (and write its pids)
        run.wait_for(f"== APP - {app} == APP RUNNING")
    os.kill(run.popen.pid, signal.SIGINT)
    assert run.wait() == 0, run.text
    grandchildren = {pids_of(tmp_path, app)["grandchild"] for app in ports}
    assert run.left(grandchildren) == []


def test_stop_f_finds_the_run_in_the_metadata_and_stops_it_all(start_run: StartRun, tmp_path: Path) -> None:
    """`pydapr stop -f dapr.yaml` sends SIGTERM to the cliPID of the sidecars whose runTemplatePath
    is the file: the run puts both in every sidecar's metadata before its success line, with its
    log files' paths (dapr's names); then every app and sidecar ends."""
    run_file = write_run_file(tmp_path, {"orders": ["run", "pids.json"], "checkout": ["run", "pids.json"]})
    run = start_run("-f", "dapr.yaml")
    run.wait_for(UP)
    cli_pids = set()
    log_paths = {}
    for app, port in run.ports().items():
        meta = extended_metadata(port)
        assert meta["runTemplatePath"] == str(run_file.resolve())
        cli_pids.add(int(meta["cliPID"]))
        logs = tmp_path / app / ".dapr" / "logs"
        assert f"Writing log files to directory : {logs}" in run.text
        assert re.fullmatch(rf"{logs}/{app}_app_\d{{14}}\.log", meta["appLogPath"]), meta
        assert re.fullmatch(rf"{logs}/{app}_daprd_\d{{14}}\.log", meta["daprdLogPath"]), meta
        log_paths[app] = (Path(meta["appLogPath"]), Path(meta["daprdLogPath"]))
    assert cli_pids == {run.popen.pid}
    for app in ("orders", "checkout"):
        run.wait_for(f"== APP - {app} == APP RUNNING")
    apps = [pids_of(tmp_path, app) for app in ("orders", "checkout")]

    stop = subprocess.run(
        [sys.executable, "-m", "pydapr", "stop", "-f", "dapr.yaml"],
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYDAPR_HOME": str(run.home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "Dapr and app processes stopped successfully" in stop.stdout
    assert run.wait() == 0, run.text
    assert "Received signal to stop Dapr and app processes." in run.text
    assert run.left({p for d in apps for p in d.values()}) == []
    for app, (app_log, daprd_log) in log_paths.items():
        app_lines = app_log.read_text().splitlines()
        assert "APP RUNNING" in app_lines and "✅  Exited App successfully" in app_lines
        daprd = daprd_log.read_text()
        assert f"sidecar ready: app id {app}" in daprd and "Exited Dapr successfully" in daprd
        assert "APP RUNNING" not in daprd


def test_one_app_crashing_is_reported_and_the_others_keep_running(
    start_run: StartRun, tmp_path: Path
) -> None:
    write_run_file(tmp_path, {"steady": ["run", "pids.json"], "crashy": ["exit3"]})
    run = start_run("-f", ".")
    run.wait_for("== APP - crashy == ❌  The App process exited with error code: 3")
    run.wait_for("== APP - steady == APP RUNNING")
    steady = pids_of(tmp_path, "steady")
    time.sleep(1)  # the run goes on
    assert run.popen.poll() is None
    assert not gone(steady["app"]) and not gone(steady["grandchild"])
    for app, port in run.ports().items():  # both sidecars still serve, the crashed app's one too
        assert http_status(f"http://127.0.0.1:{port}/v1.0/healthz/outbound") == 204, app

    os.kill(run.popen.pid, signal.SIGINT)
    assert run.wait() == 1, run.text  # an app failed
    assert "== APP - steady == ✅  Exited App successfully" in run.lines()
    assert "== DAPR - crashy == ✅  Exited Dapr successfully" in run.lines()
    assert run.left(set(steady.values())) == []


def test_a_sidecar_failing_to_start_stops_the_whole_run(start_run: StartRun, tmp_path: Path) -> None:
    bad = tmp_path / "bad-resources"
    bad.mkdir()
    (bad / "store.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: store
            spec:
              type: state.nosuch
              version: v1
            """
        )
    )
    write_run_file(tmp_path, {"good": ["run", "pids.json"]})
    script = tmp_path / "app.py"
    (tmp_path / "broken").mkdir()
    with (tmp_path / "dapr.yaml").open("a") as f:
        f.write(
            f"  - appDirPath: ./broken/\n    resourcesPath: {bad}\n"
            f"    command: {json.dumps([sys.executable, str(script), 'run', 'pids.json'])}\n"
        )
    run = start_run("-f", ".")
    assert run.wait(60) == 1, run.text
    text = run.text
    assert '❌  Error starting Dapr and app ("broken")' in text
    assert "== DAPR - broken == ❌  The daprd process exited with error code: 1" in text
    assert "You're up and running" not in text
    assert not (tmp_path / "broken" / "pids.json").exists(), "its app must not start"
    extra = set(pids_of(tmp_path, "good").values()) if (tmp_path / "good" / "pids.json").exists() else set()
    assert run.left(extra) == []


def test_a_second_ctrl_c_kills_what_the_first_is_still_stopping(start_run: StartRun, tmp_path: Path) -> None:
    """An app that ignores SIGTERM would get 5 s; the impatient second Ctrl-C ends it at once."""
    write_run_file(tmp_path, {"stubborn": ["ignore-term", "pids.json"], "polite": ["run", "pids.json"]})
    run = start_run("-f", ".", tty=True)
    run.wait_for(UP)
    for app in ("stubborn", "polite"):
        run.wait_for(f"== APP - {app} == APP RUNNING")
    apps = [pids_of(tmp_path, app) for app in ("stubborn", "polite")]
    run.ctrl_c()
    run.wait_for("Received signal to stop Dapr and app processes.")
    time.sleep(0.5)
    assert run.popen.poll() is None  # still waiting for the stubborn app
    started = time.monotonic()
    run.ctrl_c()
    run.wait(10)
    assert time.monotonic() - started < 3, run.text
    assert run.left({p for d in apps for p in d.values()}) == []
