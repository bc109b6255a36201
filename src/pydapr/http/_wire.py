"""Byte-level helpers shared by the HTTP server and client: status lines, header names, header blocks."""

from __future__ import annotations

from http import HTTPStatus

# Header names repeat on every message; decoding and lower-casing them once saves two allocations
# per header. The cache is bounded so a peer sending random names cannot grow it forever.
_NAME_CACHE: dict[bytes, str] = {}
_NAME_CACHE_MAX = 2048


def header_name(raw: bytes) -> str:
    name = _NAME_CACHE.get(raw)
    if name is None:
        name = raw.decode("latin-1").lower()
        if len(_NAME_CACHE) < _NAME_CACHE_MAX:
            _NAME_CACHE[raw] = name
    return name


_STATUS_LINES: dict[int, str] = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}


def status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ValueError(f"invalid HTTP status {status!r}")
        line = f"HTTP/1.1 {status} Unknown\r\n"
    return line


def encode_head(parts: list[str]) -> bytes:
    """Join header lines (each ending in CRLF) and check none smuggles its own line break.

    Counting line breaks over the joined block costs two C-level scans instead of a check per
    value, and still stops response/request splitting through a value holding CR or LF.
    """
    text = "".join(parts)
    n = len(parts)
    if text.count("\n") != n or text.count("\r") != n:
        raise ValueError("header name or value contains a line break")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")
