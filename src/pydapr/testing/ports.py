"""Free ports for test sidecars that never collide within a test run, across pytest-xdist workers too.

The kernel hands out a port that is free now; it is bound only later, by the sidecar. A port just
handed out may come back from the kernel before that (to this process, or to another xdist worker),
so every port given out is remembered: in this process, and, when ``record`` is given, in a file all
workers of the run share, under a lock.
"""

from __future__ import annotations

import fcntl
import socket
from pathlib import Path


class PortPicker:
    def __init__(self, record: Path | None = None) -> None:
        self.record = record
        self._given: set[int] = set()

    def pick(self) -> int:
        while True:
            port = _kernel_free_port()
            if port in self._given:
                continue
            self._given.add(port)
            if self.record is None or _claim(self.record, port):
                return port


def _kernel_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _claim(record: Path, port: int) -> bool:
    """Adds ``port`` to the shared record unless another process claimed it first."""
    with record.open("a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        if str(port) in f.read().split():
            return False
        f.write(f"{port}\n")
        return True
