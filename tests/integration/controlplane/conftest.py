"""Fixtures: a private pydapr home whose control plane is always stopped, leaving no process behind."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydapr.controlplane import stop


def serving_pids(home: Path) -> list[int]:
    """Pids of control-plane processes serving ``home`` (found by their command line)."""
    want = f"--home\0{home}\0".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if b"\0pydapr.cli.controlplane\0serve\0" in cmdline and want in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "pydapr-home"
    monkeypatch.setenv("PYDAPR_HOME", str(home))
    try:
        yield home
    finally:
        stop(home)
        for pid in serving_pids(home):  # only if a test broke the state file
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
