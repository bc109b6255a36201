"""Dapr's actor time formats: the ``dueTime``, ``period`` and ``ttl`` of reminders and timers.

Follows dapr/kit ``time.ParseDuration`` / ``time.ParseTime`` and dapr/dapr ``pkg/actors/api``
(``period.go``, ``reminders.go`` ``setReminderTimes``). The values are kept as the user wrote them
by the callers; this module only turns them into instants and intervals.

- ``dueTime``: Go duration (``1s``, ``1h2m``, ``-1s`` = already due), ISO 8601 duration (``PT1S``,
  ``P1DT2H``; no ``R<n>/``) or an RFC 3339 time; empty means now.
- ``period``: Go duration, ISO 8601 duration, optionally with repetitions (``R5/PT1S`` fires five
  times in all, ``R2`` alone is two repetitions of nothing, that is one firing); empty, zero or
  repetitions-only periods fire once.
- ``ttl``: Go or ISO 8601 duration counted from the due time, or an RFC 3339 time.

One extension over daprd, which refuses them: a ``period`` may be a cron expression with seconds
(``*/10 * * * * *``), a descriptor (``@hourly``) or ``@every 1m``, as the jobs API writes them; a
cron reminder with no ``dueTime`` first fires at the expression's first tick, not at once.

One extension over dapr/kit, whose ISO parser takes whole numbers only: the seconds of an ISO
duration may have a fraction (``PT0.5S``), since Go durations (``500ms``) allow it anyway.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import msgspec

from pydapr.jobs.schedule import Schedule, ScheduleError, parse_schedule
from pydapr.resources.durations import parse_duration

__all__ = [
    "ActorTimes",
    "Period",
    "PeriodError",
    "parse_due_time",
    "parse_period",
    "parse_times",
    "parse_ttl",
]


class PeriodError(ValueError):
    """A ``dueTime``, ``period`` or ``ttl`` that Dapr would refuse; the message is Dapr's."""


class Period(msgspec.Struct, frozen=True):
    """A parsed ``period``. ``interval`` is in seconds (weeks and days count as 24 hours);
    ``months`` holds 12 * years + months, which have no fixed length; ``repeats`` is the number
    of firings in all (``R5/...``: 5), None for "until deleted or expired"."""

    value: str = ""
    interval: float = 0.0
    months: int = 0
    repeats: int | None = None
    cron: Schedule | None = None  # a cron expression or descriptor (the extension above)

    @property
    def recurring(self) -> bool:
        """Fires more than once (Dapr's ``ReminderPeriod.HasRepeats``)."""
        if self.cron is not None:
            return True
        return self.repeats not in (0, 1) and (self.months != 0 or self.interval > 0)

    def following(self, when: datetime) -> datetime:
        """The firing after one at ``when`` (Go's ``AddDate`` then ``Add``; cron: its next tick)."""
        if self.cron is not None:
            return self.cron.next(when)
        return _add_months(when, self.months) + timedelta(seconds=self.interval)


class ActorTimes(msgspec.Struct, frozen=True):
    """A reminder's or timer's timing, validated: first firing, period and end."""

    due: datetime
    period: Period
    expires: datetime | None

    def active(self, when: datetime) -> bool:
        """Whether a firing at ``when`` still happens: strictly before the ttl ends, as Dapr's
        ``Reminder.NextTick``."""
        return self.expires is None or when < self.expires


# ISO 8601 durations as dapr/kit reads them: optional "R<n>", then "/" and a P-body, or nothing.
_REPEATS = re.compile(r"R(?P<reps>[0-9]+)(?:/(?P<body>.*))?", re.S)
_ISO_BODY = re.compile(
    r"P(?:(?P<y>[0-9]+)Y)?(?:(?P<mo>[0-9]+)M)?(?:(?P<w>[0-9]+)W)?(?:(?P<d>[0-9]+)D)?"
    r"(?:T(?:(?P<h>[0-9]+)H)?(?:(?P<mi>[0-9]+)M)?(?:(?P<s>[0-9]+(?:\.[0-9]+)?)S)?)?"
)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


class _Iso(msgspec.Struct, frozen=True):
    months: int
    seconds: float
    repeats: int | None


