"""The frames of pydapr's multiplexed sidecar-to-sidecar connection, and the protocol base both ends share.

Why a connection of its own: pooled HTTP/1.1 carries one exchange per connection at a time, so a
burst of 16 calls to one peer is 16 writes, 16 reads and 16 TLS records each way, every one a
syscall and a pass of the event loop. Here every exchange to a peer shares one connection and the
frames a loop pass queues leave in one write (bench/mux_calibration.py: a quarter less CPU per
request in two bare proxies, a third off the added p90 under hey's bursts).

The connection starts as HTTP/1.1: the client sends ``GET /`` with ``Connection: upgrade`` and
``Upgrade: pydapr-peer/1``; a sidecar that speaks it answers ``101`` and frames follow both ways.
Any other answer (an older pydapr, or another server) and the client uses HTTP/1.1 to that address.

A frame is a 9-byte head — stream id (u32), kind (u8), payload length (u32), network order — and
its payload. Client streams are odd and increase.

- REQUEST, client to server: msgpack ``[method, target, [[name, value], ...], body]``, names lower-case.
- RESPONSE, server to client: msgpack ``[status, [[name, value], ...], body]``.
- CANCEL, client to server, no payload: the caller gave up; the server cancels that handler.
- GOAWAY, server to client: u32, the last stream it started. It starts no later one: those may be
  sent again elsewhere, safely. The server closes once its started streams are answered.

There is no flow control beyond TCP's: bodies are whole messages bounded by the receiver's body
limit, and each side stops reading while its own writes are backed up. A request frame over the
server's limit is answered on its own stream (413, as HTTP/1.1 answers it; 431 for a head over the
header limit) and its bytes are read past unbuffered: the other calls on the connection go on.
"""

from __future__ import annotations

import asyncio
import struct
from typing import cast

import msgspec

UPGRADE = "pydapr-peer/1"

HEAD = struct.Struct("!IBI")
REQUEST = 1
RESPONSE = 2
CANCEL = 3
GOAWAY = 4
LAST_STREAM = struct.Struct("!I")

HeaderList = list[tuple[str, str]]
encode = msgspec.msgpack.Encoder().encode
decode_request = msgspec.msgpack.Decoder(tuple[str, str, HeaderList, bytes]).decode
decode_response = msgspec.msgpack.Decoder(tuple[int, HeaderList, bytes]).decode

# Framing and connection management belong to each hop, as in HTTP/1.1. An answer's Date crosses,
# as it does over HTTP/1.1: the app's, where it set one.
HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te"})


class FrameError(Exception):
    """The peer broke the framing: the connection cannot continue."""


class FramedConnection(asyncio.Protocol):
    """Splits the byte stream into frames for ``frame()``; ``queue()`` sends, one write per loop pass."""

    __slots__ = ("_buf", "_flush_due", "_loop", "_max_frame", "_need", "_out", "_skip", "transport")

    def __init__(self, loop: asyncio.AbstractEventLoop, max_frame: int) -> None:
        self._loop = loop
        self._max_frame = max_frame
        # The start of a frame not yet whole, and how many bytes make it whole: a large body arrives in
        # many reads, gathered here once each instead of copied again with every read.
        self._buf = bytearray()
        self._need = 0
        self._skip = 0  # bytes still to come of a frame over the limit, read past unkept
        self._out: list[bytes] = []
        self._flush_due = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def queue(self, stream: int, kind: int, payload: bytes) -> None:
        self._out.append(HEAD.pack(stream, kind, len(payload)))
        if payload:
            self._out.append(payload)
        if not self._flush_due:
            # Everything the rest of this loop pass queues goes in the same write.
            self._flush_due = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_due = False
        out = self._out
        if not out:
            return
        self._out = []
        t = self.transport
        if t is not None:
            t.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return
            data = data[self._skip :]
            self._skip = 0
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return
            data = bytes(buf)
            buf.clear()
        pos = 0
        end = len(data)
        head = HEAD
        view = memoryview(data)  # payloads are decoded in place, not copied out first
        try:
            while end - pos >= 9:
                stream, kind, size = head.unpack_from(data, pos)
                stop = pos + 9 + size
                if size > self._max_frame:
                    self.oversized(stream, kind, size)  # raises where the connection cannot go on
                    if self.transport is None:
                        return
                    if stop > end:
                        self._skip = stop - end
                        return
                    pos = stop
                    continue
                if stop > end:
                    break
                self.frame(stream, kind, view[pos + 9 : stop])
                pos = stop
                if self.transport is None:
                    return
        except (FrameError, msgspec.DecodeError) as exc:
            self.broken(str(exc))
            return
        if pos < end:
            self._buf += view[pos:]
            if end - pos >= 9:
                self._need = 9 + head.unpack_from(data, pos)[2]
            else:
                self._need = 9

    def frame(self, stream: int, kind: int, payload: memoryview) -> None:
        raise NotImplementedError

    def oversized(self, stream: int, kind: int, size: int) -> None:
        """A frame of ``size`` bytes, over the limit, has begun; its payload is read past. Raise
        ``FrameError`` where that frame cannot be answered on its own stream."""
        raise FrameError(f"a frame of {size} bytes is over the limit of {self._max_frame}")

    def broken(self, reason: str) -> None:
        """The framing cannot go on: drop the connection."""
        t = self.transport
        if t is not None:
            t.abort()
