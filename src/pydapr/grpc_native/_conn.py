"""One HTTP/2 connection of the native gRPC server: the frame loop, flow control both ways, and the
streams' message queues. What a call does with its stream is in ``_call.py``.

Frames are parsed by hand; everything a loop iteration sends is written in one ``write``. A header
block that leaves the peer's dynamic table as it is (``_hpack.py``, a client's usual block once the
table holds its headers) is read without ``hpack``, and what it says is kept: the same bytes read the
same until a block that changes the table, which ``hpack`` decodes (a client's repeated call to one
method costs one dict lookup).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import hpack

from pydapr.grpc_native import _hpack
from pydapr.grpc_native import _wire as w

if TYPE_CHECKING:
    from pydapr.grpc_native.server import NativeGrpcServer

log = logging.getLogger("pydapr.grpc_native")
# hpack logs every header it decodes, value and all, at debug: with --log-level debug that put the
# clients' dapr-api-token in the sidecar's output. Its debug lines say nothing else worth the leak.
logging.getLogger("hpack").setLevel(logging.INFO)

RECV_STREAM_WINDOW = 1 << 20
RECV_CONN_WINDOW = 1 << 24
MAX_FRAME = 16384  # what we accept: the protocol's default, never raised
MAX_HEADER_BLOCK = 64 * 1024
MAX_STREAMS = 10_000
_TRANSPORT_HEADERS = frozenset(
    {"content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding"}
)


class ProtocolViolation(Exception):
    """A connection error: GOAWAY with ``code``, then close."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class Stream:
    """One call's HTTP/2 stream: the request's messages as they arrive, the reply's data waiting for
    the peer's window."""

    __slots__ = (
        "buf",
        "call",
        "conn",
        "deadline",
        "drain",
        "finished",
        "headers_sent",
        "id",
        "messages",
        "metadata",
        "method",
        "out",
        "queued",
        "reader",
        "remote_closed",
        "send_window",
        "task",
        "trailers",
        "unacked",
    )

    def __init__(self, conn: Connection, stream_id: int, method: str, metadata: tuple[Any, ...]) -> None:
        self.id = stream_id
        self.conn = conn
        self.method = method
        self.metadata = metadata
        self.deadline: float | None = None
        self.buf = bytearray()
        self.messages: deque[bytes] = deque()
        self.reader: asyncio.Future[None] | None = None
        self.remote_closed = False
        self.send_window = conn.peer_initial_window
        self.out: deque[memoryview] = deque()
        self.trailers: bytes | None = None
        self.drain: asyncio.Future[None] | None = None
        self.headers_sent = False
        self.finished = False  # trailers queued, reset or connection gone
        self.task: asyncio.Task[None] | None = None
        self.unacked = 0  # received since our last WINDOW_UPDATE for this stream
        self.queued = 0  # received bytes not yet read by the handler
        self.call: Any = None  # the call's state (_call.Call), for the deadline and resets

    # --- receiving -------------------------------------------------------------------------------

    def feed(self, payload: bytes) -> None:
        buf = self.buf
        if not buf and len(payload) >= 5 and payload[0] == 0:
            n = int.from_bytes(payload[1:5], "big")
            if n == len(payload) - 5:  # the usual case: one whole message in one frame
                if n > self.conn.server.max_receive:
                    self._too_large(n)
                    return
                self._arrived(payload[5:])
                return
        buf += payload
        while len(buf) >= 5:
            if buf[0] > 1:
                self.conn.fail_stream(self, 13, "grpc: invalid message compressed flag")
                return
            n = int.from_bytes(buf[1:5], "big")
            if n > self.conn.server.max_receive:
                self._too_large(n)
                return
            if len(buf) < 5 + n:
                return
            if buf[0] == 1:
                self.conn.fail_stream(self, 12, "grpc: compressed messages are not supported")
                return
            message = bytes(buf[5 : 5 + n])
            del buf[: 5 + n]
            self._arrived(message)

    def _too_large(self, n: int) -> None:
        limit = self.conn.server.max_receive
        self.conn.fail_stream(self, 8, f"SERVER: Received message larger than max ({n} vs. {limit})")

    def _arrived(self, message: bytes) -> None:
        self.messages.append(message)
        self.queued += len(message)
        self._wake_reader()

    def end_remote(self) -> None:
        self.remote_closed = True
        if self.buf and not self.finished:
            self.conn.fail_stream(self, 13, "grpc: incomplete message at the end of the stream")
        self._wake_reader()

    def _wake_reader(self) -> None:
        reader = self.reader
        if reader is not None:
            self.reader = None
            if not reader.done():
                reader.set_result(None)

    async def read(self) -> bytes | None:
        """The next request message, None after the client's last one."""
        while not self.messages:
            if self.remote_closed or self.finished:
                return None
            self.reader = self.conn.loop.create_future()
            await self.reader
        message = self.messages.popleft()
        self.queued -= len(message)
        if self.unacked and self.queued < RECV_STREAM_WINDOW // 2 and not self.remote_closed:
            self.conn.grant(self)
        return message

    # --- sending ---------------------------------------------------------------------------------

    def wake_writer(self) -> None:
        drain = self.drain
        if drain is not None:
            self.drain = None
            if not drain.done():
                drain.set_result(None)

    async def drained(self) -> None:
        """Returns once the reply's data queued so far has gone out (or the stream ended)."""
        while self.out and not self.finished:
            self.drain = self.conn.loop.create_future()
            await self.drain


