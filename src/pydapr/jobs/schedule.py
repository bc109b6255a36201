"""Job schedules with Dapr's semantics: 6-field cron (seconds first), ``@every``, ``@hourly``...,
``dueTime``/``ttl`` as RFC 3339 times or durations, ``repeats``, and the next-trigger rule.

Follows dapr/kit ``cron`` (a robfig/cron fork) and diagridio/go-etcd-cron ``internal/scheduler``;
the one deliberate difference is that missed occurrences are coalesced (dapr#4500).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from pydapr.jobs.durations import parse_go_duration, parse_iso8601_duration

_SECOND = timedelta(seconds=1)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAMES = {n: i + 1 for i, n in enumerate(_MONTHS)}
_DOW_NAMES = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


class ScheduleError(ValueError):
    """The schedule, due time, ttl or repeats of a job is not valid."""


class Schedule(Protocol):
    def next(self, after: datetime) -> datetime:
        """The first activation strictly after ``after`` (aware datetimes)."""
        ...


def local_zone() -> tzinfo:
    """The scheduler host's zone: Dapr evaluates cron in the server's local time unless TZ= is given."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            target = str(Path("/etc/localtime").resolve())
        except OSError:
            target = ""
        name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


class EverySchedule(msgspec.Struct, frozen=True):
    """``@every <duration>`` (and a bare Go duration): a constant delay after the previous activation."""

    interval: timedelta

    def next(self, after: datetime) -> datetime:
        return after + self.interval


class _Field(msgspec.Struct, frozen=True):
    values: frozenset[int]
    star: bool


class CronSchedule(msgspec.Struct, frozen=True):
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: _Field
    months: frozenset[int]
    dow: _Field
    zone: tzinfo

    def _day_matches(self, t: datetime) -> bool:
        dom_ok = t.day in self.dom.values
        dow_ok = (t.weekday() + 1) % 7 in self.dow.values
        # robfig/cron: when either day field is a wildcard both must match, otherwise either may.
        if self.dom.star or self.dow.star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next(self, after: datetime) -> datetime:
        t = after.astimezone(self.zone).replace(tzinfo=None, microsecond=0) + _SECOND
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0)
                continue
            if not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if t.minute not in self.minutes:
                t = (t + timedelta(minutes=1)).replace(second=0)
                continue
            if t.second not in self.seconds:
                t += _SECOND
                continue
            aware = t.replace(tzinfo=self.zone)
            # A wall time skipped by a DST change does not exist; move on to the next candidate.
            if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != t or aware <= after:
                t += _SECOND
                continue
            return aware
        raise ScheduleError("cron schedule has no activation in the next five years")


def _number(text: str, names: dict[str, int] | None) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}")
    return int(text)


def _parse_field(field: str, lo: int, hi: int, names: dict[str, int] | None = None) -> _Field:
    values: set[int] = set()
    star = False
    for expr in (p for p in field.split(",") if p):
        range_part, _, step_part = expr.partition("/")
        if expr.count("/") > 1:
            raise ScheduleError(f"too many slashes: {expr}")
        bounds = range_part.split("-")
        is_star = range_part in ("*", "?")
        if is_star:
            start, end = lo, hi
        elif len(bounds) == 1:
            start = end = _number(bounds[0], names)
        elif len(bounds) == 2:
            start, end = _number(bounds[0], names), _number(bounds[1], names)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
        step = 1
        if step_part:
            step = _number(step_part, None)
            if len(bounds) == 1 and not is_star:
                end = hi  # "N/step" means "N-max/step"
        if start < lo:
            raise ScheduleError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
        if end > hi:
            raise ScheduleError(f"end of range ({end}) above maximum ({hi}): {expr}")
        if start > end:
            raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
        if step == 0:
            raise ScheduleError(f"step of range should be a positive number: {expr}")
        values.update(range(start, end + 1, step))
        star = star or (is_star and step == 1)
    if not values:
        raise ScheduleError(f"empty cron field {field!r}")
    return _Field(frozenset(values), star)


_DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}


