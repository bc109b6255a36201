"""The local registry: sidecars on one machine find each other through a folder of small files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pydapr.nameresolution import ResolveError, create_resolver
from pydapr.nameresolution.base import Address, Registration
from pydapr.nameresolution.local import LocalRegistry


def _registry(root: Path) -> LocalRegistry:
    resolver = create_resolver("mdns", {"registryPath": str(root)})
    assert isinstance(resolver, LocalRegistry)
    return resolver


async def test_register_resolve_unregister(tmp_path: Path) -> None:
    mine = _registry(tmp_path)
    other = _registry(tmp_path)
    address = Address("127.0.0.1", 50002, 50001, 3500)
    await mine.register(Registration("orders", "default", address, os.getpid()))
    assert await other.resolve("orders", "default") == address
    with pytest.raises(ResolveError, match="couldn't find service: payments"):
        await other.resolve("payments", "default")
    with pytest.raises(ResolveError):
        await other.resolve("orders", "staging")  # namespaces are separate
    await mine.unregister()
    other.forget("orders", "default", address)
    with pytest.raises(ResolveError):
        await other.resolve("orders", "default")


@pytest.fixture
def dead_pid() -> int:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(dead.stdout)


async def test_entries_of_dead_processes_are_ignored_and_removed(tmp_path: Path, dead_pid: int) -> None:
    pid = dead_pid
    folder = tmp_path / "default" / "orders"
    folder.mkdir(parents=True)
    entry = folder / f"{pid}.json"
    entry.write_text(json.dumps({"host": "127.0.0.1", "internalPort": 1, "grpcPort": 2, "pid": pid}))
    with pytest.raises(ResolveError):
        await _registry(tmp_path).resolve("orders", "default")
    assert not entry.exists()


async def test_round_robin_and_forget(tmp_path: Path) -> None:
    a, b = Address("127.0.0.1", 1001, 2001), Address("127.0.0.1", 1002, 2002)
    first, second = _registry(tmp_path), _registry(tmp_path)
    await first.register(Registration("orders", "default", a, os.getpid()))
    # Two instances need two pids: the second entry names our parent process, which is alive.
    await second.register(Registration("orders", "default", b, os.getppid()))
    caller = _registry(tmp_path)
    seen = {await caller.resolve("orders", "default") for _ in range(4)}
    assert seen == {a, b}
    caller.forget("orders", "default", a)
    assert {await caller.resolve("orders", "default") for _ in range(4)} == {b}


def test_unknown_resolver_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"nameResolution\.component 'consul' is not supported"):
        create_resolver("consul", {})
