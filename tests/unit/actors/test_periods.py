"""Actor dueTime / period / ttl parsing, on the cases of dapr/dapr pkg/actors/api period_test.go,
reminder_test.go and dapr/kit's ParseDuration / ParseTime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pydapr.actors.periods import Period, PeriodError, parse_due_time, parse_period, parse_times, parse_ttl

NOW = datetime(2026, 5, 14, 10, 30, 0, 800_000, tzinfo=UTC)
T1 = datetime(2023, 3, 7, 18, 29, 4, tzinfo=UTC)


# --- period_test.go TestReminderPeriod -------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "interval", "months", "repeats"),
    [
        ("", 0.0, 0, None),  # empty value: no recurrence
        ("2s", 2.0, 0, None),  # interval in Go format
        ("P2WT1M", 14 * 86400 + 60.0, 0, None),  # interval in ISO 8601 format
        ("R3/P2WT1M", 14 * 86400 + 60.0, 0, 3),  # ISO 8601 with repeats
        ("R2", 0.0, 0, 2),  # repeats only
        ("1h2m", 3720.0, 0, None),
        ("PT1S", 1.0, 0, None),
        ("P1DT2H", 86400 + 7200.0, 0, None),
        ("R5/PT1S", 1.0, 0, 5),
        ("R5/", 0.0, 0, 5),
        ("P1Y2M", 0.0, 14, None),
        ("PT0.5S", 0.5, 0, None),  # pydapr: a fraction of a second in ISO form
        ("500ms", 0.5, 0, None),
        ("0", 0.0, 0, None),
        ("0s", 0.0, 0, None),
    ],
)
def test_period_parses(text: str, interval: float, months: int, repeats: int | None) -> None:
    assert parse_period(text) == Period(text, interval, months, repeats)


@pytest.mark.parametrize(
    "text",
    ["invalid", "R0", "R0/PT1S", "1", "P", "PT", "P1DT", "P1H", "PT1D", "R/PT1S", "Rx/PT1S", "pt1s",
     "1s ", "P1.5D", "-1s", "* * *", "@weekdays", "61 * * * * *"],
)  # fmt: skip
def test_period_refused(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)


def test_zero_repetitions_message() -> None:
    with pytest.raises(PeriodError, match="has zero repetitions"):
        parse_period("R0")


@pytest.mark.parametrize(
    ("text", "recurring"),
    [("", False), ("2s", True), ("R4/PT2S", True), ("R1/PT2S", False), ("R2", False), ("0s", False),
     ("P1M", True)],
)  # fmt: skip
def test_recurring(text: str, recurring: bool) -> None:
    assert parse_period(text).recurring is recurring


# --- reminder_test.go TestReminder: ticks with unlimited / limited repeats / expiration -------
def test_unlimited_repeats_follow_every_period() -> None:
    p = parse_period("2s")
    assert p.repeats is None
    assert p.following(T1) == T1 + timedelta(seconds=2)


def test_limited_repeats_fire_that_many_times() -> None:
    p = parse_period("R4/PT2S")
    ticks = [T1]
    while len(ticks) < (p.repeats or 0):
        ticks.append(p.following(ticks[-1]))
    assert ticks == [T1 + timedelta(seconds=2 * i) for i in range(4)]


def test_expiration_stops_ticks_strictly_before_ttl() -> None:
    times = parse_times("", "2s", "6s", now=T1)
    assert times.expires == T1 + timedelta(seconds=6)
    ticks = [T1 + timedelta(seconds=2 * i) for i in range(4)]
    assert [times.active(t) for t in ticks] == [True, True, True, False]


def test_months_follow_go_add_date() -> None:
    # Go: Jan 31 + 1 month normalises to Mar 3 (2023 is not a leap year).
    jan31 = datetime(2023, 1, 31, 12, tzinfo=UTC)
    assert parse_period("P1M").following(jan31) == datetime(2023, 3, 3, 12, tzinfo=UTC)


# --- reminder_test.go TestSetReminderTimesSubSecond -------------------------------------------
@pytest.mark.parametrize(
    ("due", "offset"), [("1500ms", 1.5), ("2.5s", 2.5), ("2s", 2.0), ("PT2S", 2.0), ("1h2m", 3720.0)]
)
def test_due_time_keeps_sub_second_offset(due: str, offset: float) -> None:
    assert parse_due_time(due, NOW) == NOW + timedelta(seconds=offset)


def test_due_time_forms() -> None:
    assert parse_due_time("", NOW) == NOW
    assert parse_due_time("P1DT2H", NOW) == NOW + timedelta(days=1, hours=2)
    assert parse_due_time("-1s", NOW) == NOW - timedelta(seconds=1)  # already due: fires now
    assert parse_due_time("2030-01-02T03:04:05Z", NOW) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_due_time("2030-01-02T03:04:05.25+02:00", NOW) == datetime(
        2030, 1, 2, 1, 4, 5, 250_000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("due", "message"),
    [("R5/PT1S", "repetitions are not allowed"), ("soon", 'unsupported time/duration format "soon"'),
     ("2030-01-02", "unsupported"), ("2030-01-02 03:04:05Z", "unsupported"), ("1", "unsupported")],
)  # fmt: skip
def test_due_time_refused(due: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_due_time(due, NOW)


def test_ttl_counts_from_due_time() -> None:
    due = NOW + timedelta(seconds=10)
    assert parse_ttl("", due) is None
    assert parse_ttl("5s", due) == due + timedelta(seconds=5)
    assert parse_ttl("PT1M", due) == due + timedelta(minutes=1)
    assert parse_ttl("2030-01-02T03:04:05Z", due) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- reminders.go setReminderTimes: Dapr's messages -------------------------------------------
@pytest.mark.parametrize(
    ("due", "period", "ttl", "message"),
    [
        ("x", "", "", 'error parsing reminder due time: unsupported time/duration format "x"'),
        ("", "x", "", 'invalid reminder period: parse error: unsupported duration format "x"'),
        ("", "R0/PT1S", "", "invalid reminder period: parse error: has zero repetitions"),
        ("", "1s", "x", 'error parsing reminder TTL: unsupported time/duration format "x"'),
        ("", "1s", "R2/PT1S", "error parsing reminder TTL: repetitions are not allowed"),
        ("", "1s", "-1s", "reminder t||a||r has already expired: dueTime: 2026-05-14 10:30:00.8 +0000 UTC"),
        ("", "1s", "2020-01-01T00:00:00Z", "reminder t||a||r has already expired"),
        ("10s", "1s", "2026-05-14T10:30:05Z", "reminder t||a||r has already expired"),
    ],
)
def test_times_refused_with_daprs_messages(due: str, period: str, ttl: str, message: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_times(due, period, ttl, now=NOW, key="t||a||r")
    assert str(err.value).startswith(message)


def test_timer_messages_name_the_timer() -> None:
    with pytest.raises(PeriodError, match=r"^invalid timer period"):
        parse_times("", "x", "", now=NOW, kind="timer")


def test_times_accepted() -> None:
    times = parse_times("1s", "R3/PT0.5S", "10s", now=NOW)
    assert times.due == NOW + timedelta(seconds=1)
    assert times.period.interval == 0.5 and times.period.repeats == 3
    assert times.expires == NOW + timedelta(seconds=11)


# --- what the Python SDK sends (dapr.serializers.util.convert_to_dapr_duration) ---------------
def test_the_python_sdks_durations() -> None:
    assert parse_period("0h0m1s0ms0μs").interval == 1.0
    assert not parse_period("0h0m0s0ms0μs").recurring  # a zero period: fires once
    assert parse_due_time("0h0m0s0ms0μs", NOW) == NOW
    assert parse_due_time("0h0m2s500ms0µs", NOW) == NOW + timedelta(seconds=2.5)
    assert parse_ttl("1h0m0s0ms0μs", NOW) == NOW + timedelta(hours=1)


@pytest.mark.parametrize("text", ["@every 1s", "0 * * * * *", "*/10 * * * * *", "@hourly"])
def test_cron_periods_are_accepted_as_the_jobs_api_writes_them(text: str) -> None:
    period = parse_period(text)
    assert period.cron is not None and period.recurring and period.value == text


def test_a_cron_period_fires_on_its_ticks_and_starts_at_the_first_one() -> None:
    now = datetime(2026, 1, 1, 12, 0, 3, 500000, tzinfo=UTC)
    times = parse_times("", "*/10 * * * * *", "", now=now)
    assert times.due == datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    assert times.period.following(times.due) == datetime(2026, 1, 1, 12, 0, 20, tzinfo=UTC)
    # A due time given is kept: the first firing is then, the next ones on the ticks.
    assert parse_times("1s", "*/10 * * * * *", "", now=now).due == now + timedelta(seconds=1)


def test_a_bad_cron_period_names_the_expression() -> None:
    with pytest.raises(PeriodError, match='invalid cron expression "61 \\* \\* \\* \\* \\*"'):
        parse_period("61 * * * * *")
