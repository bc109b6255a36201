"""The ``dapr``-style commands against real ``pydapr run`` processes: what a user sees, exit codes.

One home for the module (``pydapr init``: default resources and the control plane), one app
(``cli-orders``, a stdlib HTTP app that answers calls, subscribes to ``orders`` and logs) and one bare
sidecar (``cli-bare``); the tests that stop things start their own apps.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

UP = "You're up and running!"
INFO = "\u2139\ufe0f  "  # the info symbol dapr prints
LIST_KEYS = [
    "appId",
    "httpPort",
    "grpcPort",
    "appPort",
    "metricsEnabled",
    "command",
    "age",
    "created",
    "daprdPid",
    "cliPid",
    "appPid",
    "maxRequestBodySize",
    "httpReadBufferSize",
    "runTemplatePath",
    "appLogPath",
    "daprdLogPath",
    "runTemplateName",
]

# The app: answers /neworder (echo) and /fail (500), subscribes to "orders" on "pubsub" and writes
# each event it gets to the file named by its first argument, and prints a line at start.
APP = textwrap.dedent(
    """
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    events = sys.argv[1]

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status, body=b"", ctype="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/dapr/subscribe":
                subs = [{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]
                self._send(200, json.dumps(subs).encode())
            elif self.path == "/fail":
                self._send(500, b"failed on purpose", "text/plain")
            elif self.path == "/dapr/config":
                self._send(404)
            else:
                self._send(200, json.dumps({"verb": "GET", "path": self.path}).encode())

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/orders":
                with open(events, "a") as f:
                    f.write(body.decode() + "\\n")
                self._send(200, b'{"status": "SUCCESS"}')
            elif self.path == "/empty":
                self._send(204)
            else:
                reply = {"verb": "POST", "path": self.path, "body": body.decode(),
                         "contentType": self.headers.get("Content-Type")}
                self._send(200, json.dumps(reply).encode())

        def log_message(self, *args):
            pass

    print("CLI TEST APP STARTED " + os.environ["APP_ID"], flush=True)
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler).serve_forever()
    """
)


@dataclass
class Started:
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


class Env:
    """The module's home and every process its tests start (all ended at teardown)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.app = root / "app.py"
        self.app.write_text(APP)
        self.started: list[Started] = []

    def env(self, home: Path | None = None) -> dict[str, str]:
        return {**os.environ, "PYDAPR_HOME": str(home or self.home), "PYTHONUNBUFFERED": "1"}

    def cli(
        self, *args: str, home: Path | None = None, cwd: Path | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pydapr", *args],
            env=self.env(home),
            cwd=cwd or self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def spawn(self, name: str, argv: list[str], cwd: Path | None = None) -> Started:
        log = self.root / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                cwd=cwd or self.root,
                start_new_session=True,
            )
        started = Started(popen, log)
        self.started.append(started)
        return started

    def run_app(self, app_id: str, *, with_app: bool = True) -> Started:
        argv = [sys.executable, "-m", "pydapr", "run", "-a", app_id, "-H", str(free_port())]
        if with_app:
            argv += ["-p", str(free_port()), "--", sys.executable, str(self.app), str(self.events(app_id))]
        started = self.spawn(f"run-{app_id}", argv)
        wait_for(lambda: UP in started.text(), 60, started)
        return started

    def bare_sidecar(self, app_id: str) -> Started:
        http_port = free_port()
        argv = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", app_id, "-H", str(http_port)]
        argv += ["-G", str(free_port()), "-M", str(free_port())]
        started = self.spawn(f"sidecar-{app_id}", argv)
        wait_for(lambda: app_id in self.ids(), 60, started)
        return started

    def events(self, app_id: str) -> Path:
        return self.root / f"events-{app_id}.txt"

    def listed(self) -> list[dict[str, object]]:
        result = self.cli("list", "-o", "json")
        assert result.returncode == 0, result.stderr
        rows: list[dict[str, object]] = json.loads(result.stdout)
        return rows

    def ids(self) -> list[str]:
        return [str(row["appId"]) for row in self.listed()]

    def row(self, app_id: str) -> dict[str, object]:
        return next(row for row in self.listed() if row["appId"] == app_id)

    def close(self) -> None:
        for started in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(started.popen.pid, signal.SIGTERM)
        for started in reversed(self.started):
            try:
                started.popen.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(started.popen.pid, signal.SIGKILL)
                started.popen.wait(5)
        from pydapr.controlplane import stop

        for home in self.root.glob("**/control-plane.lock"):
            stop(home.parent)


