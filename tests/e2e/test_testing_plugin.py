"""``pydapr.testing`` as an app's developer uses it: ``pytest -p pydapr.testing`` on their tests.

Each case runs pytest in a subprocess on real tests (the FastAPI example's, or a small suite written
here), then looks at every process on the machine: none that the run started may be left, whether
its tests passed, failed, could not start a sidecar, or pytest itself was killed. The fixtures
themselves must end their processes, not only the kernel when pytest exits (the children also get
SIGTERM when their parent dies): a small plugin in the inner run lists the children still running
when pytest is done, before it exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from pydapr.testing import App, SidecarConfig
from pydapr.testing.ports import PortPicker
from pydapr.testing.sidecar import SidecarStartError, start_sidecar

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fastapi_app"
# Below the suite's per-test timeout (120 s), so a stuck inner run fails with its own message.
RUN_TIMEOUT = 90.0
# Processes killed by a group SIGKILL may take a moment to be gone from /proc.
GONE_TIMEOUT = 15.0

# A small app for the suites below: the standard library's HTTP server on the port the plugin picks.
CONFTEST = textwrap.dedent(
    """
    import sys
    import pytest
    from pydapr.testing import App

    @pytest.fixture(scope="session")
    def dapr_app():
        return App([sys.executable, "-m", "http.server", "{app_port}", "--bind", "127.0.0.1"])
    """
)


# Loaded into the inner run with -p: at the very end of the run (every fixture torn down), the
# children of pytest that still run; on Linux a stopped child has been reaped and is gone from /proc.
LEAK_CHECK = textwrap.dedent(
    """
    import os
    from pathlib import Path

    def pytest_unconfigure(config):
        me = str(os.getpid())
        running = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if ppid == me and state != "Z":
                running.append((entry / "cmdline").read_bytes().replace(b"\\0", b" ").decode())
        Path(os.environ["PYDAPR_TESTING_LEAKS"]).write_text("\\n".join(running))
    """
)


class Run:
    """One inner pytest run; every process it starts inherits a mark in its environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.mark = f"PYDAPR_TESTING_RUN={uuid.uuid4().hex}"
        self.basetemp = tmp_path / "basetemp"
        # The outer run's own pytest(-xdist) variables must not leak into the inner run.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        name, value = self.mark.split("=")
        self.env[name] = value
        plugins = tmp_path / "plugins"
        plugins.mkdir()
        (plugins / "pydapr_leak_check.py").write_text(LEAK_CHECK)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))
        self.leaks = tmp_path / "leaks"
        self.env["PYDAPR_TESTING_LEAKS"] = str(self.leaks)

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pydapr.testing",
            "-p",
            "no:cacheprovider",
            "-p",
            "pydapr_leak_check",
            "-o",
            "timeout=60",
            f"--basetemp={self.basetemp}",
            *args,
        ]

    def pytest(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            check=False,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )

    def processes(self) -> dict[int, str]:
        """pid -> command line of every live process that carries this run's mark."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:  # gone meanwhile, or a zombie
                continue
            if self.mark.encode() in environ:
                found[int(entry.name)] = cmdline.decode(errors="replace")
        return found

    def running_when_pytest_was_done(self) -> list[str]:
        return self.leaks.read_text().splitlines()

    def left_behind(self) -> dict[int, str]:
        deadline = time.monotonic() + GONE_TIMEOUT
        while (found := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return found

    def kill_leftovers(self) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    r = Run(tmp_path)
    try:
        yield r
    finally:
        r.kill_leftovers()  # a failing assertion below must not leave processes to the next test


def _suite(tmp_path: Path, tests: str) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_inner.py").write_text(textwrap.dedent(tests))
    return suite


def test_the_fastapi_example_passes_and_leaves_no_process(run: Run) -> None:
    result = run.pytest("-q", cwd=EXAMPLE)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert run.running_when_pytest_was_done() == []
    assert run.left_behind() == {}
    # The sidecar and the app really ran, each with its log in the run's temp dir.
    (workdir,) = run.basetemp.glob("pydapr-sidecar[0-9]*")
    assert "sidecar ready: app id orders" in (workdir / "sidecar.log").read_text()
    assert "Uvicorn running on" in (workdir / "app.log").read_text()


def test_a_failing_test_still_ends_sidecar_and_app_and_shows_the_sidecar_log(
    run: Run, tmp_path: Path
) -> None:
    suite = _suite(
        tmp_path,
        """
        def test_saves(dapr_client):
            dapr_client.save_state("statestore", "k", "v")
            assert dapr_client.get_state("statestore", "k").data == b"v"

        def test_fails(dapr_client):
            assert dapr_client.get_state("statestore", "k").data == b"something else"
        """,
    )
    result = run.pytest("-q", cwd=suite)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "pydapr sidecar log (tail)" in result.stdout
    assert "sidecar ready: app id test-app" in result.stdout
    assert "pydapr app log (tail)" in result.stdout
    assert run.running_when_pytest_was_done() == []
    assert run.left_behind() == {}


def test_a_sidecar_that_cannot_start_fails_its_tests_with_its_error(run: Run, tmp_path: Path) -> None:
    resources = tmp_path / "components"
    resources.mkdir()
    (resources / "odd.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: odd\n"
        "spec:\n  type: state.nosuch\n  version: v1\n"
    )
    suite = _suite(tmp_path, "def test_uses_it(dapr_client):\n    pass\n")
    result = run.pytest("-q", f"--pydapr-resources={resources}", cwd=suite)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout
    assert "the sidecar exited (1)" in result.stdout
    assert "unknown component type state.nosuch/v1" in result.stdout
    assert run.running_when_pytest_was_done() == []
    assert run.left_behind() == {}


@pytest.mark.serial
def test_killing_pytest_ends_sidecar_and_app(run: Run, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    suite = _suite(
        tmp_path,
        f"""
        import time
        from pathlib import Path

        def test_held_until_killed(dapr_sidecar):
            Path({str(pids)!r}).write_text(f"{{dapr_sidecar.process.pid}} {{dapr_sidecar.app_process.pid}}")
            time.sleep(60)
        """,
    )
    inner = subprocess.Popen(
        run.argv("-q", "-s"),
        cwd=suite,
        env=run.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not (pids.exists() and pids.read_text()) and inner.poll() is None:
            assert time.monotonic() < deadline, "the inner test never started its sidecar"
            time.sleep(0.05)
        assert inner.poll() is None, "the inner pytest ended before it was killed"
        sidecar_pid, app_pid = map(int, pids.read_text().split())
        assert {sidecar_pid, app_pid} <= set(run.processes())

        inner.kill()
        inner.wait(10)

        assert run.left_behind() == {}
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait(10)


# Two test modules that each note which sidecar they got (its HTTP port and home) and in which
# pytest process (an xdist worker has its own).
_NOTE = """
import os
from pathlib import Path

