"""``pydapr run`` as a user meets it: real runner and sidecar, a small app; lines, exit codes, no orphans."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pydapr.cli.ports import PortAllocator
from pydapr.cli.process import Console, LineSink
from pydapr.cli.runconfig import RunConfig, assign_ports
from pydapr.cli.runner import AppRun
from pydapr.controlplane import stop as stop_control_plane
from tests.e2e.harness import free_port, http_status

pytestmark = pytest.mark.e2e

UP = "You're up and running! Both Dapr and your app logs will appear here."

# The app: prints its Dapr env as JSON, then exits with a code ("exit3") or runs until stopped,
# with a grandchild in its process group, optionally ignoring SIGTERM; it records its pids.
APP = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    mode, pid_file = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    env = {k: v for k, v in os.environ.items() if k.startswith(("APP_", "DAPR_"))}
    print("ENV " + json.dumps(env, sort_keys=True), flush=True)
    if mode.startswith("exit"):
        sys.exit(int(mode[4:]))
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    if pid_file:
        with open(pid_file, "w") as f:
            json.dump({"app": os.getpid(), "grandchild": child.pid}, f)
    print("APP RUNNING", flush=True)
    while True:
        time.sleep(0.2)
    """
)


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            rest = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(rest[1]), rest[0])
    return table


def alive(pid: int) -> bool:
    state = _proc_table().get(pid)
    # A zombie has exited; it may wait for a reaper that is not ours.
    return state is not None and state[1] not in ("Z", "X")


def descendants(pid: int) -> list[int]:
    table = _proc_table()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, (ppid, _) in table.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


@dataclass
class Runner:
    popen: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path
    seen_pids: set[int] = field(default_factory=set)

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.seen_pids.update(descendants(self.popen.pid))
            if text in self.out or text in self.err:
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not printed\n--- stdout\n{self.out}\n--- stderr\n{self.err}")

    def wait(self, timeout: float = 30.0) -> int:
        return self.popen.wait(timeout)

    def lines(self) -> list[str]:
        return [line for line in (self.out + self.err).splitlines() if line.strip()]


StartRun = Callable[..., Runner]


