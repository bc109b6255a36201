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

from pydapr.cli.process import Console, LineSink, exit_description, http_request, spawn


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