def test_notes_its_sidecar(dapr_sidecar, dapr_client):
    dapr_client.save_state("statestore", "seen", "yes")
    line = f"{{dapr_sidecar.http_port}} {{dapr_sidecar.home}} {{os.getpid()}}\\n"
    with Path({notes!r}).open("a") as f:
        f.write(line)
"""


@pytest.mark.parametrize(
    ("args", "sidecars"),
    # xdist's load scheduling deals fewer tests than twice the workers round robin: one test each.
    [((), 1), (("--pydapr-scope=module",), 2), (("-n", "2", "--dist", "load"), 2)],
    ids=["session", "module", "xdist"],
)
def test_one_sidecar_per_session_module_or_xdist_worker(
    run: Run, tmp_path: Path, args: tuple[str, ...], sidecars: int
) -> None:
    notes = tmp_path / "notes"
    suite = _suite(tmp_path, _NOTE.format(notes=str(notes)))
    (suite / "test_other.py").write_text(_NOTE.format(notes=str(notes)))
    result = run.pytest("-q", *args, cwd=suite)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    seen = [line.split() for line in notes.read_text().splitlines()]
    ports = {port for port, _, _ in seen}
    homes = {home for _, home, _ in seen}
    workers = {pid for _, _, pid in seen}
    assert len(ports) == len(homes) == sidecars
    assert len(workers) == (2 if "-n" in args else 1)
    assert run.running_when_pytest_was_done() == []
    assert run.left_behind() == {}


def test_the_factory_starts_sidecars_that_call_each_other_and_end_with_the_test(
    run: Run, tmp_path: Path
) -> None:
    suite = _suite(
        tmp_path,
        """
        import sys
        import urllib.request
        from pydapr.testing import App

        def test_a_calls_b(dapr_sidecar_factory):
            server = App([sys.executable, "-m", "http.server", "{app_port}", "--bind", "127.0.0.1"])
            b = dapr_sidecar_factory(app_id="b", app=server)
            a = dapr_sidecar_factory(app_id="a")
            # b's app serves the files of its working directory: this suite's.
            url = f"{a.http_url}/v1.0/invoke/b/method/conftest.py"
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.status == 200
                assert b"def dapr_app" in answer.read()
            assert b.process.alive and a.process.alive
        """,
    )
    result = run.pytest("-q", cwd=suite)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert run.running_when_pytest_was_done() == []
    assert run.left_behind() == {}


class _FirstPortTaken(PortPicker):
    """Hands out, first, a port a listener of the test holds: the race of a port taken by someone
    else between being picked and being bound by the sidecar, made certain."""

    def __init__(self, taken: int) -> None:
        super().__init__()
        self.queue = [taken]

    def pick(self) -> int:
        return self.queue.pop() if self.queue else super().pick()


def test_a_port_taken_before_the_sidecar_binds_it_is_replaced(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        with start_sidecar(SidecarConfig(), tmp_path, _FirstPortTaken(taken)) as sidecar:
            assert sidecar.http_port != taken
            with urllib.request.urlopen(f"{sidecar.http_url}/v1.0/healthz/outbound", timeout=5) as answer:
                assert answer.status == 204
            process = sidecar.process
    assert not process.alive


async def test_the_async_client_reaches_the_sidecar(tmp_path: Path) -> None:
    with start_sidecar(SidecarConfig(), tmp_path) as sidecar:
        async with sidecar.async_client() as client:
            await client.save_state("statestore", "k", "async")
            assert (await client.get_state("statestore", "k")).data == b"async"


def _running_with(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (a sidecar names its resources folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if text in cmdline:
                    found.append(cmdline)
    return found


def test_an_app_that_exits_at_start_fails_the_start_with_its_output(tmp_path: Path) -> None:
    crashing = App([sys.executable, "-c", "import sys; print('no config found'); sys.exit(3)"])
    with pytest.raises(SidecarStartError) as failure, start_sidecar(SidecarConfig(app=crashing), tmp_path):
        pass
    assert "the app exited (3)" in str(failure.value)
    assert "no config found" in str(failure.value)
    assert "--- sidecar log ---" in str(failure.value)
    assert _running_with(str(tmp_path)) == []


def test_an_app_that_never_listens_fails_the_start_after_the_timeout_and_is_stopped(tmp_path: Path) -> None:
    pids = tmp_path / "pid"
    silent = App(
        [
            sys.executable,
            "-c",
            f"import os, time; open({str(pids)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
        ]
    )
    started = time.monotonic()
    # Each wait (the sidecar's outbound API, then the app) has the timeout: long enough for the
    # first on a busy machine, so it is the second that runs out.
    expected = r"GET /v1.0/healthz did not answer 204 within 8s"
    config = SidecarConfig(app=silent, startup_timeout=8)
    with pytest.raises(SidecarStartError, match=expected), start_sidecar(config, tmp_path):
        pass
    assert time.monotonic() - started < 30
    assert not Path(f"/proc/{pids.read_text()}").exists()
    assert _running_with(str(tmp_path)) == []