def _parse_iso(text: str) -> _Iso | None:
    """The ISO 8601 reading of ``text``, or None when it is not one."""
    repeats: int | None = None
    body: str | None = text
    if text.startswith("R"):
        m = _REPEATS.fullmatch(text)
        if m is None:
            return None
        repeats = int(m.group("reps"))
        body = m.group("body")
        if not body:  # "R5" or "R5/": repetitions of nothing
            return _Iso(0, 0.0, repeats)
    assert body is not None
    m = _ISO_BODY.fullmatch(body)
    if m is None or body in ("P", "PT") or body.endswith("T"):
        return None
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    seconds = (
        (int(g.get("w", 0)) * 7 + int(g.get("d", 0))) * 86400
        + int(g.get("h", 0)) * 3600
        + int(g.get("mi", 0)) * 60
        + float(g.get("s", 0))
    )
    return _Iso(int(g.get("y", 0)) * 12 + int(g.get("mo", 0)), seconds, repeats)


def _go_duration(text: str) -> float | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def _rfc3339(text: str) -> datetime | None:
    if _RFC3339.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _add_months(when: datetime, months: int) -> datetime:
    if not months:
        return when
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    # Go normalises an overflowing day (Jan 31 + 1 month = Mar 3), so carry the day over.
    return when.replace(year=year, month=month, day=1) + timedelta(days=when.day - 1)


def _point_in_time(text: str, start: datetime) -> datetime:
    """dapr/kit ``ParseTime``: ISO 8601 duration, Go duration, then RFC 3339."""
    iso = _parse_iso(text)
    if iso is not None:
        if iso.repeats is not None:
            raise PeriodError("repetitions are not allowed")
        return _add_months(start, iso.months) + timedelta(seconds=iso.seconds)
    seconds = _go_duration(text)
    if seconds is not None:
        return start + timedelta(seconds=seconds)
    when = _rfc3339(text)
    if when is not None:
        return when
    raise PeriodError(f'unsupported time/duration format "{text}"')


def parse_due_time(text: str, now: datetime) -> datetime:
    """When a reminder or timer first fires; empty means ``now``."""
    return now if text == "" else _point_in_time(text, now)


def parse_period(text: str) -> Period:
    """A ``period``; empty fires once. Raises PeriodError with Dapr's message."""
    if text == "":
        return Period()
    iso = _parse_iso(text)
    if iso is not None:
        if iso.repeats == 0:
            raise PeriodError("parse error: has zero repetitions")
        return Period(text, iso.seconds, iso.months, iso.repeats)
    seconds = _go_duration(text)
    if seconds is None and (" " in text.strip() or text.startswith("@")):
        try:
            return Period(text, cron=parse_schedule(text))
        except ScheduleError as exc:
            raise PeriodError(f'parse error: invalid cron expression "{text}": {exc}') from None
    if seconds is None:
        raise PeriodError(f'parse error: unsupported duration format "{text}"')
    if seconds < 0:
        # dapr/kit parses it, and then nothing can fire it (the next firing lies in the past).
        raise PeriodError(f'parse error: negative period "{text}"')
    return Period(text, seconds)


def parse_ttl(text: str, start: datetime) -> datetime | None:
    """When a reminder or timer ends: a duration counted from ``start`` (its due time) or an
    RFC 3339 time; empty means never."""
    return None if text == "" else _point_in_time(text, start)


def parse_times(
    due_time: str,
    period: str,
    ttl: str,
    *,
    now: datetime | None = None,
    kind: str = "reminder",
    key: str = "",
) -> ActorTimes:
    """Validate a registration's three strings together, as daprd's ``setReminderTimes`` does.

    ``kind`` is "reminder" or "timer" and ``key`` is ``type||id||name``: both appear in the
    messages exactly where Dapr puts them. Raises PeriodError.
    """
    now = now or datetime.now(UTC)
    try:
        due = parse_due_time(due_time, now)
    except PeriodError as exc:
        raise PeriodError(f"error parsing {kind} due time: {exc}") from None
    try:
        parsed = parse_period(period)
    except PeriodError as exc:
        raise PeriodError(f"invalid {kind} period: {exc}") from None
    if parsed.cron is not None and due_time == "":
        due = parsed.cron.next(now)  # a cron schedule starts at its first tick
    expires = None
    if ttl != "":
        try:
            expires = parse_ttl(ttl, due)
        except PeriodError as exc:
            raise PeriodError(f"error parsing {kind} TTL: {exc}") from None
        assert expires is not None
        if now > expires or due > expires:
            raise PeriodError(f"{kind} {key} has already expired: dueTime: {_go_time(due)} TTL: {ttl}")
    return ActorTimes(due, parsed, expires)


def _go_time(when: datetime) -> str:
    """Go's ``time.Time.String()`` layout, as it appears in Dapr's "already expired" message."""
    text = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
    return f"{text} +0000 UTC"
