"""Small helpers the stores share: value encodings for text/JSON columns, ETag formats, expiry times."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import msgspec

from pydapr.state.contract import ETagInvalid, ETagMismatch


def is_json(data: bytes) -> bool:
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError:
        return False
    return True


def to_json_column(data: bytes) -> tuple[str, bool]:
    """Encode for a JSON column as Dapr's SQL stores do: JSON as is, anything else as a base64 string.

    Returns (json_text, is_binary).
    """
    if is_json(data):
        return data.decode(), False
    return msgspec.json.encode(base64.b64encode(data).decode()).decode(), True


def from_json_column(text: str | bytes, is_binary: bool) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    if not is_binary:
        return raw
    return base64.b64decode(msgspec.json.decode(raw))


def to_text_column(data: bytes) -> tuple[str, bool]:
    """Encode for a text column (Dapr's sqlite layout): UTF-8 as is, anything else base64."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), True


def from_text_column(text: str, is_binary: bool) -> bytes:
    return base64.b64decode(text) if is_binary else text.encode("utf-8")


def new_uuid_etag() -> str:
    return str(uuid.uuid4())


def check_uuid_etag(etag: str) -> str:
    """The canonical form of a UUID ETag. A string that is not a UUID matches no row: an ETag
    mismatch (409), as contrib's sqlite, mysql and postgresql v2 stores answer it."""
    try:
        return str(uuid.UUID(etag))
    except ValueError:
        raise ETagMismatch(etag) from None


def check_int_etag(etag: str) -> int:
    try:
        value = int(etag)
    except ValueError:
        raise ETagInvalid(etag) from None
    if value < 0 or value > 2**63 - 1:
        raise ETagInvalid(etag)
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def expiry(ttl: int | None) -> datetime | None:
    """When a value saved now with ``ttl`` seconds expires; None when it never does."""
    if ttl is None or ttl <= 0:
        return None
    return utcnow() + timedelta(seconds=ttl)


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration ("1h30m", "500ms") or a plain number of seconds; raises ValueError."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def is_identifier(name: str) -> bool:
    """Table names are put into SQL text: only plain (optionally schema-qualified) names are allowed."""
    return bool(_IDENTIFIER.fullmatch(name)) and len(name) <= 128
