"""App health checks (``--enable-app-health-check``): probe the app, flip its health after N failures.

The app channel probes: HTTP apps with ``GET <path>`` (any 2xx is healthy), gRPC apps with
``AppCallbackHealthCheck.HealthCheck``. While the app is unhealthy, blocks that push work to it
(subscriptions, input bindings) can check ``healthy`` and hold deliveries back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydapr.appchannel import AppChannel
    from pydapr.sidecar.options import SidecarOptions

log = logging.getLogger("pydapr.apphealth")


class AppHealthChecker:
    def __init__(self, channel: AppChannel, options: SidecarOptions) -> None:
        self.channel = channel
        self.options = options
        self.healthy = True
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[bool], None]] = []

    def on_change(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def probe(self) -> bool:
        opts = self.options
        return await self.channel.health(opts.app_health_check_path, opts.app_health_probe_timeout)

    async def _loop(self) -> None:
        opts = self.options
        while True:
            ok = await self.probe()
            if ok:
                self._failures = 0
                self._set(True)
            else:
                self._failures += 1
                if self._failures >= opts.app_health_threshold:
                    self._set(False)
            await asyncio.sleep(opts.app_health_probe_interval)

    def _set(self, healthy: bool) -> None:
        if healthy == self.healthy:
            return
        self.healthy = healthy
        log.warning("app health changed: %s", "healthy" if healthy else "unhealthy")
        for listener in self._listeners:
            listener(healthy)
