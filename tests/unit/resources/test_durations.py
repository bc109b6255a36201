"""Go time.ParseDuration compatibility and Dapr's ISO 8601 subset."""

from __future__ import annotations

import pytest

from pydapr.resources import ISO8601Duration, parse_duration, parse_iso8601_duration
from pydapr.resources.durations import parse_millis_or_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("-0", 0.0),
        ("5s", 5.0),
        ("300ms", 0.3),
        ("1.5h", 5400.0),
        ("2h45m", 9900.0),
        ("-1s", -1.0),
        ("+2m", 120.0),
        ("1µs", 1e-6),
        ("1μs", 1e-6),
        ("1us", 1e-6),
        ("10ns", 1e-8),
        (".5s", 0.5),
        ("5.s", 5.0),
        ("1h2m3s4ms5us6ns", 3723.004005006),
        ("1.0000000001s", 1.0),  # Go truncates below a nanosecond
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'invalid duration "": expected a number and a unit, like 300ms, 5s or 2h45m'),
        ("10", 'invalid duration "10": missing unit (use ns, us, ms, s, m or h)'),
        ("5sec", 'invalid duration "5sec": unknown unit "sec" (use ns, us, ms, s, m or h)'),
        ("abc", 'invalid duration "abc": expected a number and a unit, like 300ms, 5s or 2h45m'),
        ("-", 'invalid duration "-": expected a number and a unit, like 300ms, 5s or 2h45m'),
        (".s", 'invalid duration ".s": expected a number and a unit, like 300ms, 5s or 2h45m'),
        ("1d", 'invalid duration "1d": unknown unit "d" (use ns, us, ms, s, m or h)'),
        ("3000000h", 'invalid duration "3000000h": out of range (at most about 292 years)'),
    ],
)
def test_bad_go_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == message


def test_largest_duration_is_accepted() -> None:
    assert parse_duration("2562047h") == 2562047 * 3600.0


def test_resiliency_durations_take_whole_milliseconds() -> None:
    assert parse_millis_or_duration("1500") == 1.5
    assert parse_millis_or_duration(250) == 0.25
    assert parse_millis_or_duration("2s") == 2.0
    with pytest.raises(ValueError) as info:
        parse_millis_or_duration(True)  # type: ignore[arg-type]
    assert str(info.value) == "invalid duration True: expected a duration like 5s or whole milliseconds"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT5S", ISO8601Duration(seconds=5.0)),
        ("P1DT2H", ISO8601Duration(days=1, seconds=7200.0)),
        ("PT1H30M", ISO8601Duration(seconds=5400.0)),
        ("P1Y2M3W4D", ISO8601Duration(years=1, months=2, days=25)),
        ("R3/PT1M", ISO8601Duration(seconds=60.0, repetitions=3)),
    ],
)
def test_iso8601(text: str, expected: ISO8601Duration) -> None:
    assert parse_iso8601_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "5s", "P1DT", "PT1.5S", "R/PT1S", "P1H"])
def test_bad_iso8601(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_iso8601_duration(text)
    assert str(info.value) == (
        f"invalid ISO 8601 duration {text!r}: expected a form like PT5S, P1DT2H or R3/PT1M"
    )


def test_iso8601_total_seconds() -> None:
    assert parse_iso8601_duration("P1DT1S").total_seconds() == 86401.0
    with pytest.raises(ValueError) as info:
        parse_iso8601_duration("P1M").total_seconds()
    assert str(info.value) == "a duration with years or months has no fixed length in seconds"
