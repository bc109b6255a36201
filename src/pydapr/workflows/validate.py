"""The workflow APIs' request checks, shared by the Dapr gRPC RPCs and the HTTP routes, with daprd's
rules and messages (pkg/api/universal/workflow.go: validateInstanceID, targetAppID; the start time
option of StartWorkflow).

The workflow component named in a request is not checked: since Dapr 1.15 daprd has no workflow
components and accepts any name there (the SDKs send "dapr").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

from . import errors as E
from .contract import MAX_INSTANCE_ID_LENGTH

START_TIME_OPTION = "dapr.workflow.start_time"

# Go's time.RFC3339 layout as time.Parse reads it: a 'T', optional fraction, 'Z' or a numeric offset.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))"
)
_START_TIME_FORMAT = 'start times must be in RFC3339 format (e.g. "2009-11-10T23:00:00Z")'


def _allowed(text: str) -> bool:
    # Go's unicode.IsLetter is any L* category (str.isalpha), unicode.IsDigit is Nd (str.isdecimal).
    return all(c.isalpha() or c.isdecimal() or c in "-_" for c in text)


def instance_id(value: str, *, create: bool) -> None:
    """A new instance's id may be at most 64 bytes of letters, digits, '-' and '_'; an existing
    instance is named by any non-empty id (it may predate the rule)."""
    if not value:
        raise E.INSTANCE_ID_MISSING()
    if not create:
        return
    # daprd counts bytes (len of a Go string), not characters.
    if len(value.encode()) > MAX_INSTANCE_ID_LENGTH:
        raise E.INSTANCE_ID_TOO_LONG(MAX_INSTANCE_ID_LENGTH)
    if not _allowed(value):
        raise E.INSTANCE_ID_INVALID(value)


def target_app_id(app_id: str | None, own_app_id: str) -> str | None:
    """The app whose workflow a request names: None for this app (no id or its own), else the
    other app's id, refused with dots or other characters that would change the internal actor
    type name ``dapr.internal.<namespace>.<app-id>.workflow``."""
    if not app_id or app_id == own_app_id:
        return None
    if not _allowed(app_id):
        raise E.APP_ID_INVALID(app_id)
    return app_id


def parse_rfc3339(text: str) -> datetime:
    """As Go's ``time.Parse(time.RFC3339, text)``; ValueError when it does not parse."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, zulu, sign, off_h, off_m = m.groups()[6:]
    if zulu:
        tz: timezone = UTC
    else:
        hours, minutes = int(off_h), int(off_m)
        if hours > 23 or minutes > 59:
            raise ValueError(f"time zone offset out of range: {text!r}")
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if sign == "-" else offset)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)


def start_time(workflow_name: str, options: Mapping[str, str]) -> datetime | None:
    """The ``dapr.workflow.start_time`` option of a start request (None: start now)."""
    text = options.get(START_TIME_OPTION)
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise E.START(workflow_name, _START_TIME_FORMAT) from None


def event_name(name: str) -> None:
    if not name:
        raise E.EVENT_NAME_MISSING()


def workflow_name(name: str) -> None:
    if not name:
        raise E.NAME_MISSING()
