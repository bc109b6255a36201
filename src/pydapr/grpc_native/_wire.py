"""HTTP/2 frame and gRPC wire constants, and the header blocks this server sends.

The blocks use only the HPACK static table and literals without indexing, so they never touch the
peer's dynamic table and any block can be built (or kept) without the connection's encoder state.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

# Error codes (RFC 9113 section 7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 0x5, 0x6, 0x7, 0x8, 0x9
ENHANCE_YOUR_CALM = 0xB

FRAME_HEAD = struct.Struct(">BHBBI")  # length (24 bits as 8 + 16), type, flags, stream id
MAX_WINDOW = (1 << 31) - 1


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return FRAME_HEAD.pack(n >> 16, n & 0xFFFF, kind, flags, stream_id) + payload


def rst_stream(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, code.to_bytes(4, "big"))


def goaway(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, increment.to_bytes(4, "big"))


def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(name: bytes, value: bytes, name_index: int = 0) -> bytes:
    # Literal header field without indexing (RFC 7541 6.2.2), no Huffman coding.
    head = _integer(name_index, 4, 0x00)
    if not name_index:
        head += _integer(len(name), 7, 0) + name
    return head + _integer(len(value), 7, 0) + value


_STATUS_200 = b"\x88"  # static table entry 8
_CONTENT_TYPE = _literal(b"content-type", b"application/grpc", 31)
RESPONSE_HEAD = _STATUS_200 + _CONTENT_TYPE
OK_TRAILERS = _literal(b"grpc-status", b"0")


def metadata_block(metadata: Iterable[tuple[str, str | bytes]]) -> bytes:
    """The fields for gRPC metadata: ``-bin`` values base64 (unpadded), names lower-case."""
    parts = []
    for key, value in metadata:
        name = key.lower().encode("ascii")
        if name.endswith(b"-bin"):
            raw = value if isinstance(value, bytes) else value.encode()
            data = base64.b64encode(raw).rstrip(b"=")
        else:
            data = value.encode("ascii") if isinstance(value, str) else value
        parts.append(_literal(name, data))
    return b"".join(parts)


def trailers_block(code: int, details: str, metadata: Iterable[tuple[str, str | bytes]] = ()) -> bytes:
    block = OK_TRAILERS if code == 0 else _literal(b"grpc-status", str(code).encode())
    if details:
        block += _literal(b"grpc-message", percent_encode(details))
    return block + metadata_block(metadata)


def percent_encode(details: str) -> bytes:
    """``grpc-message``'s encoding: UTF-8, then every byte outside 0x20-0x7E and ``%`` as ``%XX``."""
    raw = details.encode("utf-8")
    if all(0x20 <= b <= 0x7E and b != 0x25 for b in raw):
        return raw
    return b"".join(bytes((b,)) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b for b in raw)


_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def parse_timeout(value: bytes) -> float | None:
    """``grpc-timeout`` (at most 8 digits and a unit) in seconds, None when malformed."""
    unit = _TIMEOUT_UNITS.get(value[-1:])
    digits = value[:-1]
    if unit is None or not digits.isdigit() or len(digits) > 8:
        return None
    return int(digits) * unit


def decode_metadata_value(name: str, value: bytes) -> str | bytes:
    if name.endswith("-bin"):
        try:
            return base64.b64decode(value + b"=" * (-len(value) % 4))
        except ValueError:
            return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")
