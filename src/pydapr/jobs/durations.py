"""Go-style (``1h30m``, ``500ms``) and ISO 8601 (``P1DT2H``) durations, as Dapr's jobs API accepts them.

Kept here because ``pydapr.resources.durations`` did not exist yet when the jobs block was written.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import msgspec

_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_ISO = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_go_duration(text: str) -> timedelta:
    """Parse Go's ``time.ParseDuration`` syntax: an optionally signed sequence of number+unit pairs."""
    s = text.strip()
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return timedelta(0)
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _GO_PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    if pos == 0:
        raise ValueError(f"invalid duration {text!r}")
    return timedelta(seconds=sign * total)


class IsoDuration(msgspec.Struct, frozen=True):
    """A calendar duration: years and months can't be expressed as a fixed timedelta."""

    years: int = 0
    months: int = 0
    delta: timedelta = timedelta(0)

    def add_to(self, when: datetime) -> datetime:
        month_index = when.month - 1 + self.months + 12 * self.years
        year = when.year + month_index // 12
        month = month_index % 12 + 1
        # Go's AddDate normalises overflow (Jan 31 + 1 month = Mar 3); clamp-and-carry does the same.
        day = when.day
        base = when.replace(year=year, month=month, day=1)
        return base + timedelta(days=day - 1) + self.delta


def parse_iso8601_duration(text: str) -> IsoDuration:
    """Parse a non-repeating ISO 8601 duration such as ``P1Y2M3DT4H5M6S``; ``R3/...`` is refused."""
    s = text.strip()
    if s.startswith("R"):
        raise ValueError("repeats not supported for due time")
    m = _ISO.match(s)
    if m is None or s in ("P", "PT"):
        raise ValueError(f"invalid ISO 8601 duration {text!r}")
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    delta = timedelta(
        weeks=int(g.get("w", 0)),
        days=int(g.get("d", 0)),
        hours=int(g.get("h", 0)),
        minutes=int(g.get("mi", 0)),
        seconds=float(g.get("s", 0)),
    )
    return IsoDuration(int(g.get("y", 0)), int(g.get("mo", 0)), delta)