def wait_for(check: object, timeout: float, proc: Started | None = None) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.popen.poll() is not None:
            raise AssertionError(f"exited with {proc.popen.returncode}:\n{proc.text()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s" + (f":\n{proc.text()[-4000:]}" if proc else ""))
        time.sleep(0.1)


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("cli"))
    try:
        result = e.cli("init")
        assert result.returncode == 0, result.stdout + result.stderr
        e.run_app("cli-orders")
        e.bare_sidecar("cli-bare")
        yield e
    finally:
        e.close()


# --- list ---------------------------------------------------------------------------------------


def test_list_json_has_daprs_keys_and_the_runs_pids(env: Env) -> None:
    rows = {row["appId"]: row for row in env.listed()}
    assert {"cli-orders", "cli-bare"} <= set(rows)
    for row in rows.values():
        assert list(row) == LIST_KEYS
    orders, bare = rows["cli-orders"], rows["cli-bare"]
    runner = env.started[0].popen.pid
    assert orders["cliPid"] == runner
    assert running(int(str(orders["daprdPid"]))) and running(int(str(orders["appPid"])))
    assert str(orders["command"]).startswith(sys.executable[:17])  # truncated to 20, as dapr
    assert len(str(orders["command"])) == 20 and str(orders["command"]).endswith("...")
    assert orders["appPort"] != 0 and orders["metricsEnabled"] is True
    assert orders["maxRequestBodySize"] == 4 << 20 and orders["httpReadBufferSize"] == 4096
    assert re.fullmatch(r"\d+[smhd]", str(orders["age"]))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d\.\d\d", str(orders["created"]))
    # A bare sidecar has no runner: no CLI or app pid, no command.
    assert bare["cliPid"] == 0 and bare["appPid"] == 0 and bare["command"] == ""
    assert bare["daprdPid"] == env.started[1].popen.pid


def test_list_table_and_yaml(env: Env) -> None:
    result = env.cli("list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "APP ID",
        "HTTP PORT",
        "GRPC PORT",
        "APP PORT",
        "COMMAND",
        "AGE",
        "CREATED",
        "DAPRD PID",
        "CLI PID",
        "APP PID",
    ]  # the run-file columns are blank in every row, so left out, as dapr does
    bare_line = next(line for line in lines if line.startswith("cli-bare "))
    assert str(env.row("cli-bare")["httpPort"]) in bare_line.split()
    parsed = yaml.safe_load(env.cli("list", "-o", "yaml").stdout)
    assert sorted(row["appId"] for row in parsed) == sorted(env.ids())
    assert list(parsed[0]) == LIST_KEYS


def test_list_with_nothing_running_and_a_bad_format(env: Env) -> None:
    empty = env.root / "empty-home"
    empty.mkdir()
    result = env.cli("list", home=empty)
    assert (result.returncode, result.stdout) == (0, "No Dapr instances found.\n")
    result = env.cli("list", "-o", "json", home=empty)
    assert (result.returncode, json.loads(result.stdout)) == (0, [])
    result = env.cli("list", "-o", "xml")
    assert result.returncode == 1
    assert result.stderr == "❌  An invalid output format was specified.\n"


def test_a_run_on_a_taken_port_fails_and_is_not_listed(env: Env) -> None:
    taken = int(str(env.row("cli-bare")["httpPort"]))
    result = env.cli("run", "-a", "cli-clash", "-H", str(taken), timeout=60)
    assert result.returncode == 1
    assert f"Port {taken} is not available" in result.stdout + result.stderr
    assert "cli-clash" not in env.ids()


# --- invoke and publish -------------------------------------------------------------------------


def test_invoke_posts_data_and_prints_the_answer(env: Env) -> None:
    result = env.cli("invoke", "--app-id", "cli-orders", "--method", "neworder", "--data", '{"id": 7}')
    assert result.returncode == 0, result.stderr
    answer, success = result.stdout.splitlines()
    assert json.loads(answer) == {
        "verb": "POST",
        "path": "/neworder",
        "body": '{"id": 7}',
        "contentType": "application/json",
    }
    assert success == "✅  App invoked successfully"