def parse_schedule(spec: str) -> Schedule:
    """Parse a job's ``schedule``: cron with seconds, a descriptor, ``@every <d>`` or a Go duration."""
    text = spec.strip()
    if not text:
        raise ScheduleError("empty spec string")
    zone = local_zone()
    if text.startswith(("TZ=", "CRON_TZ=")):
        head, _, rest = text.partition(" ")
        if not rest.strip():
            raise ScheduleError(f"timezone prefix {text} is not followed by a schedule")
        try:
            zone = ZoneInfo(head.split("=", 1)[1])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ScheduleError(f"provided bad location {head.split('=', 1)[1]}: {exc}") from None
        text = rest.strip()
    if text.startswith("@every "):
        return EverySchedule(_positive_duration(text[len("@every ") :]))
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 6:
        try:
            return EverySchedule(_positive_duration(text))
        except ScheduleError:
            pass
        raise ScheduleError(f"expected exactly 6 fields, found {len(fields)}: {fields}")
    return CronSchedule(
        seconds=_parse_field(fields[0], 0, 59).values,
        minutes=_parse_field(fields[1], 0, 59).values,
        hours=_parse_field(fields[2], 0, 23).values,
        dom=_parse_field(fields[3], 1, 31),
        months=_parse_field(fields[4], 1, 12, _MONTH_NAMES).values,
        dow=_parse_field(fields[5], 0, 6, _DOW_NAMES),
        zone=zone,
    )


def _positive_duration(text: str) -> timedelta:
    try:
        d = parse_go_duration(text)
    except ValueError as exc:
        raise ScheduleError(f"failed to parse duration {text}: {exc}") from None
    if d <= timedelta(0):
        raise ScheduleError(f"duration must be positive: {text}")
    return d


def parse_point_in_time(text: str, now: datetime) -> datetime:
    """``dueTime``/``ttl``: an RFC 3339 time, a Go duration or an ISO 8601 duration from ``now``."""
    s = text.strip()
    try:
        when = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        pass
    else:
        if "T" in s.upper() and when.tzinfo is not None:
            return when
    try:
        return now + parse_go_duration(s)
    except ValueError:
        pass
    try:
        return parse_iso8601_duration(s).add_to(now)
    except ValueError as exc:
        if "repeats" in str(exc):
            raise ScheduleError(str(exc)) from None
    raise ScheduleError(f"time format not recognized: {text}")


class Timing(msgspec.Struct, frozen=True):
    """When a job fires: validated once at schedule time, then evaluated at every trigger."""

    schedule: Schedule | None
    begin: datetime  # the due time (fires at it) or the creation time (fires after it)
    begin_is_due: bool
    expires: datetime | None
    repeats: int | None

    def first(self) -> datetime | None:
        if self.begin_is_due:
            return self.begin
        assert self.schedule is not None
        return self._within_ttl(self.schedule.next(self.begin))

    def after(self, count: int, last: datetime, now: datetime) -> datetime | None:
        """The next activation after ``count`` deliveries, the last one scheduled at ``last``.

        Occurrences missed while the app was away are coalesced: if the next one is already in
        the past it is replaced by the first one after ``now``, so a returning app gets one
        trigger, not one per missed occurrence (dapr#4500).
        """
        if self.schedule is None or (self.repeats is not None and count >= self.repeats):
            return None
        nxt = self.schedule.next(last)
        if nxt <= now:
            nxt = self.schedule.next(now)
        return self._within_ttl(nxt)

    def _within_ttl(self, when: datetime) -> datetime | None:
        return None if self.expires is not None and when > self.expires else when


def build_timing(
    *,
    schedule: str | None,
    due_time: str | None,
    ttl: str | None,
    repeats: int | None,
    now: datetime,
) -> Timing:
    """Validate a job's timing fields as Dapr's scheduler does (go-etcd-cron ``Builder.Parse``)."""
    if due_time is None and schedule is None:
        raise ScheduleError("job must have either a due time or a schedule")
    if schedule is None and repeats is not None and repeats > 1:
        raise ScheduleError("job must have a schedule to repeat")
    if repeats is not None and repeats < 1:
        raise ScheduleError("defined repeats must be greater than 0")
    if schedule is None and ttl is not None:
        raise ScheduleError("job must have a schedule to have a ttl")
    parsed = parse_schedule(schedule) if schedule is not None else None
    now = now.replace(microsecond=0)
    begin = now
    if due_time is not None:
        try:
            begin = parse_point_in_time(due_time, now)
        except ScheduleError:
            raise ScheduleError(f"due time format not recognized: {due_time}") from None
    expires = None
    if ttl is not None:
        try:
            expires = parse_point_in_time(ttl, begin)
        except ScheduleError:
            raise ScheduleError("ttl format not recognized") from None
        if due_time is not None and begin > expires:
            raise ScheduleError("ttl must be greater than due time")
    return Timing(parsed, begin, due_time is not None, expires, repeats)
