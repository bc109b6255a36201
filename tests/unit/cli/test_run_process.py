"""Children of ``pydapr run``: a group stop reaches grandchildren; SIGKILL follows an ignored SIGTERM."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pydapr.cli.process import (
    Console,
    LineSink,
    app_colour,
    colour_wanted,
    exit_description,
    http_request,
    spawn,
    without_colour,
)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")


def _read(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


async def _pid_from(path: Path) -> int:
    for _ in range(200):
        if _read(path):
            return int(_read(path))
        await asyncio.sleep(0.02)
    raise AssertionError("no pid written")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
async def test_stop_reaches_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    child = await spawn("App", ["sh", "-c", script], env=dict(os.environ))
    grandchild = await _pid_from(pid_file)
    assert os.getpgid(child.pid) == child.pid != os.getpgid(0)  # its own group
    code = await child.stop(grace=5)
    assert code == -signal.SIGTERM
    for _ in range(100):
        if _gone(grandchild):
            break
        await asyncio.sleep(0.02)
    assert _gone(grandchild)


async def test_sigkill_after_grace_when_sigterm_is_ignored() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    out = io.StringIO()
    child = await spawn(
        "App", [sys.executable, "-c", code], env=dict(os.environ), sink=LineSink("== APP - a == ", out)
    )
    for _ in range(500):
        if "ready" in out.getvalue():
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    assert await child.stop(grace=0.5) == -signal.SIGKILL
    assert 0.4 < time.monotonic() - started < 5


async def test_piped_output_is_prefixed_and_logged(tmp_path: Path) -> None:
    out = io.StringIO()
    log = (tmp_path / "app.log").open("w")
    child = await spawn(
        "App",
        [sys.executable, "-c", "import sys; print('one'); print('two', file=sys.stderr)"],
        env=dict(os.environ),
        sink=LineSink("== APP - a == ", out, log),
    )
    assert await child.wait() == 0
    await child.drain()
    log.close()
    assert sorted(out.getvalue().splitlines()) == ["== APP - a == one", "== APP - a == two"]
    assert sorted((tmp_path / "app.log").read_text().splitlines()) == ["one", "two"]


async def test_spawn_of_a_missing_program_raises() -> None:
    with pytest.raises(OSError):
        await spawn("App", ["/nonexistent/program"], env={})


def test_exit_description() -> None:
    assert exit_description(3) == "exited with error code: 3"
    assert exit_description(-signal.SIGKILL) == "terminated by signal: SIGKILL"


def test_console_lines() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out=out, err=err)
    console.success("Exited App successfully")
    console.failure("The App process exited with error code: 1")
    # StringIO has no encoding: plain text, no symbols.
    assert out.getvalue() == "Exited App successfully\n"
    assert err.getvalue() == "The App process exited with error code: 1\n"
    json_out = io.StringIO()
    Console(as_json=True, out=json_out).info("hello")
    assert '"status": "info", "msg": "hello"' in json_out.getvalue()


async def test_http_request_to_nothing_is_none() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert await http_request("GET", "/v1.0/healthz/outbound", port=port, timeout=1) is None


async def test_http_request_status() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        status = b"204 No Content" if request.startswith(b"GET /ok ") else b"500 Internal Server Error"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert await http_request("GET", "/ok", port=port) == 204
        assert await http_request("PUT", "/v1.0/metadata/x", port=port, body=b"1") == 500


def test_a_coloured_prefix_on_the_console_and_plain_lines_in_the_log(tmp_path: Path) -> None:
    out = io.StringIO()
    with (tmp_path / "app.log").open("w") as log:
        LineSink("== APP - a == ", out, log, colour=app_colour(1), bold=True).write("\x1b[31mred\x1b[0m ok")
        LineSink("== DAPR - a == ", out, log, colour=app_colour(1)).write("ready")
    # The prefix is painted, the app's own colours pass through on the console...
    assert out.getvalue().splitlines() == [
        "\x1b[1;95m== APP - a ==\x1b[0m \x1b[31mred\x1b[0m ok",
        "\x1b[95m== DAPR - a ==\x1b[0m ready",
    ]
    # ...and the log file has neither, as dapr's log files.
    assert (tmp_path / "app.log").read_text().splitlines() == ["red ok", "ready"]
    assert without_colour(out.getvalue()) == "== APP - a == red ok\n== DAPR - a == ready\n"


def test_apps_get_distinct_colours_until_a_dozen() -> None:
    assert len({app_colour(i) for i in range(12)}) == 12
    assert app_colour(0) == "94"  # dapr's blue for the first app


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w") as tty:
            assert colour_wanted(tty)
            monkeypatch.setenv("NO_COLOR", "1")
            assert not colour_wanted(tty)
            monkeypatch.setenv("NO_COLOR", "")  # no-color.org: only a non-empty value counts
            assert colour_wanted(tty)
            monkeypatch.setenv("TERM", "dumb")
            assert not colour_wanted(tty)
    finally:
        os.close(master)
    monkeypatch.setenv("TERM", "xterm")
    assert not colour_wanted(io.StringIO())
    with (Path(os.devnull)).open("w") as devnull:
        assert not colour_wanted(devnull)