def test_invoke_with_a_verb_a_data_file_and_an_empty_answer(env: Env) -> None:
    result = env.cli("invoke", "-a", "cli-orders", "-m", "items/3?x=1", "--verb", "GET")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0]) == {"verb": "GET", "path": "/items/3?x=1"}
    data = env.root / "payload.json"
    data.write_text('{"from": "file"}')
    result = env.cli("invoke", "-a", "cli-orders", "-m", "neworder", "--data-file", str(data))
    assert json.loads(result.stdout.splitlines()[0])["body"] == '{"from": "file"}'
    result = env.cli("invoke", "-a", "cli-orders", "-m", "empty")
    assert (result.returncode, result.stdout) == (0, "✅  App invoked successfully\n")


def test_invoke_errors(env: Env) -> None:
    result = env.cli("invoke", "-a", "cli-nobody", "-m", "neworder")
    assert result.returncode == 1
    assert result.stderr == "❌  error invoking app cli-nobody: app ID cli-nobody not found\n"
    result = env.cli("invoke", "-a", "cli-orders", "-m", "fail", "-v", "GET")
    assert result.returncode == 1
    assert result.stderr == "❌  error invoking app cli-orders: 500 Internal Server Error\n"
    result = env.cli("invoke", "-a", "cli-orders", "-m", "x", "-d", "{}", "-f", "payload.json")
    assert result.returncode == 1
    assert result.stderr == "❌  Only one of --data and --data-file allowed in the same invoke command\n"
    result = env.cli("invoke", "-a", "cli-orders", "-m", "x", "-f", "missing.json")
    assert result.returncode == 1
    assert result.stderr.startswith("❌  Error reading payload from 'missing.json'. Error: ")
    result = env.cli("invoke", "-a", "cli-orders")
    assert result.returncode == 2 and "Missing option '--method'" in result.stderr


def test_publish_reaches_the_subscriber(env: Env) -> None:
    result = env.cli(
        "publish", "--publish-app-id", "cli-orders", "--pubsub", "pubsub", "--topic", "orders",
        "--data", '{"order": 1}', "--metadata", '{"ttlInSeconds": "60"}',
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "✅  Event published successfully\n"), result.stderr
    events = env.events("cli-orders")
    wait_for(lambda: events.exists() and '"order":1' in events.read_text(), 20)
    event = json.loads(events.read_text().splitlines()[-1])
    assert event["data"] == {"order": 1} and event["topic"] == "orders"  # wrapped in a CloudEvent


def test_publish_errors(env: Env) -> None:
    base = ["publish", "-i", "cli-orders", "-p", "pubsub", "-t", "orders"]
    result = env.cli("publish", "-i", "cli-nobody", "-p", "pubsub", "-t", "orders", "-d", "{}")
    assert result.returncode == 1
    assert result.stderr == "❌  Error publishing topic orders: couldn't find a running Dapr instance\n"
    result = env.cli("publish", "-i", "cli-orders", "-p", "nopubsub", "-t", "orders", "-d", "{}")
    assert result.returncode == 1
    unexpected = r"unexpected status code \d{3} on publishing to orders in nopubsub"
    assert re.fullmatch(f"❌  Error publishing topic orders: {unexpected}\n", result.stderr)
    result = env.cli(*base, "-d", "{}", "-f", "x.json")
    assert result.returncode == 1
    assert result.stderr == "❌  Only one of --data and --data-file allowed in the same publish command\n"
    result = env.cli(*base, "-m", "not json")
    assert result.returncode == 1 and result.stderr.startswith("❌  Error parsing metadata as JSON. Error: ")
    result = env.cli("publish", "-i", "cli-orders", "-t", "orders")
    assert result.returncode == 2 and "Missing option '--pubsub'" in result.stderr


