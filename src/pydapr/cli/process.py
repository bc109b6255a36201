"""Child processes of ``pydapr run``: spawned in their own process group, stopped as a group, output relayed.

Also the status lines ``dapr run`` prints (with its symbols) and the small HTTP probe used to wait for the
sidecar and to record run metadata on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

_PR_SET_PDEATHSIG = 1


class Console:
    """Status lines as ``dapr run`` prints them: a symbol and the message, or JSON with ``--log-as-json``."""

    _SYMBOLS = {"success": "✅  ", "failure": "❌  ", "warning": "⚠  ", "info": "\u2139\ufe0f  "}

    def __init__(self, as_json: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.as_json = as_json
        self._out = out
        self._err = err

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def format(self, status: str, message: str, stream: TextIO) -> str:
        if self.as_json:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            return json.dumps({"time": stamp, "status": status, "msg": message})
        symbol = self._SYMBOLS.get(status, "")
        # A terminal or file that cannot take the symbols still gets the message.
        encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "")
        return (symbol if encoding.startswith("utf") else "") + message

    def emit(self, status: str, message: str, stream: TextIO | None = None) -> None:
        stream = stream or (self.err if status == "failure" else self.out)
        stream.write(self.format(status, message, stream) + "\n")
        stream.flush()

    def info(self, message: str) -> None:
        self.emit("info", message)

    def success(self, message: str) -> None:
        self.emit("success", message)

    def warning(self, message: str) -> None:
        self.emit("warning", message)

    def failure(self, message: str) -> None:
        self.emit("failure", message)


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook that makes the child get SIGTERM if ``pydapr run`` itself is killed (Linux only).

    Process groups let us stop children cleanly; this covers the one case we cannot handle ourselves,
    ``kill -9`` of the runner, so a sidecar is never left orphaned.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the runner died between fork and prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


# SGR parameters of the colours apps of a run file get, in order: dapr's bright blue first (the colour
# of its APP lines), then hues far from it and from each other; red comes late as it reads as an error.
APP_COLOURS = ("94", "95", "96", "93", "92", "91", "34", "35", "36", "33", "32", "31")
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def colour_wanted(stream: TextIO) -> bool:
    """Colour only for a person at a terminal: never into a pipe or file, nor with NO_COLOR set
    (no-color.org) or TERM=dumb, as dapr's colour library decides."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def app_colour(index: int) -> str:
    """The colour of the ``index``-th app; they repeat only after a dozen apps."""
    return APP_COLOURS[index % len(APP_COLOURS)]


def without_colour(text: str) -> str:
    """``text`` without colour escapes: log files get plain lines, as dapr writes them."""
    return _SGR.sub("", text)


@dataclass
class LineSink:
    """Where a piped child's lines go: the console with a prefix, and/or a log file unprefixed.

    ``colour`` (SGR parameters, e.g. ``"94"``) paints the prefix only, so the line itself keeps the
    child's own colours; ``bold`` tells an app's prefix from its sidecar's in the same colour.
    """

    prefix: str
    console: TextIO | None
    log_file: IO[str] | None = None
    colour: str = ""
    bold: bool = False

    def shown_prefix(self) -> str:
        if not self.colour:
            return self.prefix
        sgr = ("1;" if self.bold else "") + self.colour
        return f"\x1b[{sgr}m{self.prefix.rstrip()}\x1b[0m "

    def write(self, line: str) -> None:
        if self.console is not None:
            self.console.write(self.shown_prefix() + line + "\n")
            self.console.flush()
        if self.log_file is not None:
            self.log_file.write(without_colour(line) + "\n")
            self.log_file.flush()


@dataclass
class Child:
    """One child process, leader of its own process group (so its own children are stopped with it)."""

    name: str
    proc: asyncio.subprocess.Process
    stop_requested: bool = False
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def signal_group(self, sig: int) -> bool:
        """Signal the whole group; False when no process of it is left."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            # A dying group can refuse signals briefly (seen on macOS); treat it as still there.
            return True
        return True

    async def wait(self) -> int:
        code = await self.proc.wait()
        return code

    async def stop(self, grace: float) -> int:
        """SIGTERM to the group, SIGKILL after ``grace`` seconds; returns the leader's exit code.

        The group is signalled even when the leader has already exited, since processes it started
        may still run in the group.
        """
        self.stop_requested = True
        if self.signal_group(signal.SIGTERM):
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if self.returncode is not None and not self._group_alive():
                    break
                await asyncio.sleep(0.05)
            else:
                self.signal_group(signal.SIGKILL)
        code = await self.proc.wait()
        await self.drain()
        return code

    def _group_alive(self) -> bool:
        """Whether a process of the group still runs; zombies do not count.

        An orphaned grandchild that exited stays a zombie until init reaps it, which some container
        inits do late or never; waiting for it would only delay the sidecar's stop.
        """
        if not self.signal_group(0):
            return False
        try:
            entries = os.listdir("/proc")
        except OSError:
            return True
        for name in entries:
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == self.pid and fields[0] not in ("Z", "X"):
                return True
        return False

    def kill(self) -> None:
        self.stop_requested = True
        self.signal_group(signal.SIGKILL)

    async def drain(self, timeout: float = 2.0) -> None:
        """Let output pumps finish; a grandchild still holding the pipe must not hang the runner."""
        if not self.pumps:
            return
        _, pending = await asyncio.wait(self.pumps, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    sink: LineSink | None = None,
    stdin_inherit: bool = False,
) -> Child:
    """Start ``argv`` in a new process group; output is inherited, or piped line by line to ``sink``.

    Raises OSError when the program cannot be started.
    """
    piped = sink is not None
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=cwd,
        stdin=None if stdin_inherit else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if piped else None,
        stderr=asyncio.subprocess.STDOUT if piped else None,
        # Own process group: the terminal's Ctrl-C reaches only the runner, which then stops the
        # children in order (app first, then the sidecar), and a group kill reaches grandchildren.
        process_group=0,
        preexec_fn=_parent_death_signal(),
    )
    child = Child(name, proc)
    if sink is not None and proc.stdout is not None:
        child.pumps.append(asyncio.create_task(_pump(proc.stdout, sink)))
    return child


async def _pump(stream: asyncio.StreamReader, sink: LineSink) -> None:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line longer than the reader's limit: pass what there is
            raw = await stream.read(64 * 1024)
        if not raw:
            return
        sink.write(raw.decode(errors="replace").rstrip("\r\n"))


def exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"terminated by signal: {signal.Signals(-code).name}"
        except ValueError:
            return f"terminated by signal: {-code}"
    return f"exited with error code: {code}"


async def http_request(
    method: str,
    path: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    unix_path: str | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> int | None:
    """One HTTP/1.1 request; the response status, or None if the server could not be reached."""
    try:
        async with asyncio.timeout(timeout):
            if unix_path is not None:
                reader, writer = await asyncio.open_unix_connection(unix_path)
            else:
                reader, writer = await asyncio.open_connection(host, port)
            try:
                lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close"]
                lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
                lines.append(f"Content-Length: {len(body)}")
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1])