class Connection(asyncio.Protocol):
    def __init__(self, server: NativeGrpcServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self._buf = b""
        self._preface = False
        self._decoder = hpack.Decoder(max_header_list_size=MAX_HEADER_BLOCK)
        # Blocks that left the table as it was, read: the same bytes read the same until it changes.
        self._heads: dict[bytes, RequestHead] = {}
        self._partial: tuple[int, int, bytes] | None = None  # (stream, flags, block) until END_HEADERS
        self.streams: dict[int, Stream] = {}
        self._last_id = 0
        self.peer_initial_window = 65535
        self._send_window = 65535
        self._max_frame = 16384
        self._recv_unacked = 0
        self._blocked: dict[int, Stream] = {}
        self._wbuf: list[bytes] = []
        self._flush_pending = False
        self.closing = False  # GOAWAY sent or received: no new streams
        self._goaway_sent = False

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no asyncio.Transport subclass, hence the cast, not a check.
        self.transport = cast(asyncio.Transport, transport)
        self.peer = _peer(transport)
        self.server.connections.add(self)
        settings = struct.pack(
            ">HIHIHI",
            w.SETTINGS_ENABLE_PUSH,
            0,
            w.SETTINGS_INITIAL_WINDOW_SIZE,
            RECV_STREAM_WINDOW,
            w.SETTINGS_MAX_HEADER_LIST_SIZE,
            MAX_HEADER_BLOCK,
        )
        self._wbuf.append(w.frame(w.SETTINGS, 0, 0, settings) + w.window_update(0, RECV_CONN_WINDOW - 65535))
        if self.server.stopping:
            self.shutdown()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.connections.discard(self)
        streams = list(self.streams.values())
        self.streams.clear()
        self._blocked.clear()
        for stream in streams:
            self._abandon(stream)
        self.server.connection_gone()

    def data_received(self, data: bytes) -> None:
        try:
            self._receive(data)
        except ProtocolViolation as exc:
            log.debug("gRPC connection from %s closed: %s", self.peer, exc)
            self._wbuf.append(w.goaway(self._last_id, exc.code, str(exc).encode()[:200]))
            self._flush()
            self._close()
            return
        self._flush()

    # --- frames in -------------------------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        if not self._preface:
            if len(buf) < len(w.PREFACE):
                if not w.PREFACE.startswith(buf):
                    raise ProtocolViolation(w.PROTOCOL_ERROR, "not an HTTP/2 connection preface")
                self._buf = buf
                return
            if not buf.startswith(w.PREFACE):
                raise ProtocolViolation(w.PROTOCOL_ERROR, "not an HTTP/2 connection preface")
            self._preface = True
            buf = buf[len(w.PREFACE) :]
        pos, end = 0, len(buf)
        unpack = w.FRAME_HEAD.unpack_from
        while end - pos >= 9:
            high, low, kind, flags, stream_id = unpack(buf, pos)
            length = high << 16 | low
            if length > MAX_FRAME:
                raise ProtocolViolation(w.FRAME_SIZE_ERROR, f"frame of {length} bytes")
            stop = pos + 9 + length
            if stop > end:
                break
            payload = buf[pos + 9 : stop]
            pos = stop
            stream_id &= 0x7FFFFFFF
            if self._partial is not None and kind != w.CONTINUATION:
                raise ProtocolViolation(w.PROTOCOL_ERROR, "a header block interrupted")
            if kind == w.DATA:
                self._on_data(stream_id, flags, payload)
            elif kind == w.HEADERS:
                self._on_headers(stream_id, flags, payload)
            elif kind == w.CONTINUATION:
                if self._partial is None or self._partial[0] != stream_id:
                    raise ProtocolViolation(w.PROTOCOL_ERROR, "CONTINUATION without HEADERS")
                sid, first_flags, block = self._partial
                self._partial = None
                if len(block) + len(payload) > MAX_HEADER_BLOCK:
                    raise ProtocolViolation(w.ENHANCE_YOUR_CALM, "header block too large")
                self._on_headers(sid, first_flags | (flags & w.END_HEADERS), block + payload, False)
            elif kind == w.SETTINGS:
                if stream_id:
                    raise ProtocolViolation(w.PROTOCOL_ERROR, "SETTINGS on a stream")
                if not flags & w.ACK:
                    self._on_settings(payload)
                    # The ack goes before any DATA the new settings let out: grpc's client counts
                    # a changed initial window only from the ack on.
                    self._wbuf.append(w.frame(w.SETTINGS, w.ACK, 0))
                    self._unblock()
            elif kind == w.PING:
                if stream_id or length != 8:
                    raise ProtocolViolation(w.PROTOCOL_ERROR, "malformed PING")
                if not flags & w.ACK:
                    self._wbuf.append(w.frame(w.PING, w.ACK, 0, payload))
            elif kind == w.WINDOW_UPDATE:
                if length != 4:
                    raise ProtocolViolation(w.FRAME_SIZE_ERROR, "malformed WINDOW_UPDATE")
                self._on_window_update(stream_id, int.from_bytes(payload, "big") & 0x7FFFFFFF)
            elif kind == w.RST_STREAM:
                if not stream_id or length != 4:
                    raise ProtocolViolation(w.PROTOCOL_ERROR, "malformed RST_STREAM")
                stream = self.streams.get(stream_id)
                if stream is not None:
                    self._reset_by_peer(stream)
            elif kind == w.GOAWAY:
                self.closing = True
                if not self.streams:
                    self._close()
            elif kind == w.PUSH_PROMISE:
                raise ProtocolViolation(w.PROTOCOL_ERROR, "PUSH_PROMISE from a client")
            # PRIORITY and unknown frame types are ignored (RFC 9113 5.5).
        self._buf = buf[pos:] if pos < end else b""

    def _on_headers(self, stream_id: int, flags: int, payload: bytes, first: bool = True) -> None:
        if not stream_id:
            raise ProtocolViolation(w.PROTOCOL_ERROR, "HEADERS on stream 0")
        if first:
            if flags & w.PADDED:
                if not payload or payload[0] >= len(payload):
                    raise ProtocolViolation(w.PROTOCOL_ERROR, "bad padding")
                payload = payload[1 : len(payload) - payload[0]]
            if flags & w.PRIORITY_FLAG:
                payload = payload[5:]
            flags &= ~(w.PADDED | w.PRIORITY_FLAG)
        if not flags & w.END_HEADERS:
            self._partial = (stream_id, flags, payload)
            return
        # Every block is decoded, even one refused below: the peer's dynamic table depends on it.
        head = self._heads.get(payload)
        if head is None:
            fields = _hpack.decode_unchanging(self._decoder, payload)
            if fields is not None:
                head = _request_head(fields)
                if len(self._heads) >= 256:  # a client cycling through blocks gains no memory
                    self._heads.clear()
                self._heads[payload] = head
            else:
                try:
                    fields = cast(list[tuple[bytes, bytes]], self._decoder.decode(payload, raw=True))
                except hpack.HPACKError as exc:
                    raise ProtocolViolation(w.COMPRESSION_ERROR, f"header block: {exc}") from None
                self._heads.clear()  # the table may have changed: a kept block may now read otherwise
                head = _request_head(fields)
        stream = self.streams.get(stream_id)
        if stream is not None:  # the client's trailers end its side
            if not flags & w.END_STREAM:
                raise ProtocolViolation(w.PROTOCOL_ERROR, "trailers without END_STREAM")
            stream.end_remote()
            return
        if stream_id % 2 == 0:
            raise ProtocolViolation(w.PROTOCOL_ERROR, f"HEADERS on server stream {stream_id}")
        if stream_id <= self._last_id:  # a stream already finished or refused (RFC 9113 5.1)
            self._wbuf.append(w.rst_stream(stream_id, w.STREAM_CLOSED))
            return
        self._last_id = stream_id
        if self.closing or len(self.streams) >= MAX_STREAMS:
            self._wbuf.append(w.rst_stream(stream_id, w.REFUSED_STREAM))
            return
        self._open(stream_id, flags, head)

    def _open(self, stream_id: int, flags: int, head: RequestHead) -> None:
        method, content_type, path, timeout, metadata = head
        if method != b"POST" or not content_type.startswith(b"application/grpc"):
            status = b"405" if method != b"POST" else b"415"
            block = w._literal(b":status", status, 8)
            self._wbuf.append(w.frame(w.HEADERS, w.END_HEADERS | w.END_STREAM, stream_id, block))
            if not flags & w.END_STREAM:
                self._wbuf.append(w.rst_stream(stream_id, w.NO_ERROR))
            return
        stream = Stream(self, stream_id, path, metadata)
        self.streams[stream_id] = stream
        if flags & w.END_STREAM:
            stream.remote_closed = True
        if timeout is not None:
            seconds = w.parse_timeout(timeout)
            if seconds is not None:
                stream.deadline = self.loop.time() + seconds
                self.server.watch_deadline(stream)
        stream.task = self.loop.create_task(self.server.serve(stream))

    def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        if not stream_id:
            raise ProtocolViolation(w.PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)  # flow control counts the padding too
        if flags & w.PADDED:
            if not payload or payload[0] >= size:
                raise ProtocolViolation(w.PROTOCOL_ERROR, "bad padding")
            payload = payload[1 : size - payload[0]]
        self._recv_unacked += size
        if self._recv_unacked > RECV_CONN_WINDOW:
            raise ProtocolViolation(w.FLOW_CONTROL_ERROR, "the connection's window exceeded")
        if self._recv_unacked >= RECV_CONN_WINDOW // 2:
            self._wbuf.append(w.window_update(0, self._recv_unacked))
            self._recv_unacked = 0
        stream = self.streams.get(stream_id)
        if stream is None:
            if stream_id > self._last_id:
                raise ProtocolViolation(w.PROTOCOL_ERROR, f"DATA on idle stream {stream_id}")
            return  # a stream we have finished or reset: the data is dropped
        if stream.remote_closed:
            self._wbuf.append(w.rst_stream(stream_id, w.STREAM_CLOSED))
            self._forget(stream)
            self._abandon(stream)
            return
        stream.unacked += size
        if payload:
            stream.feed(payload)
        if flags & w.END_STREAM:
            stream.end_remote()
        elif stream.unacked >= RECV_STREAM_WINDOW // 2 and stream.queued < RECV_STREAM_WINDOW // 2:
            self.grant(stream)

    def grant(self, stream: Stream) -> None:
        """Gives the peer back the stream's window for what the handler has taken."""
        if stream.id in self.streams and stream.unacked:
            self._wbuf.append(w.window_update(stream.id, stream.unacked))
            stream.unacked = 0
            self.schedule_flush()

    def _on_settings(self, payload: bytes) -> None:
        if len(payload) % 6:
            raise ProtocolViolation(w.FRAME_SIZE_ERROR, "malformed SETTINGS")
        for i in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HI", payload, i)
            if key == w.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > w.MAX_WINDOW:
                    raise ProtocolViolation(w.FLOW_CONTROL_ERROR, "initial window too large")
                delta = value - self.peer_initial_window
                self.peer_initial_window = value
                for stream in self.streams.values():
                    stream.send_window += delta
            elif key == w.SETTINGS_MAX_FRAME_SIZE:
                if not 16384 <= value <= 16777215:
                    raise ProtocolViolation(w.PROTOCOL_ERROR, "bad SETTINGS_MAX_FRAME_SIZE")
                self._max_frame = value
            elif key == w.SETTINGS_ENABLE_PUSH and value > 1:
                raise ProtocolViolation(w.PROTOCOL_ERROR, "bad SETTINGS_ENABLE_PUSH")

    def _on_window_update(self, stream_id: int, increment: int) -> None:
        if stream_id == 0:
            if not increment:
                raise ProtocolViolation(w.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > w.MAX_WINDOW:
                raise ProtocolViolation(w.FLOW_CONTROL_ERROR, "the connection's window overflowed")
            self._unblock()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        stream.send_window += increment
        if not increment or stream.send_window > w.MAX_WINDOW:
            self._wbuf.append(w.rst_stream(stream_id, w.FLOW_CONTROL_ERROR))
            self._forget(stream)
            self._abandon(stream)
            return
        if stream_id in self._blocked:
            self._pump(stream)

    def _unblock(self) -> None:
        for stream in list(self._blocked.values()):
            if self._send_window <= 0:
                return
            self._pump(stream)

    def _reset_by_peer(self, stream: Stream) -> None:
        self._forget(stream)
        self._abandon(stream)

    # --- frames out ------------------------------------------------------------------------------

    def send_headers(self, stream: Stream, block: bytes, end_stream: bool = False) -> None:
        if stream.id not in self.streams:
            return  # reset or timed out meanwhile: a frame on a closed stream would end the connection
        flags = w.END_STREAM if end_stream else 0
        limit = self._max_frame
        if len(block) <= limit:
            self._wbuf.append(w.frame(w.HEADERS, flags | w.END_HEADERS, stream.id, block))
        else:
            self._wbuf.append(w.frame(w.HEADERS, flags, stream.id, block[:limit]))
            for at in range(limit, len(block), limit):
                last = at + limit >= len(block)
                self._wbuf.append(
                    w.frame(w.CONTINUATION, w.END_HEADERS if last else 0, stream.id, block[at : at + limit])
                )
        self.schedule_flush()

    def send_message(self, stream: Stream, message: bytes) -> bool:
        """Queues one gRPC message; True when it went out whole (else it waits for a window)."""
        if stream.id not in self.streams:
            return True
        stream.out.append(memoryview(b"\0" + len(message).to_bytes(4, "big") + message))
        self.schedule_flush()
        return self._pump(stream)

    def send_unary(self, stream: Stream, message: bytes, trailers: bytes) -> None:
        """A unary call's reply: the headers (unless sent), the one message and these trailers, in
        one piece when the windows take the whole message now (else as ``send_message``, ``finish``)."""
        n = len(message) + 5
        if (
            n <= self._send_window
            and n <= stream.send_window
            and n <= self._max_frame
            and len(trailers) <= self._max_frame
            and not stream.out
            and not stream.finished
            and stream.id in self.streams
        ):
            sid = stream.id
            pack = w.FRAME_HEAD.pack
            head = b""
            if not stream.headers_sent:
                stream.headers_sent = True
                head = pack(0, len(w.RESPONSE_HEAD), w.HEADERS, w.END_HEADERS, sid) + w.RESPONSE_HEAD
            t = len(trailers)
            self._wbuf.append(
                b"".join(
                    (
                        head,
                        pack(n >> 16, n & 0xFFFF, w.DATA, 0, sid),
                        b"\0",
                        (n - 5).to_bytes(4, "big"),
                        message,
                        pack(t >> 16, t & 0xFFFF, w.HEADERS, w.END_HEADERS | w.END_STREAM, sid),
                        trailers,
                    )
                )
            )
            self._send_window -= n
            stream.send_window -= n
            stream.finished = True
            self._closed_locally(stream)
            self.schedule_flush()
            stream.wake_writer()
            stream._wake_reader()
            return
        if not stream.headers_sent:
            stream.headers_sent = True
            self.send_headers(stream, w.RESPONSE_HEAD)
        self.send_message(stream, message)
        self.finish(stream, trailers)

    def finish(self, stream: Stream, block: bytes) -> None:
        """Ends the stream with these trailers (after the data still queued)."""
        if stream.finished:
            return
        stream.finished = True
        if not stream.out:
            self.send_headers(stream, block, end_stream=True)
            self._closed_locally(stream)
        else:
            stream.trailers = block
        stream.wake_writer()
        stream._wake_reader()

    def _pump(self, stream: Stream) -> bool:
        out = stream.out
        wbuf = self._wbuf
        while out:
            data = out[0]
            room = min(self._send_window, stream.send_window, self._max_frame)
            if room <= 0:
                self._blocked[stream.id] = stream
                return False
            n = len(data)
            if n <= room:
                out.popleft()
            else:
                out[0] = data[room:]
                data = data[:room]
                n = room
            wbuf.append(w.FRAME_HEAD.pack(n >> 16, n & 0xFFFF, w.DATA, 0, stream.id) + data)
            self._send_window -= n
            stream.send_window -= n
        self._blocked.pop(stream.id, None)
        self.schedule_flush()
        if stream.trailers is not None:
            block, stream.trailers = stream.trailers, None
            self.send_headers(stream, block, end_stream=True)
            self._closed_locally(stream)
        stream.wake_writer()
        return True

    def _closed_locally(self, stream: Stream) -> None:
        if not stream.remote_closed:
            # The reply is complete while the client still sends: ask it to stop (RFC 9113 8.1).
            self._wbuf.append(w.rst_stream(stream.id, w.NO_ERROR))
        self._forget(stream)

    def reset(self, stream: Stream, code: int) -> None:
        """RST_STREAM: the call ends without a status (a handler that ended by cancellation)."""
        if stream.id in self.streams:
            self._wbuf.append(w.rst_stream(stream.id, code))
            self.schedule_flush()
            self._forget(stream)
        stream.finished = True
        stream.out.clear()

    def fail_stream(self, stream: Stream, code: int, details: str) -> None:
        """Ends the call with this status from the connection's side and stops its handler."""
        if stream.finished:
            return
        if stream.call is not None:
            stream.call.ended_by_server = True
        stream.out.clear()
        self.finish(stream, _status_block(stream, code, details))
        if stream.task is not None:
            stream.task.cancel()

    def _forget(self, stream: Stream) -> None:
        self.streams.pop(stream.id, None)
        self._blocked.pop(stream.id, None)
        if self.closing and not self.streams:
            self.loop.call_soon(self._close_if_done)

    def _abandon(self, stream: Stream) -> None:
        """The stream is gone (reset, connection lost): its handler is cancelled."""
        stream.finished = True
        stream.out.clear()
        if stream.call is not None:
            stream.call.cancelled_by_peer()
        if stream.task is not None and not stream.task.done():
            stream.task.cancel()
        stream.wake_writer()
        stream._wake_reader()

    def schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._wbuf:
            data = b"".join(self._wbuf)
            self._wbuf.clear()
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)

    # --- shutdown --------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """GOAWAY: streams up to the last one opened finish, no new ones; closes when none is left."""
        if self._goaway_sent:
            return
        self._goaway_sent = self.closing = True
        self._wbuf.append(w.goaway(self._last_id, w.NO_ERROR))
        self.schedule_flush()
        if not self.streams:
            self.loop.call_soon(self._close_if_done)

    def cancel_streams(self) -> None:
        for stream in list(self.streams.values()):
            self._wbuf.append(w.rst_stream(stream.id, w.CANCEL))
            self._forget(stream)
            self._abandon(stream)
        self._flush()
        self._close()

    def _close_if_done(self) -> None:
        if not self.streams:
            self._flush()
            self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class RequestHead(NamedTuple):
    """What a request's header block says to this server."""

    method: bytes
    content_type: bytes
    path: str
    timeout: bytes | None
    metadata: tuple[tuple[str, str | bytes], ...]


def _request_head(fields: list[tuple[bytes, bytes]]) -> RequestHead:
    path = method = content_type = b""
    timeout: bytes | None = None
    metadata: list[tuple[str, str | bytes]] = []
    for name, value in fields:
        if name[:1] == b":":
            if name == b":path":
                path = value
            elif name == b":method":
                method = value
            continue
        key = name.decode("latin-1")
        if key == "content-type":
            content_type = value
        elif key == "grpc-timeout":
            timeout = value
        elif key not in _TRANSPORT_HEADERS:
            metadata.append((key, w.decode_metadata_value(key, value)))
    return RequestHead(method, content_type, path.decode("latin-1"), timeout, tuple(metadata))


def _status_block(stream: Stream, code: int, details: str) -> bytes:
    block = w.trailers_block(code, details)
    return block if stream.headers_sent else w.RESPONSE_HEAD + block


def _peer(transport: asyncio.BaseTransport) -> str:
    name = transport.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        host = str(name[0])
        return f"ipv6:[{host}]:{name[1]}" if ":" in host else f"ipv4:{host}:{name[1]}"
    sock = transport.get_extra_info("sockname")
    return f"unix:{sock}" if isinstance(sock, str) else "unix:"
