"""Port choice for ``pydapr run``: free ports for unset flags, and a check that given ports are free."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


class PortError(Exception):
    """A port the user asked for cannot be used; the message is the one line shown."""


def port_available(port: int) -> bool:
    """Whether a listener could bind ``port`` on every interface right now.

    SO_REUSEADDR keeps sockets in TIME_WAIT from counting as taken (the sidecar's own listeners set it
    too), while a live listener on any address still makes the bind fail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def _ephemeral_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PortAllocator:
    """Hands out ports so that no two listeners of one ``pydapr run`` ever share a port.

    ``claim`` checks and records a port the user chose; ``free`` picks an unused one. Both remember
    every port handed out, including app ports (which the app, not the sidecar, will listen on).
    """

    taken: set[int] = field(default_factory=set)

    def reserve(self, port: int) -> None:
        """Record a port someone else listens on (the app's own port): never handed out."""
        if port > 0:
            self.taken.add(port)

    def claim(self, port: int, name: str) -> int:
        if port in self.taken:
            raise PortError(
                f"invalid configuration for {name}. Port {port} is already given to another listener"
            )
        if not port_available(port):
            raise PortError(f"invalid configuration for {name}. Port {port} is not available")
        self.taken.add(port)
        return port

    def free(self) -> int:
        # The kernel may hand back a port we already gave out (it is not bound until the sidecar
        # starts), so ask again until it is new.
        for _ in range(100):
            port = _ephemeral_port()
            if port not in self.taken:
                self.taken.add(port)
                return port
        raise PortError("could not find a free port")

    def resolve(self, port: int | None, name: str) -> int:
        """The user's port if given (> 0), checked; else a free one."""
        if port is not None and port > 0:
            return self.claim(port, name)
        return self.free()
