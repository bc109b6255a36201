"""The control plane's files under the pydapr home, and what they say about a running control plane.

``control-plane.json`` is written by the serving process once every service listens, and removed by
it when it stops::

    {"pid": 4242, "started_at": "2024-05-01T10:00:00+00:00",
     "addresses": {"scheduler": "127.0.0.1:50006"}}

A control plane counts as running when that pid is alive and every address in the file accepts TCP
connections; anything else is a stale file.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "control-plane.json"
START_LOCK = "control-plane.lock"
SERVE_LOCK = "control-plane.serve.lock"
LOG_FILE = Path("logs") / "control-plane.log"


class ControlPlaneError(RuntimeError):
    """The control plane could not be started, or its files are unusable."""


@dataclass(frozen=True)
class ControlPlane:
    """A running local control plane: its process and where each of its services listens."""

    pid: int
    addresses: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    home: Path | None = None

    @property
    def scheduler_address(self) -> str:
        return self.addresses["scheduler"]

    @property
    def placement_address(self) -> str | None:
        return self.addresses.get("placement")

    @property
    def sentry_address(self) -> str | None:
        return self.addresses.get("sentry")

    @property
    def trust_anchors_file(self) -> Path | None:
        """The CA's trust anchors (PEM) sidecars need for mTLS with this control plane; None when
        it runs without Sentry (mTLS off)."""
        if self.sentry_address is None or self.home is None:
            return None
        return self.home / "sentry" / "ca.crt"

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "started_at": self.started_at, "addresses": dict(self.addresses)}

    @classmethod
    def from_json(cls, data: Any, home: Path | None = None) -> ControlPlane:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        pid, addresses = data.get("pid"), data.get("addresses")
        if not isinstance(pid, int) or pid <= 0:
            raise ValueError(f"bad pid {pid!r}")
        if not isinstance(addresses, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in addresses.items()
        ):
            raise ValueError(f"bad addresses {addresses!r}")
        return cls(pid, dict(addresses), str(data.get("started_at", "")), home)


def state_path(home: Path) -> Path:
    return home / STATE_FILE


def log_path(home: Path) -> Path:
    return home / LOG_FILE


def read_state(home: Path) -> ControlPlane | None:
    """The control plane the state file names, alive or not; None without a readable file."""
    try:
        text = state_path(home).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return ControlPlane.from_json(json.loads(text), home)
    except ValueError:  # a torn or hand-edited file is as good as none (JSONDecodeError is a ValueError)
        return None


def write_state(home: Path, cp: ControlPlane) -> None:
    """Writes the state file atomically: readers see the old file or the whole new one."""
    home.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".control-plane.", suffix=".tmp", dir=home)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(cp.to_json(), f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, state_path(home))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_state(home: Path, pid: int) -> None:
    """Removes the state file if it still names ``pid`` (never a newer control plane's file)."""
    current = read_state(home)
    if current is not None and current.pid != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        state_path(home).unlink()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, exited but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(0) is all we know
    # "pid (comm) S ..." -- comm may hold spaces and parentheses, the state follows the last ")".
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] not in ("Z", "X")


def accepts(address: str, timeout: float = 1.0) -> bool:
    """Whether ``host:port`` accepts a TCP connection."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def is_live(cp: ControlPlane) -> bool:
    return pid_alive(cp.pid) and bool(cp.addresses) and all(accepts(a) for a in cp.addresses.values())
