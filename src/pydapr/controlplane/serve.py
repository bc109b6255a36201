"""The control-plane process: hosts its services, publishes their addresses, stops on SIGTERM/SIGINT.

``detach()`` turns a freshly started ``serve --detach`` into a daemon: it forks once more, the
parent waits until the child is listening (or dies) and exits 0 (or 1), and the child, no session
leader and soon an orphan, serves on. The starter thus learns the outcome from an exit status,
and the control plane is nobody's child: no zombie when it stops, no signal from a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydapr.controlplane.services import Service
from pydapr.controlplane.state import SERVE_LOCK, ControlPlane, ControlPlaneError, remove_state, write_state

log = logging.getLogger("pydapr.controlplane")

READY = b"ready\n"


def detach() -> Callable[[], None]:
    """Forks; returns, in the child only, the function that reports readiness to the waiting parent.

    Call it before any thread exists (before grpc or asyncio start).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(w)

        def give_up(*_: object) -> None:  # killed while waiting (the starter gave up): take the child along
            _kill(pid)
            os._exit(1)

        signal.signal(signal.SIGTERM, give_up)
        got = b""
        while chunk := os.read(r, 64):
            got += chunk
        os._exit(0 if got == READY else 1)
    os.close(r)

    def ready() -> None:
        with contextlib.suppress(OSError):
            os.write(w, READY)
        with contextlib.suppress(OSError):
            os.close(w)

    return ready


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _lock_serving(home: Path) -> int:
    """Holds ``control-plane.serve.lock`` for this process's life: one control plane per home."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / SERVE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ControlPlaneError(f"another control plane already serves {home}") from None
    return fd


async def serve(home: Path, services: Sequence[Service], ready: Callable[[], None] | None = None) -> None:
    """Starts ``services``, writes ``control-plane.json``, serves until SIGTERM/SIGINT, then undoes it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lock_fd = _lock_serving(home)
    started: list[Service] = []
    pid = os.getpid()
    try:
        addresses: dict[str, str] = {}
        for service in services:
            addresses[service.name] = await service.start()
            started.append(service)
            log.info("%s listening on %s", service.name, addresses[service.name])
        cp = ControlPlane(pid, addresses, datetime.now(UTC).isoformat(timespec="seconds"), home)
        write_state(home, cp)
        log.info("control plane %d ready: %s", pid, ", ".join(f"{k} {v}" for k, v in addresses.items()))
        if ready is not None:
            ready()
        await stop.wait()
        log.info("control plane %d stopping", pid)
    finally:
        remove_state(home, pid)
        for service in reversed(started):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %s failed", service.name)
        os.close(lock_fd)
    log.info("control plane %d stopped", pid)