def test_invoke_and_publish_through_a_unix_socket(env: Env) -> None:
    sockets = Path(tempfile.mkdtemp(prefix="cli-uds-", dir="/tmp"))  # short: socket paths are limited
    try:
        argv = [sys.executable, "-m", "pydapr", "run", "-a", "cli-uds", "-u", str(sockets)]
        argv += ["-p", str(free_port()), "--", sys.executable, str(env.app), str(env.events("cli-uds"))]
        started = env.spawn("run-cli-uds", argv)
        wait_for(lambda: UP in started.text(), 60, started)
        assert (sockets / "dapr-http-cli-uds.socket").exists()
        for extra in ([], ["-u", str(sockets)]):
            result = env.cli("invoke", "-a", "cli-uds", "-m", "neworder", "-d", '"hi"', *extra)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout.splitlines()[-2])["body"] == '"hi"'
        assert result.stdout.splitlines()[0] == "⚠  Unix domain sockets are currently a preview feature"
        result = env.cli("publish", "-i", "cli-uds", "-p", "pubsub", "-t", "orders", "-d", '{"via": "uds"}')
        assert result.returncode == 0, result.stderr
        events = env.events("cli-uds")
        wait_for(lambda: events.exists() and '"via":"uds"' in events.read_text(), 20)
        assert env.cli("stop", "-a", "cli-uds").returncode == 0
        assert started.popen.wait(10) == 0
    finally:
        shutil.rmtree(sockets, ignore_errors=True)


# --- stop ---------------------------------------------------------------------------------------


def test_stop_ends_the_runner_its_app_and_its_sidecar(env: Env) -> None:
    started = env.run_app("cli-stop-me")
    row = env.row("cli-stop-me")
    pids = [int(str(row[k])) for k in ("cliPid", "daprdPid", "appPid")]
    assert pids[0] == started.popen.pid and all(running(p) for p in pids)
    result = env.cli("stop", "--app-id", "cli-stop-me")
    assert (result.returncode, result.stdout) == (0, "✅  app stopped successfully: cli-stop-me\n")
    assert started.popen.wait(5) == 0  # the runner ended as on Ctrl-C
    assert [p for p in pids if running(p)] == []
    assert "cli-stop-me" not in env.ids()


def test_stop_several_ids_a_bare_sidecar_and_an_unknown_id(env: Env) -> None:
    run = env.run_app("cli-stop-a", with_app=False)
    bare = env.bare_sidecar("cli-stop-b")
    result = env.cli("stop", "-a", "cli-stop-a", "--app-id", "cli-stop-b", "-a", "cli-nobody")
    # dapr reports an unknown id and carries on, exit code 0 (pkg/standalone/stop.go, cmd/stop.go).
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "✅  app stopped successfully: cli-stop-a",
        "✅  app stopped successfully: cli-stop-b",
    ]
    assert result.stderr == "❌  failed to stop app id cli-nobody: couldn't find app id cli-nobody\n"
    assert run.popen.wait(5) == 0
    assert bare.popen.wait(5) is not None and not running(bare.popen.pid)
    assert {"cli-stop-a", "cli-stop-b"}.isdisjoint(env.ids())


