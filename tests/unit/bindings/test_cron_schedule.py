"""The cron binding's schedule dialect: 5 or 6 fields, descriptors, @every, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pydapr.bindings.cron_schedule import ScheduleError, parse_cron_binding_schedule

T0 = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("TZ=UTC */15 * * * * *", T0 + timedelta(seconds=15)),
        ("TZ=UTC 0 30 * * * *", T0 + timedelta(minutes=30)),
        ("TZ=UTC 30 * * * *", T0 + timedelta(minutes=30)),  # 5 fields: no seconds
        ("TZ=UTC @hourly", T0 + timedelta(hours=1)),
        ("TZ=UTC @daily", T0 + timedelta(hours=12)),
        ("@every 1h30m", T0 + timedelta(hours=1, minutes=30)),
        ("@every 15s", T0 + timedelta(seconds=15)),
    ],
)
def test_next_activation(spec: str, expected: datetime) -> None:
    assert parse_cron_binding_schedule(spec).next(T0) == expected


@pytest.mark.parametrize(
    "spec", ["", "1h", "* * * *", "* * * * * * *", "@often", "61 * * * * *", "@every -1s"]
)
def test_invalid(spec: str) -> None:
    with pytest.raises(ScheduleError):
        parse_cron_binding_schedule(spec)