@pytest.fixture
def pydapr_run(tmp_path: Path) -> Iterator[StartRun]:
    """Starts ``pydapr run`` with a private PYDAPR_HOME; kills it and every descendant afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    runners: list[Runner] = []

    def start(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Runner:
        n = len(runners)
        out_path, err_path = tmp_path / f"run{n}.out", tmp_path / f"run{n}.err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            popen = subprocess.Popen(
                [sys.executable, "-m", "pydapr", "run", *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=cwd or tmp_path,
                env={**os.environ, "PYDAPR_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,
            )
        runner = Runner(popen, out_path, err_path)
        runners.append(runner)
        return runner

    try:
        yield start
    finally:
        for runner in runners:
            pids = runner.seen_pids | set(descendants(runner.popen.pid))
            if runner.popen.poll() is None:
                runner.popen.kill()
                runner.popen.wait(10)
            for pid in pids:
                for kill in (os.killpg, os.kill):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        kill(pid, signal.SIGKILL)
        # The local control plane `pydapr run` started in this home.
        stop_control_plane(home)


@pytest.fixture
def app_script(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(APP)
    return path


def _ordered(lines: list[str], *expected: str) -> None:
    """Each expected text appears in some line, in this order."""
    at = 0
    for text in expected:
        for i in range(at, len(lines)):
            if text in lines[i]:
                at = i + 1
                break
        else:
            raise AssertionError(f"{text!r} not found (in order) in:\n" + "\n".join(lines))


def _env_line(runner: Runner) -> dict[str, str]:
    for line in runner.out.splitlines():
        if line.startswith("ENV "):  # unprefixed: single-app mode passes app output through as is
            return dict(json.loads(line[4:]))
    raise AssertionError(f"the app printed no env:\n{runner.out}")


def test_app_exit_0_stops_the_sidecar_and_exits_0(pydapr_run: StartRun, app_script: Path) -> None:
    runner = pydapr_run("-a", "quick", "--", sys.executable, str(app_script), "exit0")
    assert runner.wait() == 0, runner.out + runner.err
    _ordered(
        runner.lines(),
        "Starting Dapr with id quick. HTTP Port: ",
        UP,
        "Exited App successfully",
        "Exited Dapr successfully",
    )
    assert "error" not in runner.err.lower()


def test_app_failing_is_reported_and_exit_1(pydapr_run: StartRun, app_script: Path) -> None:
    runner = pydapr_run("-a", "failing", "--", sys.executable, str(app_script), "exit3")
    assert runner.wait() == 1
    assert "The App process exited with error code: 3" in runner.err
    # stdout and stderr are separate files here, so order is checked within stdout only.
    _ordered(runner.out.splitlines(), UP, "Exited Dapr successfully")


def test_env_reaches_the_app(pydapr_run: StartRun, app_script: Path) -> None:
    http_port, app_port = free_port(), free_port()
    runner = pydapr_run(
        "-a",
        "envapp",
        "-H",
        str(http_port),
        "-p",
        str(app_port),
        "-P",
        "grpc",
        "--",
        sys.executable,
        str(app_script),
        "exit0",
        env={"DAPR_API_TOKEN": "secret-token", "APP_API_TOKEN": "app-token"},
    )
    assert runner.wait() == 0, runner.out + runner.err
    env = _env_line(runner)
    assert env["APP_ID"] == "envapp"
    assert env["APP_PORT"] == str(app_port)
    assert env["APP_PROTOCOL"] == "grpc"
    assert env["APP_CHANNEL_ADDRESS"] == "127.0.0.1"
    assert env["DAPR_HTTP_PORT"] == str(http_port)
    assert env["DAPR_API_TOKEN"] == "secret-token"
    assert env["APP_API_TOKEN"] == "app-token"
    ports = {env["DAPR_HTTP_PORT"], env["DAPR_GRPC_PORT"], env["DAPR_METRICS_PORT"], env["APP_PORT"]}
    assert len(ports) == 4, env  # never one port for two listeners
    assert f"Starting Dapr with id envapp. HTTP Port: {http_port}. gRPC Port: {env['DAPR_GRPC_PORT']}" in (
        runner.out
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_app_and_sidecar_leaving_no_process(
    pydapr_run: StartRun, app_script: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    pid_file = tmp_path / "pids.json"
    runner = pydapr_run("-a", "longrun", "--", sys.executable, str(app_script), "run", str(pid_file))
    runner.wait_for(UP)
    runner.wait_for("APP RUNNING")
    pids = json.loads(pid_file.read_text())
    children = descendants(runner.popen.pid)
    assert pids["app"] in children and pids["grandchild"] in children
    sidecars = [p for p in children if p not in pids.values()]
    assert sidecars, "the sidecar is a child of pydapr run"

    os.kill(runner.popen.pid, sig)
    assert runner.wait() == 0, runner.out + runner.err
    _ordered(runner.lines(), UP, "Exited App successfully", "Exited Dapr successfully")
    left = [pid for pid in [*children, pids["grandchild"]] if alive(pid)]
    assert left == [], f"processes left behind: {left}"


def test_app_ignoring_sigterm_is_killed_after_5s(
    pydapr_run: StartRun, app_script: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids.json"
    runner = pydapr_run("-a", "stubborn", "--", sys.executable, str(app_script), "ignore-term", str(pid_file))
    runner.wait_for("APP RUNNING")
    app_pid = json.loads(pid_file.read_text())["app"]
    started = time.monotonic()
    os.kill(runner.popen.pid, signal.SIGINT)
    assert runner.wait() == 0, runner.out + runner.err
    elapsed = time.monotonic() - started
    assert 4.5 <= elapsed < 12, elapsed
    assert not alive(app_pid)
    _ordered(runner.lines(), "Exited App successfully", "Exited Dapr successfully")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_runner_killed_with_sigkill_takes_app_and_sidecar_along(
    pydapr_run: StartRun, app_script: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids.json"
    runner = pydapr_run("-a", "abandoned", "--", sys.executable, str(app_script), "run", str(pid_file))
    runner.wait_for("APP RUNNING")
    pids = json.loads(pid_file.read_text())
    children = descendants(runner.popen.pid)
    os.kill(runner.popen.pid, signal.SIGKILL)
    runner.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in children if p != pids["grandchild"]):
        time.sleep(0.1)
    # The app and the sidecar get SIGTERM when the runner dies; the app's own children are its business.
    assert [p for p in children if p != pids["grandchild"] and alive(p)] == []


def test_sidecar_exit_stops_the_app_and_exits_1(
    pydapr_run: StartRun, app_script: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids.json"
    runner = pydapr_run("-a", "orphaned", "--", sys.executable, str(app_script), "run", str(pid_file))
    runner.wait_for("APP RUNNING")
    pids = json.loads(pid_file.read_text())
    sidecar = next(p for p in descendants(runner.popen.pid) if p not in pids.values())
    os.kill(sidecar, signal.SIGKILL)
    assert runner.wait() == 1
    assert "The daprd process terminated by signal: SIGKILL" in runner.err
    assert "Exited App successfully" in runner.out
    assert not alive(pids["app"]) and not alive(pids["grandchild"])


def test_given_port_taken_is_one_clear_line_and_exit_1(
    pydapr_run: StartRun, app_script: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pids.json"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = pydapr_run(
            "-a", "x", "-G", str(port), "--", sys.executable, str(app_script), "run", str(marker)
        )
        assert runner.wait() == 1
    assert runner.err.strip().splitlines() == [
        f"❌  invalid configuration for GRPCPort. Port {port} is not available"
    ]
    assert "Starting Dapr" not in runner.out
    assert not marker.exists()


def test_sidecar_failing_at_start_shows_its_error_and_exit_1(
    pydapr_run: StartRun, app_script: Path, tmp_path: Path
) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "bad.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: store\n"
        "spec:\n  type: state.nosuch\n  version: v1\n"
    )
    marker = tmp_path / "pids.json"
    runner = pydapr_run(
        "-a",
        "broken",
        "--resources-path",
        str(resources),
        "--",
        sys.executable,
        str(app_script),
        "run",
        str(marker),
    )
    assert runner.wait() == 1
    assert "fatal" in runner.err and "store" in runner.err, runner.err
    assert "The daprd process exited with error code: 1" in runner.err
    assert UP not in runner.out
    assert not marker.exists(), "the app must not start when the sidecar failed"


def test_sidecar_only_runs_until_signal(pydapr_run: StartRun) -> None:
    http_port = free_port()
    runner = pydapr_run("-a", "lonely", "-H", str(http_port))
    runner.wait_for("You're up and running! Dapr logs will appear here.")
    assert "WARNING: no application command found." in runner.out
    assert http_status(f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound") == 204
    os.kill(runner.popen.pid, signal.SIGINT)
    assert runner.wait() == 0
    assert "Exited Dapr successfully" in runner.out
    assert http_status(f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound") is None


def test_run_file_with_two_apps(pydapr_run: StartRun, app_script: Path, tmp_path: Path) -> None:
    for name in ("orders", "checkout"):
        (tmp_path / name).mkdir()
    (tmp_path / "dapr.yaml").write_text(
        textwrap.dedent(
            f"""
            version: 1
            common:
              env:
                APP_SHARED: from-common
            apps:
              - appDirPath: ./orders/
                command: ["{sys.executable}", "{app_script}", "run", "pids-orders.json"]
              - appID: checkout
                appDirPath: ./checkout/
                appPort: {free_port()}
                env:
                  APP_SHARED: from-app
                command: ["{sys.executable}", "{app_script}", "run", "pids-checkout.json"]
            """
        )
    )
    runner = pydapr_run("-f", str(tmp_path), env={"PYTHONUNBUFFERED": "1"})
    runner.wait_for("== APP - orders == APP RUNNING")
    runner.wait_for("== APP - checkout == APP RUNNING")
    runner.wait_for('Started Dapr with app id "checkout"')
    assert "== DAPR - orders == " in runner.out and "== DAPR - checkout == " in runner.out
    envs = {}
    for line in runner.out.splitlines():
        for app in ("orders", "checkout"):
            if line.startswith(f"== APP - {app} == ENV "):
                envs[app] = json.loads(line.split(" ENV ", 1)[1])
    assert envs["orders"]["APP_ID"] == "orders"  # from the folder's name
    assert envs["checkout"]["APP_ID"] == "checkout"
    assert envs["orders"]["APP_SHARED"] == "from-common"
    assert envs["checkout"]["APP_SHARED"] == "from-app"  # an app's env wins over common's
    assert envs["orders"]["DAPR_HTTP_PORT"] != envs["checkout"]["DAPR_HTTP_PORT"]
    pids = [json.loads((tmp_path / app / f"pids-{app}.json").read_text()) for app in ("orders", "checkout")]
    children = descendants(runner.popen.pid)
    assert len([p for p in children if p not in {v for d in pids for v in d.values()}]) == 2  # sidecars

    os.kill(runner.popen.pid, signal.SIGINT)
    assert runner.wait() == 0, runner.out + runner.err
    assert "== APP - orders == ✅  Exited App successfully" in runner.out
    assert "== DAPR - checkout == ✅  Exited Dapr successfully" in runner.out
    left = [p for p in [*children, *(d["grandchild"] for d in pids)] if alive(p)]
    assert left == []
    logs = sorted(p.name.split("_")[1] for p in (tmp_path / "orders" / ".dapr" / "logs").iterdir())
    assert logs == ["app", "daprd"]


def test_sdk_apps_call_each_other_through_the_sidecars_pydapr_run_started(
    pydapr_run: StartRun, tmp_path: Path
) -> None:
    """The env pydapr run sets is all the official SDK needs: the caller's DaprClient finds its sidecar."""
    app = Path(__file__).parent / "apps" / "http_app.py"
    ports = {"caller": free_port(), "callee": free_port()}
    apps = ""
    for name, port in ports.items():
        (tmp_path / name).mkdir()
        apps += f'  - appDirPath: {name}\n    appPort: {port}\n    command: ["{sys.executable}", "{app}"]\n'
    (tmp_path / "dapr.yaml").write_text("version: 1\napps:\n" + apps)
    runner = pydapr_run("-f", "dapr.yaml")
    runner.wait_for('Started Dapr with app id "callee"')
    for protocol in ("http", "grpc"):
        url = f"http://127.0.0.1:{ports['caller']}/relay?target=callee&method=echo/hi&protocol={protocol}"
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    reply = json.loads(resp.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert json.loads(reply["body"])["app"] == "callee", reply
    _callee_takes_only_mtls(tmp_path / "home", tmp_path)
    os.kill(runner.popen.pid, signal.SIGINT)
    assert runner.wait() == 0, runner.out + runner.err
    daprd_log = next((tmp_path / "callee" / ".dapr" / "logs").glob("*daprd*")).read_text()
    assert "mTLS on (spiffe://public/ns/default/callee)" in daprd_log


def _callee_takes_only_mtls(home: Path, tmp: Path) -> None:
    """pydapr run's sidecars speak mTLS by default (the control plane runs Sentry): the callee's
    internal port takes a certificate of its CA and refuses a raw client without one, with a
    foreign CA's, or with an expired one."""
    import datetime as dt

    from pydapr.security.ca import CertificateAuthority
    from pydapr.security.spiffe import SpiffeId, dns_name
    from tests.e2e.tls_clients import client_context, signed_client_cert, tls_get

    port = json.loads(next((home / "registry" / "default" / "callee").glob("*.json")).read_text())[
        "internalPort"
    ]
    ca = CertificateAuthority.load(home / "sentry")
    anchors, name = ca.trust_anchors_pem, dns_name("default", "callee")
    me = SpiffeId("public", "default", "caller")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    good = signed_client_cert(ca, me, not_after=later)
    assert tls_get(port, client_context(anchors, *good, tmp), name).startswith("ok ")
    assert tls_get(port, client_context(anchors), name).startswith(("closed", "failed"))
    foreign = CertificateAuthority.generate("public", SpiffeId("public", "default", "dapr-sentry"))
    bad = signed_client_cert(foreign, me, not_after=later)
    assert tls_get(port, client_context(anchors, *bad, tmp), name).startswith(("closed", "failed"))
    expired = signed_client_cert(ca, me, not_after=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    assert tls_get(port, client_context(anchors, *expired, tmp), name).startswith(("closed", "failed"))


def _in_process_run(cfg: RunConfig, out: io.StringIO, ports: PortAllocator) -> AppRun:
    """A runner's AppRun in this process, its lines and the sidecar's into ``out``."""
    console = Console(out=out, err=out)
    return AppRun(cfg, console, sidecar_sink=LineSink(f"== DAPR - {cfg.app_id} == ", out), ports=ports)


async def _stopped(run: AppRun) -> None:
    try:
        await run.stop_sidecar()
    finally:
        run.kill()


async def test_a_picked_port_taken_before_the_sidecar_binds_it_is_picked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race seen under parallel tests: pydapr picks a free port, another process binds it before
    the sidecar does. The runner notices, picks a new one and starts the sidecar once more."""
    monkeypatch.setenv("PYDAPR_HOME", str(tmp_path))
    cfg = RunConfig(app_id="racer", placement_host_address="")
    cfg.validate()
    ports = assign_ports([cfg])
    lost = cfg.dapr_grpc_port
    out = io.StringIO()
    run = _in_process_run(cfg, out, ports)
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", lost))
        thief.listen()
        try:
            assert await run.start(asyncio.Event()), out.getvalue()
            assert not run.failed
            new = cfg.dapr_grpc_port
            assert new != lost and new not in (cfg.dapr_http_port, cfg.metrics_port)
            _ordered(
                out.getvalue().splitlines(),
                f"cannot listen on port {lost} for the Dapr gRPC API: address already in use",
                f"Port {lost} for the Dapr gRPC API was taken by another process before Dapr listened on "
                f"it; starting Dapr again with port {new}",
                f"Starting Dapr with id racer. HTTP Port: {cfg.dapr_http_port}. gRPC Port: {new}",
                "== DAPR - racer == Dapr sidecar is up and running.",
            )
            assert "The daprd process" not in out.getvalue()  # the first try is no failure to report
            assert http_status(f"http://127.0.0.1:{cfg.dapr_http_port}/v1.0/healthz/outbound") == 204
            with socket.create_connection(("127.0.0.1", new), timeout=2):
                pass  # the sidecar's gRPC API listens on the new port
        finally:
            await _stopped(run)
    assert run.sidecar is not None and not alive(run.sidecar.pid)


async def test_a_given_port_taken_before_the_sidecar_binds_it_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port the user named is never moved: taken between the check and the sidecar's bind, it
    fails the start as a port taken at the check does."""
    monkeypatch.setenv("PYDAPR_HOME", str(tmp_path))
    given = free_port()
    cfg = RunConfig(app_id="stubborn", dapr_grpc_port=given, placement_host_address="")
    cfg.validate()
    ports = assign_ports([cfg])
    out = io.StringIO()
    run = _in_process_run(cfg, out, ports)
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", given))
        thief.listen()
        try:
            assert not await run.start(asyncio.Event())
        finally:
            await _stopped(run)
    assert run.failed and cfg.dapr_grpc_port == given
    assert f"cannot listen on port {given} for the Dapr gRPC API: address already in use" in out.getvalue()
    assert "The daprd process exited with error code: 1" in out.getvalue()
    assert "starting Dapr again" not in out.getvalue()