def test_stop_and_logs_of_a_run_file(env: Env) -> None:
    folder = env.root / "multi"
    folder.mkdir()
    run_file = folder / "dapr.yaml"
    run_file.write_text(
        "version: 1\napps:\n"
        + "".join(
            f"  - appID: {app_id}\n    appDirPath: .\n    appPort: {free_port()}\n"
            f"    daprHTTPPort: {free_port()}\n"
            f"    command: [{json.dumps(sys.executable)}, {json.dumps(str(env.app))}, 'events.txt']\n"
            for app_id in ("cli-multi-1", "cli-multi-2")
        )
    )
    started = env.spawn("run-file", [sys.executable, "-m", "pydapr", "run", "-f", str(run_file)], cwd=folder)
    wait_for(lambda: {"cli-multi-1", "cli-multi-2"} <= set(env.ids()), 90, started)
    rows = [env.row("cli-multi-1"), env.row("cli-multi-2")]
    assert {row["runTemplatePath"] for row in rows} == {str(run_file)}
    assert {row["cliPid"] for row in rows} == {started.popen.pid}

    wait_for(
        lambda: (
            "CLI TEST APP STARTED cli-multi-2"
            in env.cli("logs", "-a", "cli-multi-2", "-f", str(folder)).stdout
        ),
        20,
    )
    result = env.cli("logs", "--app-id", "cli-multi-1", "--run-file", str(run_file))
    assert result.returncode == 0 and "CLI TEST APP STARTED cli-multi-1" in result.stdout
    assert "CLI TEST APP STARTED cli-multi-2" not in result.stdout
    result = env.cli("logs", "-a", "cli-multi-1", "-f", str(run_file), "--sidecar")
    assert result.returncode == 0 and "dapr initialized" in result.stdout
    result = env.cli("logs", "-a", "cli-nobody", "-f", str(run_file))
    assert (result.returncode, result.stderr) == (1, f"❌  app id cli-nobody is not in {run_file}\n")

    pids = [int(str(row[k])) for row in rows for k in ("daprdPid", "appPid")]
    # One app of the two by id: its sidecar and its app end, the runner and the other app stay.
    result = env.cli("stop", "-a", "cli-multi-1")
    assert (result.returncode, result.stdout) == (0, "✅  app stopped successfully: cli-multi-1\n")
    assert [p for p in pids[:2] if running(p)] == []
    assert started.popen.poll() is None and env.ids().count("cli-multi-2") == 1
    assert "cli-multi-1" not in env.ids() and all(running(p) for p in pids[2:])
    result = env.cli("stop", "-f", str(folder))
    assert (result.returncode, result.stdout) == (0, "✅  Dapr and app processes stopped successfully\n")
    # Ended (its exit code counts the app stopped by id, a SIGTERM it did not send, as a failure).
    assert started.popen.wait(5) is not None
    assert [p for p in pids if running(p)] == []
    # The log files outlive the apps: the newest of each app, found through the run file.
    result = env.cli("logs", "-a", "cli-multi-2", "-f", str(run_file))
    assert result.returncode == 0 and "CLI TEST APP STARTED cli-multi-2" in result.stdout
    result = env.cli("stop", "-f", str(run_file))
    assert result.stderr == (
        f'❌  Failed to stop Dapr and app processes: couldn\'t find apps with run file "{run_file}"\n'
    )
    result = env.cli("stop", "-f", str(env.root / "nowhere.yaml"))
    assert result.returncode == 1 and result.stderr.startswith("❌  Failed to get run file path: ")


# --- version, status, uninstall, init, completion -------------------------------------------------


def test_version(env: Env) -> None:
    from pydapr import DAPR_COMPAT_VERSION, __version__

    result = env.cli("version")
    assert result.stdout == f"CLI version: {__version__} \nRuntime version: {DAPR_COMPAT_VERSION}\n"
    result = env.cli("version", "-o", "json")
    assert json.loads(result.stdout) == {"Cli version": __version__, "Runtime version": DAPR_COMPAT_VERSION}
    result = env.cli("version", "-o", "yaml")
    assert (result.returncode, result.stderr) == (1, "❌  An invalid output format was specified.\n")


def test_status_of_the_running_control_plane(env: Env) -> None:
    result = env.cli("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "HEALTHY", "STATUS", "ADDRESS", "VERSION", "AGE", "CREATED"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["sentry", "True", "Running"],
        ["placement", "True", "Running"],
        ["scheduler", "True", "Running"],
    ]
    rows = json.loads(env.cli("status", "-o", "json").stdout)
    assert [row["name"] for row in rows] == ["sentry", "placement", "scheduler"]
    assert set(rows[0]) == {"name", "healthy", "status", "address", "version", "age", "created", "pid"}


