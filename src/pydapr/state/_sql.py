"""What the SQL stores share: metadata helpers and the background sweep of expired rows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.state import codec

log = logging.getLogger("pydapr.state")


def table_name(meta: ComponentMetadata, key: str, default: str) -> str:
    name = meta.get(key) or default
    if not codec.is_identifier(name):
        raise ComponentConfigError(meta.name, key, f"{name!r} is not a valid table name (letters, digits, _)")
    return name


def duration(meta: ComponentMetadata, key: str, default: float) -> float:
    value = meta.get(key)
    if value is None or value == "":
        return default
    try:
        return codec.parse_duration(value)
    except ValueError:
        problem = f"must be a duration like 30s or 1h, got {value!r}"
        raise ComponentConfigError(meta.name, key, problem) from None


class ExpirySweeper:
    """Deletes expired rows every ``interval`` seconds (reads already skip them; this frees space)."""

    def __init__(self, name: str, sweep: Callable[[], Awaitable[None]], interval: float) -> None:
        self._name = name
        self._sweep = sweep
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name=f"state-sweep-{self._name}")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._sweep()
            except Exception:
                log.warning("state store %s: deleting expired rows failed", self._name, exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
