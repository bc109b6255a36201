"""Duration parsing with Go's ``time.ParseDuration`` rules and Dapr's ISO 8601 subset (jobs, reminders)."""

from __future__ import annotations

import re

import msgspec

__all__ = ["ISO8601Duration", "parse_duration", "parse_iso8601_duration", "parse_millis_or_duration"]

_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_UNITS_HINT = "use ns, us, ms, s, m or h"
# Go's Duration is an int64 of nanoseconds; anything beyond it is rejected, not clamped.
_MAX_NS = (1 << 63) - 1
_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def parse_duration(text: str) -> float:
    """Parse a Go duration such as ``300ms``, ``1.5h`` or ``2h45m`` and return seconds."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: expected a string like 300ms, 5s or 2h45m")
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f'invalid duration "{text}": expected a number and a unit, like 300ms, 5s or 2h45m')
    total = 0
    while rest:
        match = _PART.match(rest)
        assert match is not None  # the pattern can match the empty string
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not frac:
            raise ValueError(
                f'invalid duration "{text}": expected a number and a unit, like 300ms, 5s or 2h45m'
            )
        if not unit:
            raise ValueError(f'invalid duration "{text}": missing unit ({_UNITS_HINT})')
        scale = _NS_PER_UNIT.get(unit)
        if scale is None:
            raise ValueError(f'invalid duration "{text}": unknown unit "{unit}" ({_UNITS_HINT})')
        nanos = int(whole or "0") * scale
        if frac:
            # Go truncates sub-nanosecond fractions rather than rounding them.
            nanos += int(frac) * scale // 10 ** len(frac)
        total += nanos
        if total > _MAX_NS + (1 if negative else 0):
            raise ValueError(f'invalid duration "{text}": out of range (at most about 292 years)')
        rest = rest[match.end() :]
    return (-total if negative else total) / 1e9


def parse_millis_or_duration(text: str | int) -> float:
    """Parse a resiliency duration: a bare integer counts as milliseconds, as in dapr/kit's decoder."""
    if isinstance(text, bool):
        raise ValueError(f"invalid duration {text!r}: expected a duration like 5s or whole milliseconds")
    if isinstance(text, int):
        return text / 1000
    if re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        return int(text) / 1000
    return parse_duration(text)


class ISO8601Duration(msgspec.Struct, frozen=True):
    """Calendar parts stay separate because a month or a year has no fixed length in seconds."""

    years: int = 0
    months: int = 0
    days: int = 0
    seconds: float = 0.0
    repetitions: int = -1  # -1: repeat forever, as Dapr's parser reports when there is no R<n>/ prefix

    def total_seconds(self) -> float:
        """Seconds, for durations without years or months (days count as 24 hours)."""
        if self.years or self.months:
            raise ValueError("a duration with years or months has no fixed length in seconds")
        return self.days * 86400 + self.seconds


_ISO = re.compile(
    r"(?:R(?P<reps>[0-9]+)/)?P(?!$)(?:(?P<y>[0-9]+)Y)?(?:(?P<mo>[0-9]+)M)?(?:(?P<w>[0-9]+)W)?(?:(?P<d>[0-9]+)D)?"
    r"(?:T(?=[0-9])(?:(?P<h>[0-9]+)H)?(?:(?P<mi>[0-9]+)M)?(?:(?P<s>[0-9]+)S)?)?"
)


def parse_iso8601_duration(text: str) -> ISO8601Duration:
    """Parse an ISO 8601 duration as Dapr's jobs and reminders do (``PT5S``, ``P1DT2H``, ``R3/PT1M``)."""
    match = _ISO.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid ISO 8601 duration {text!r}: expected a form like PT5S, P1DT2H or R3/PT1M")
    part = {key: int(value) if value else 0 for key, value in match.groupdict().items()}
    return ISO8601Duration(
        years=part["y"],
        months=part["mo"],
        days=part["w"] * 7 + part["d"],
        seconds=float(part["h"] * 3600 + part["mi"] * 60 + part["s"]),
        repetitions=part["reps"] if match.group("reps") else -1,
    )
