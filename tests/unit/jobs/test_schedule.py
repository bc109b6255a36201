"""Schedule parsing against the examples in Dapr's jobs docs and go-etcd-cron's builder tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pydapr.jobs.durations import parse_go_duration, parse_iso8601_duration
from pydapr.jobs.schedule import (
    CronSchedule,
    EverySchedule,
    ScheduleError,
    build_timing,
    parse_point_in_time,
    parse_schedule,
)

T0 = datetime(2024, 4, 24, 11, 42, 22, tzinfo=UTC)


def cron(spec: str) -> CronSchedule:
    s = parse_schedule("TZ=UTC " + spec)
    assert isinstance(s, CronSchedule)
    return s


def test_docs_cron_half_past_every_hour() -> None:
    # Dapr docs: "0 30 * * * *" triggers every hour on the half hour.
    s = cron("0 30 * * * *")
    assert s.next(T0) == datetime(2024, 4, 24, 12, 30, tzinfo=UTC)
    assert s.next(datetime(2024, 4, 24, 12, 30, tzinfo=UTC)) == datetime(2024, 4, 24, 13, 30, tzinfo=UTC)


def test_docs_cron_every_day_at_0315() -> None:
    s = cron("0 15 3 * * *")
    assert s.next(T0) == datetime(2024, 4, 25, 3, 15, tzinfo=UTC)


def test_cron_seconds_field_and_steps() -> None:
    s = cron("*/10 * * * * *")
    assert s.next(T0) == datetime(2024, 4, 24, 11, 42, 30, tzinfo=UTC)
    assert cron("30 * * * * *").next(T0) == datetime(2024, 4, 24, 11, 42, 30, tzinfo=UTC)


def test_cron_ranges_lists_and_names() -> None:
    s = cron("0 30 3-6,20-23 * * *")  # Dapr cron binding docs example
    assert s.next(T0) == datetime(2024, 4, 24, 20, 30, tzinfo=UTC)
    weekday = cron("0 30 9 * * mon-fri")  # JS SDK docs: 09:30 on weekdays
    # 2024-04-26 is a Friday, the 27th a Saturday: the next one after Friday 10:00 is Monday.
    assert weekday.next(datetime(2024, 4, 26, 10, 0, tzinfo=UTC)) == datetime(2024, 4, 29, 9, 30, tzinfo=UTC)
    assert cron("0 0 0 1 jan *").next(T0) == datetime(2025, 1, 1, tzinfo=UTC)


def test_dom_and_dow_are_or_when_both_restricted() -> None:
    # robfig/cron semantics: the 1st of the month OR any Sunday.
    s = cron("0 0 0 1 * 0")
    assert s.next(T0) == datetime(2024, 4, 28, tzinfo=UTC)  # Sunday comes before May 1st


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        ("@yearly", datetime(2025, 1, 1, tzinfo=UTC)),
        ("@annually", datetime(2025, 1, 1, tzinfo=UTC)),
        ("@monthly", datetime(2024, 5, 1, tzinfo=UTC)),
        ("@weekly", datetime(2024, 4, 28, tzinfo=UTC)),
        ("@daily", datetime(2024, 4, 25, tzinfo=UTC)),
        ("@midnight", datetime(2024, 4, 25, tzinfo=UTC)),
        ("@hourly", datetime(2024, 4, 24, 12, tzinfo=UTC)),
    ],
)
def test_docs_period_descriptors(descriptor: str, expected: datetime) -> None:
    assert parse_schedule("TZ=UTC " + descriptor).next(T0) == expected


def test_docs_every_and_bare_durations() -> None:
    assert parse_schedule("@every 1h30m") == EverySchedule(timedelta(hours=1, minutes=30))
    assert parse_schedule("2h45m") == EverySchedule(timedelta(hours=2, minutes=45))  # docs example
    assert parse_schedule("37m25s") == EverySchedule(timedelta(minutes=37, seconds=25))
    assert parse_schedule("@every 500ms").next(T0) == T0 + timedelta(milliseconds=500)


def test_timezone_prefix() -> None:
    s = parse_schedule("CRON_TZ=America/New_York 0 30 04 * * *")
    assert s.next(T0) == datetime(2024, 4, 25, 4, 30, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "bad string",
        "* * * * *",
        "60 * * * * *",
        "0 0 24 * * *",
        "0 0 0 0 * *",
        "*/0 * * * * *",
        "@fortnightly",
        "@every nope",
        "@every -1s",
        "5-1 * * * * *",
        "TZ=Nowhere/Land 0 * * * * *",
    ],
)
def test_invalid_schedules_are_refused(bad: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(bad)


def test_go_durations() -> None:
    assert parse_go_duration("1h30m") == timedelta(minutes=90)
    assert parse_go_duration("1.5h") == timedelta(minutes=90)
    assert parse_go_duration("300ms") == timedelta(milliseconds=300)
    assert parse_go_duration("-2m3s") == -timedelta(minutes=2, seconds=3)
    assert parse_go_duration("0") == timedelta(0)
    for bad in ("", "1", "1d", "h", "1h-2m"):
        with pytest.raises(ValueError):
            parse_go_duration(bad)


def test_point_in_time_formats() -> None:
    # go-etcd-cron Test_parsePointInTime cases.
    assert parse_point_in_time("2024-04-24T11:42:22Z", T0) == T0
    docs_example = datetime(2025, 12, 9, 16, 9, 53, tzinfo=UTC)
    assert parse_point_in_time("2025-12-09T16:09:53+00:00", T0) == docs_example
    assert parse_point_in_time("10s", T0) == T0 + timedelta(seconds=10)
    assert parse_point_in_time("10ms", T0) == T0 + timedelta(milliseconds=10)
    assert parse_point_in_time("P1Y2M3DT4H5M6S", T0) == datetime(2025, 6, 27, 15, 47, 28, tzinfo=UTC)
    assert parse_iso8601_duration("PT1S").delta == timedelta(seconds=1)
    for bad in ("R3/P1Y2M3DT4H5M6S", "unsupported"):
        with pytest.raises(ScheduleError):
            parse_point_in_time(bad, T0)


def test_timing_rules_from_go_etcd_cron() -> None:
    due = "2024-04-24T11:42:22Z"
    with pytest.raises(ScheduleError):
        build_timing(schedule=None, due_time=None, ttl="1h", repeats=None, now=T0)
    with pytest.raises(ScheduleError):
        build_timing(schedule=None, due_time=due, ttl=None, repeats=3, now=T0)
    with pytest.raises(ScheduleError):
        build_timing(schedule=None, due_time=due, ttl="1h", repeats=None, now=T0)
    with pytest.raises(ScheduleError):
        build_timing(schedule="@every 1h", due_time=due, ttl=None, repeats=0, now=T0)
    with pytest.raises(ScheduleError, match="ttl must be greater"):
        build_timing(schedule="@every 1h", due_time=due, ttl="2024-04-24T11:42:21Z", repeats=None, now=T0)
    same = build_timing(schedule="@every 1h", due_time=due, ttl=due, repeats=None, now=T0)
    assert same.expires == T0
    t = build_timing(schedule="@every 1h", due_time=due, ttl="2h", repeats=100, now=T0)
    assert t.first() == T0 and t.expires == T0 + timedelta(hours=2)
    start = build_timing(schedule="@every 1h", due_time=None, ttl="2h", repeats=None, now=T0)
    assert start.first() == T0.replace(microsecond=0) + timedelta(hours=1)  # not at creation time


def test_repeats_and_ttl_end_a_job() -> None:
    t = build_timing(schedule="@every 1s", due_time=None, ttl=None, repeats=2, now=T0)
    first = t.first()
    assert first is not None
    second = t.after(1, first, first)
    assert second == first + timedelta(seconds=1)
    assert t.after(2, second, second) is None
    ttl = build_timing(schedule="@every 1h", due_time=None, ttl="90m", repeats=None, now=T0)
    one = ttl.first()
    assert one is not None and ttl.after(1, one, one) is None


def test_missed_occurrences_are_coalesced() -> None:
    # dapr#4500: a job that missed many occurrences fires once on return, then resumes its rhythm.
    t = build_timing(schedule="TZ=UTC * * * * * *", due_time=None, ttl=None, repeats=None, now=T0)
    first = t.first()
    assert first is not None
    back = first + timedelta(minutes=10, milliseconds=300)
    nxt = t.after(1, first, back)
    assert nxt == (back + timedelta(seconds=1)).replace(microsecond=0)
