"""When a job fires next, from what the jobs API returns about it (schedule, dueTime, ttl, repeats).

The API does not say when a job was created nor how often it has fired, so the next run is exact
only when the job's own fields fix it: a cron schedule (aligned to the clock), or an RFC 3339
``dueTime`` still ahead. An ``@every`` schedule or a relative ``dueTime`` counts from the job's
creation, which is not returned: for those the page says how far ahead the run can be at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydapr.jobs.schedule import EverySchedule, ScheduleError, parse_point_in_time, parse_schedule


@dataclass(frozen=True)
class NextRun:
    """``at``: the exact time; else ``within``: an upper bound from now; else ``note`` says why not."""

    at: datetime | None = None
    within: str = ""
    note: str = ""


def _absolute(due_time: str, now: datetime) -> datetime | None:
    """``dueTime`` as a point in time when it is one (RFC 3339), None when it is relative."""
    text = due_time.strip()
    if "T" not in text.upper():
        return None
    try:
        when = parse_point_in_time(text, now)
    except ScheduleError:
        return None
    return when if when.tzinfo is not None else None


def next_run(schedule: str, due_time: str, ttl: str, now: datetime) -> NextRun:
    """The next activation of a job with these fields ("" where a field is absent), seen at ``now``."""
    due = _absolute(due_time, now) if due_time else None
    if due is not None and due > now:
        return NextRun(at=due)
    if ttl:
        expires = _absolute(ttl, now)
        if expires is not None and expires <= now:
            return NextRun(note="expired (ttl)")
    if not schedule:
        if due is not None:
            return NextRun(note="fired (due time passed)")
        return NextRun(within=due_time, note="due time counts from the job's creation")
    try:
        parsed = parse_schedule(schedule)
    except ScheduleError as exc:
        return NextRun(note=f"bad schedule: {exc}")
    if isinstance(parsed, EverySchedule):
        if due_time and due is None:
            return NextRun(
                note="starts after its relative due time, then every " + _duration(parsed.interval)
            )
        return NextRun(within=_duration(parsed.interval), note="@every counts from the job's creation")
    try:
        at = parsed.next(now)
    except ScheduleError as exc:
        return NextRun(note=str(exc))
    # A relative due time delays the first cron activation by an amount counted from creation.
    return NextRun(at=at, note="once its relative due time has passed" if due_time and due is None else "")


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}m"
    return f"{delta.total_seconds():g}s"


def until(at: datetime, now: datetime) -> str:
    """``at`` from ``now`` as a short "in 1m 5s" (or "now" when it is due)."""
    seconds = int((at - now).total_seconds())
    if seconds <= 0:
        return "now"
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "in " + " ".join(parts[:2])
