"""A bare HTTP/2 client over a socket, for what grpcio's client never sends: malformed frames,
a deadline it does not enforce itself, a stream it leaves open."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, kind, flags, stream_id) + payload


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        writer.write(PREFACE + frame(4, 0, 0))
        return client

    def request(
        self, stream_id: int, path: str, extra: list[tuple[str, str]] = (), end: bool = False
    ) -> None:  # type: ignore[assignment]
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "x"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *extra,
        ]
        self.writer.write(frame(1, 0x4 | (0x1 if end else 0), stream_id, self.encoder.encode(headers)))

    def message(self, stream_id: int, body: bytes, end: bool = True) -> None:
        data = b"\0" + len(body).to_bytes(4, "big") + body
        self.writer.write(frame(0, 0x1 if end else 0, stream_id, data))

    async def next_frame(self) -> tuple[int, int, int, bytes]:
        head = await self.reader.readexactly(9)
        high, low, kind, flags, stream_id = struct.unpack(">BHBBI", head)
        payload = await self.reader.readexactly(high << 16 | low)
        return kind, flags, stream_id & 0x7FFFFFFF, payload

    async def until(self, kind: int, stream_id: int | None = None) -> tuple[int, Any]:
        """Reads frames (acking SETTINGS) up to the first of ``kind`` (on ``stream_id``); returns its
        flags and payload, a HEADERS block decoded to a dict of bytes."""
        while True:
            k, flags, sid, payload = await self.next_frame()
            if k == 4 and not flags & 1:
                self.writer.write(frame(4, 1, 0))
            content: Any = payload
            if k == 1:  # decoded whatever it is: the decoder's table depends on every block
                content = dict(self.decoder.decode(payload, raw=True))
            if k == kind and (stream_id is None or sid == stream_id):
                return flags, content

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
