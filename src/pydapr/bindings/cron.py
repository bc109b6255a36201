"""``bindings.cron``: an input binding that fires on a schedule (components-contrib bindings/cron).

Metadata: ``schedule`` (required): 5 or 6 cron fields (seconds first when 6), ``@every 1h30m``,
``@daily`` and the other descriptors, optionally after ``TZ=Zone``. Each firing sends an event with
no data and the metadata ``timeZone`` and ``readTimeUTC``. A firing that is still being delivered
when the next one is due makes that one late rather than doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from pydapr.bindings.contract import EventHandler, InputBinding, ReadEvent
from pydapr.bindings.cron_schedule import Schedule, ScheduleError, parse_cron_binding_schedule
from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.jobs.schedule import local_zone

log = logging.getLogger("pydapr.bindings")


class CronBinding(InputBinding):
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        spec = metadata.get("schedule")
        if not spec:
            raise ComponentConfigError(metadata.name, "schedule", "is required (schedule not set)")
        try:
            self._schedule: Schedule = parse_cron_binding_schedule(spec)
        except ScheduleError as exc:
            raise ComponentConfigError(
                metadata.name, "schedule", f"invalid schedule format '{spec}': {exc}"
            ) from None
        self._zone = str(getattr(self._schedule, "zone", None) or local_zone())

    async def read(self, handler: EventHandler) -> None:
        self._task = asyncio.create_task(self._run(handler))

    async def _run(self, handler: EventHandler) -> None:
        due = self._schedule.next(datetime.now(UTC))
        while True:
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            now = datetime.now(UTC)
            event = ReadEvent(
                b"", {"timeZone": self._zone, "readTimeUTC": now.strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")}
            )
            try:
                await handler(event)
            except Exception as exc:
                log.warning("cron %s: event not delivered: %s", self.metadata.name, exc)
            due = self._schedule.next(max(due, datetime.now(UTC)))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
