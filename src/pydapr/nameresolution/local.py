"""Finds sidecars on this machine through a folder of small JSON files, one per running sidecar.

Each sidecar writes ``<home>/registry/<namespace>/<app-id>/<pid>.json`` when it starts and removes
it when it stops; entries of processes that died without cleaning up are ignored (and removed).
Lookups are cached per app; the app's folder is looked at again (one stat) at most once a second,
and re-read only when it changed, so a resolve on the hot path is a dictionary lookup.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from pydapr.home import pydapr_home
from pydapr.nameresolution.base import Address, Registration, ResolveError

RECHECK_SECONDS = 1.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalRegistry:
    def __init__(self, configuration: dict[str, Any]) -> None:
        root = configuration.get("registryPath") if configuration else None
        self.root = Path(root) if root else pydapr_home() / "registry"
        self._own: Path | None = None
        self._cache: dict[Path, tuple[int, list[Address]]] = {}
        # (app id, namespace) -> (folder, when it was last looked at, its addresses)
        self._recent: dict[tuple[str, str], tuple[Path, float, list[Address]]] = {}
        self._rr = itertools.count()
        self._bad: set[Address] = set()

    def _app_dir(self, app_id: str, namespace: str) -> Path:
        return self.root / (namespace or "default") / app_id

    async def register(self, registration: Registration) -> None:
        folder = self._app_dir(registration.app_id, registration.namespace)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{registration.pid}.json"
        tmp = folder / f".{registration.pid}.tmp"
        a = registration.address
        tmp.write_text(
            json.dumps(
                {
                    "host": a.host,
                    "internalPort": a.internal_port,
                    "grpcPort": a.grpc_port,
                    "httpPort": a.http_port,
                    "internalGrpcPort": a.internal_grpc_port,
                    "pid": registration.pid,
                }
            )
        )
        os.replace(tmp, path)  # atomic: readers never see a half-written entry
        self._own = path

    async def unregister(self) -> None:
        if self._own is not None:
            with contextlib.suppress(FileNotFoundError):
                self._own.unlink()
            self._own = None

    def _read(self, folder: Path) -> list[Address]:
        try:
            mtime = folder.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        cached = self._cache.get(folder)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        addresses: list[Address] = []
        for entry in sorted(folder.glob("*.json")):
            try:
                data = json.loads(entry.read_text())
                pid = int(data["pid"])
            except (OSError, ValueError, KeyError):
                continue
            if not _alive(pid):
                with contextlib.suppress(OSError):
                    entry.unlink()
                continue
            addresses.append(
                Address(
                    host=str(data.get("host", "127.0.0.1")),
                    internal_port=int(data["internalPort"]),
                    grpc_port=int(data.get("grpcPort", 0)),
                    http_port=int(data.get("httpPort", 0)),
                    internal_grpc_port=int(data.get("internalGrpcPort", 0)),
                )
            )
        self._cache[folder] = (folder.stat().st_mtime_ns if folder.exists() else mtime, addresses)
        return addresses

    async def resolve(self, app_id: str, namespace: str) -> Address:
        now = time.monotonic()
        recent = self._recent.get((app_id, namespace))
        if recent is not None and now - recent[1] < RECHECK_SECONDS:
            addresses = recent[2]
        else:
            folder = recent[0] if recent is not None else self._app_dir(app_id, namespace)
            addresses = self._read(folder)
            if addresses:  # an app not found yet is looked for again on the next call
                self._recent[(app_id, namespace)] = (folder, now, addresses)
        # Most calls find no address forgotten: no filtering (an Address's hash is Python code).
        good = ([a for a in addresses if a not in self._bad] or addresses) if self._bad else addresses
        if not good:
            raise ResolveError(f"couldn't find service: {app_id}")
        return good[next(self._rr) % len(good)]

    def forget(self, app_id: str, namespace: str, address: Address) -> None:
        self._bad.add(address)
        self._cache.pop(self._app_dir(app_id, namespace), None)
        self._recent.pop((app_id, namespace), None)