def test_init_slim_status_uninstall(env: Env) -> None:
    home = env.root / "other-home"
    result = env.cli("init", "--slim", "--runtime-version", "1.14.0", home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "⚠  pydapr has one runtime, which implements Dapr 1.16.0; --runtime-version 1.14.0 is not installed"
    )
    assert (home / "components" / "statestore.yaml").is_file() and (home / "config.yaml").is_file()
    result = env.cli("status", home=home)  # --slim started no control plane
    assert result.returncode == 1
    assert result.stderr == (
        f"❌  The local control plane is not running for {home}. "
        "Start it with `pydapr init` (or any `pydapr run`).\n"
    )
    result = env.cli("init", home=home)
    assert result.returncode == 0 and "kept existing: " in result.stdout
    assert "The local control plane is running (pid" in result.stdout
    assert env.cli("status", home=home).returncode == 0
    pid = json.loads((home / "control-plane.json").read_text())["pid"]

    result = env.cli("uninstall", home=home)
    assert (result.returncode, result.stdout.splitlines()) == (
        0,
        [
            f"{INFO}Removing Dapr from your machine...",
            f"{INFO}Stopping the local control plane (pid {pid})",
            "✅  Dapr has been removed successfully",
        ],
    )
    assert not running(pid) and (home / "components").is_dir()  # without --all the files stay
    result = env.cli("uninstall", "--all", home=home)
    assert result.stdout.splitlines() == [
        f"{INFO}Removing Dapr from your machine...",
        "⚠  WARNING: the local control plane is not running",
        f"{INFO}Removing directory: {home}",
        "✅  Dapr has been removed successfully",
    ]
    assert not home.exists()


def test_uninstall_all_refuses_a_folder_that_is_not_a_pydapr_home(env: Env) -> None:
    folder = env.root / "not-a-home"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    result = env.cli("uninstall", "--all", home=folder)
    assert result.returncode == 1
    assert (
        result.stderr
        == f"❌  Error removing Dapr: {folder} does not look like a pydapr home; not removing it\n"
    )
    assert (folder / "precious.txt").read_text() == "keep me"


def test_init_from_dir(env: Env) -> None:
    bundle = env.root / "bundle"
    (bundle / "components").mkdir(parents=True)
    (bundle / "components" / "mystore.yaml").write_text("kind: Component\n")
    (bundle / "config.yaml").write_text("kind: Configuration\n")
    home = env.root / "from-dir-home"
    result = env.cli("init", "--slim", "--from-dir", str(bundle), home=home)
    assert result.returncode == 0, result.stderr
    assert (home / "components" / "mystore.yaml").read_text() == "kind: Component\n"
    assert (home / "config.yaml").read_text() == "kind: Configuration\n"
    assert not (home / "components" / "statestore.yaml").exists()
    result = env.cli("init", "--from-dir", str(env.root / "no-such-dir"), home=home)
    assert result.returncode == 1 and "is not a folder" in result.stderr


def test_completion_scripts_complete_commands(env: Env) -> None:
    for shell, marker in (
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef pydapr"),
        ("fish", "complete"),
    ):
        result = env.cli("completion", shell)
        assert result.returncode == 0 and marker in result.stdout
        assert f"_PYDAPR_COMPLETE={shell}_complete" in result.stdout
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "pydapr")],  # the entry point: its name drives completion
        env={**env.env(), "_PYDAPR_COMPLETE": "bash_complete", "COMP_WORDS": "pydapr st", "COMP_CWORD": "1"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.stdout.split() == ["plain,status", "plain,stop"]
    assert env.cli("completion", "powershell").returncode == 2


def _stop_on_a_terminal(env: Env, app_id: str, no_color: bool) -> str:
    """``pydapr stop`` with a terminal as its stdout: everything it drew there."""
    master, replica = os.openpty()
    extra = {"NO_COLOR": "1"} if no_color else {}
    environ = {k: v for k, v in env.env().items() if k != "NO_COLOR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pydapr", "stop", "-a", app_id],
        env={**environ, **extra},
        stdout=replica,
        stderr=replica,
        stdin=subprocess.DEVNULL,
    )
    os.close(replica)
    drawn = b""
    with contextlib.suppress(OSError):  # EIO once the command has exited and closed the terminal
        while chunk := os.read(master, 4096):
            drawn += chunk
    os.close(master)
    assert proc.wait(30) == 0
    return drawn.decode(errors="replace")


def test_stop_draws_progress_on_a_terminal_only_without_no_color(env: Env) -> None:
    env.run_app("cli-tty-1")
    drawn = _stop_on_a_terminal(env, "cli-tty-1", no_color=False)
    assert "Stopping app cli-tty-1..." in drawn and "\033[36m" in drawn
    assert drawn.endswith("✅  app stopped successfully: cli-tty-1\r\n")
    env.run_app("cli-tty-2")
    drawn = _stop_on_a_terminal(env, "cli-tty-2", no_color=True)
    assert drawn == "✅  app stopped successfully: cli-tty-2\r\n"
