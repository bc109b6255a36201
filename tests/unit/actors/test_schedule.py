"""Timer due times, periods and TTLs as Dapr reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

import pytest

from pydapr.actors.schedule import fire_times, parse_period, parse_schedule, parse_time

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "offset"),
    [("1s", 1.0), ("1m30s", 90.0), ("0s", 0.0), ("PT5S", 5.0), ("P1DT1H", 90000.0), ("500ms", 0.5)],
)
def test_due_time_as_a_duration(text: str, offset: float) -> None:
    assert parse_time(text, NOW) == pytest.approx(NOW + offset)


def test_due_time_as_rfc3339() -> None:
    assert parse_time("2026-01-31T12:00:10Z", NOW) == NOW + 10
    assert parse_time("2026-01-31T13:00:10+01:00", NOW) == NOW + 10


@pytest.mark.parametrize("text", ["soon", "R2/PT1S", "2026-01-31T12:00:10", "1x"])
def test_bad_due_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text, NOW)


def test_periods() -> None:
    assert parse_period("") is None
    assert parse_period("2s").seconds == 2.0  # type: ignore[union-attr]
    p = parse_period("R5/PT1S")
    assert p is not None and p.repeats == 5 and p.seconds == 1.0
    monthly = parse_period("P1M")
    assert monthly is not None and monthly.following(NOW) == datetime(2026, 2, 28, 12, tzinfo=UTC).timestamp()
    with pytest.raises(ValueError, match="zero repetitions"):
        parse_period("R0/PT1S")


def test_fire_times_with_repetitions_and_ttl() -> None:
    schedule = parse_schedule("1s", "R3/PT2S", "", NOW)
    assert list(fire_times(schedule)) == [NOW + 1, NOW + 3, NOW + 5]
    capped = parse_schedule("0s", "1s", "2500ms", NOW)  # the TTL counts from the first due time
    assert list(fire_times(capped)) == [NOW, NOW + 1, NOW + 2]
    forever = parse_schedule("", "10s", "", NOW)
    assert list(islice(fire_times(forever), 3)) == [NOW, NOW + 10, NOW + 20]
    once = parse_schedule("5s", "", "", NOW)
    assert list(fire_times(once)) == [NOW + 5]


def test_expired_timer_is_refused() -> None:
    with pytest.raises(ValueError, match="already expired"):
        parse_schedule("10s", "1s", "2026-01-31T12:00:05Z", NOW)
    with pytest.raises(ValueError, match="invalid timer period"):
        parse_schedule("1s", "every second", "", NOW)
