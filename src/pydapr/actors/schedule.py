"""When a timer fires: ``dueTime``, ``period`` and ``ttl`` as Dapr reads them (pkg/actors/api).

``dueTime`` and ``ttl`` are a Go duration (``1s``), an ISO 8601 duration (``PT1S``) or an RFC 3339
time; ``ttl`` counts from the first due time. ``period`` is a Go duration or an ISO 8601 duration,
optionally with repetitions (``R5/PT1S``: five fires in all). Times are wall-clock (UTC) seconds.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime

from pydapr.resources.durations import parse_duration, parse_iso8601_duration


@dataclass(frozen=True, slots=True)
class Period:
    years: int = 0
    months: int = 0
    seconds: float = 0.0  # days included
    repeats: int = -1  # fires in all; -1 = until deleted or expired

    @property
    def recurring(self) -> bool:
        return self.repeats != 0 and (self.years != 0 or self.months != 0 or self.seconds > 0)

    def following(self, when: float) -> float:
        if self.years or self.months:
            moment = datetime.fromtimestamp(when, UTC)
            index = moment.month - 1 + self.months + 12 * self.years
            year, month = moment.year + index // 12, index % 12 + 1
            day = min(moment.day, calendar.monthrange(year, month)[1])
            when = moment.replace(year=year, month=month, day=day).timestamp()
        return when + self.seconds


@dataclass(frozen=True, slots=True)
class Schedule:
    first: float  # wall-clock seconds of the first fire
    period: Period | None
    expires: float | None  # wall-clock seconds after which nothing fires


def parse_time(text: str, now: float) -> float:
    """A point in time: an RFC 3339 time, or a duration from ``now``."""
    try:
        return now + parse_duration(text)
    except ValueError:
        pass
    try:
        iso = parse_iso8601_duration(text)
    except ValueError:
        iso = None
    if iso is not None:
        if iso.repetitions != -1:
            raise ValueError(f"repetitions are not allowed in a time: {text!r}")
        return Period(iso.years, iso.months, iso.days * 86400 + iso.seconds).following(now)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"unsupported time/duration format {text!r}: use a duration (5s, PT5S) or an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"the time {text!r} has no time zone")
    return moment.timestamp()


def parse_period(text: str) -> Period | None:
    if not text:
        return None
    try:
        return Period(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        iso = parse_iso8601_duration(text)
    except ValueError:
        raise ValueError(f"unsupported duration format {text!r}") from None
    if iso.repetitions == 0:
        raise ValueError("has zero repetitions")
    return Period(iso.years, iso.months, iso.days * 86400 + iso.seconds, iso.repetitions)


def parse_schedule(due_time: str, period: str, ttl: str, now: float) -> Schedule:
    """Raises ValueError with Dapr's wording when a field cannot be read or the timer expired."""
    try:
        first = parse_time(due_time, now) if due_time else now
    except ValueError as exc:
        raise ValueError(f"error parsing timer due time: {exc}") from None
    try:
        every = parse_period(period)
    except ValueError as exc:
        raise ValueError(f"invalid timer period: {exc}") from None
    expires = None
    if ttl:
        try:
            expires = parse_time(ttl, first)
        except ValueError as exc:
            raise ValueError(f"error parsing timer TTL: {exc}") from None
        if now > expires or first > expires:
            raise ValueError(f"timer has already expired: dueTime: {due_time} TTL: {ttl}")
    return Schedule(first, every, expires)


def fire_times(schedule: Schedule, limit: int = 1_000_000):  # type: ignore[no-untyped-def]
    """The fire times in order (a generator; for tests and the timer task)."""
    when = schedule.first
    fired = 0
    period = schedule.period
    while fired < limit:
        if schedule.expires is not None and when > schedule.expires:
            return
        yield when
        fired += 1
        if period is None or not period.recurring:
            return
        if period.repeats > 0 and fired >= period.repeats:
            return
        when = period.following(when)
