"""Two minimal gRPC unary servers on asyncio protocols, measurement tools for bench/grpc_servers.py
(issue 16), not product code: one on the ``h2`` state machine, one on a hand-written HTTP/2 frame
layer that uses only ``hpack`` for header blocks.

Both answer a real grpcio client correctly for unary calls: the server preface and SETTINGS
acknowledgements, PING acknowledgements, response HEADERS, the message in DATA frames with the
5-byte gRPC prefix, trailers with ``grpc-status``, WINDOW_UPDATEs for what they receive and the
peer's windows respected for what they send. They do not do streaming calls, deadlines
(``grpc-timeout``), compression, TLS, keepalive policing, GOAWAY on shutdown or size limits.

A handler is ``async (message: bytes, headers: list[tuple[bytes, bytes]]) -> bytes`` keyed by the
method's path (``b"/pkg.Service/Method"``). ``python bench/_grpc_prototypes.py`` checks both against
a ``grpc.aio`` client (see ``check``).
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack

Handler = Callable[[bytes, list[tuple[bytes, bytes]]], Awaitable[bytes]]
Handlers = dict[bytes, Handler]

_UNIMPLEMENTED = 12
_INTERNAL = 13


def _grpc_message(body: bytes) -> bytes | None:
    """The one uncompressed message of a unary request body, None when it is not one."""
    if len(body) < 5 or body[0] != 0:
        return None
    length = int.from_bytes(body[1:5], "big")
    if len(body) != 5 + length:
        return None
    return body[5:]


# --- h2 ------------------------------------------------------------------------------------------

_H2_RESPONSE = [(b":status", b"200"), (b"content-type", b"application/grpc")]
_H2_OK = [(b"grpc-status", b"0")]


class H2GrpcServer(asyncio.Protocol):
    """gRPC unary calls on h2's HTTP/2 state machine; h2 keeps the windows and acks PINGs/SETTINGS."""

    def __init__(self, handlers: Handlers) -> None:
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._conn = h2.connection.H2Connection(config=config)
        self._handlers = handlers
        self._transport: asyncio.Transport | None = None
        self._requests: dict[int, tuple[list[tuple[bytes, bytes]], list[bytes]]] = {}
        self._blocked: dict[int, bytes] = {}  # stream -> data waiting for the peer's window
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no asyncio.Transport subclass, hence the cast, not a check.
        self._transport = tr = cast(asyncio.Transport, transport)
        self._conn.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20}
        )
        self._conn.initiate_connection()
        self._conn.increment_flow_control_window((1 << 24) - 65535)
        tr.write(self._conn.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self._tasks:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            assert self._transport is not None
            self._transport.write(conn.data_to_send())
            self._transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self._requests[event.stream_id][1].append(event.data)
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.RequestReceived):
                self._requests[event.stream_id] = (event.headers, [])
            elif isinstance(event, h2.events.StreamEnded):
                self._dispatch(event.stream_id)
            elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                self._unblock()
            elif isinstance(event, h2.events.StreamReset):
                self._requests.pop(event.stream_id, None)
                self._blocked.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                assert self._transport is not None
                self._transport.close()
        out = conn.data_to_send()
        if out:
            assert self._transport is not None
            self._transport.write(out)

    def _dispatch(self, stream_id: int) -> None:
        headers, chunks = self._requests.pop(stream_id)
        path = next((v for k, v in headers if k == b":path"), b"")
        handler = self._handlers.get(path)
        message = _grpc_message(b"".join(chunks))
        if handler is None or message is None:
            status = _UNIMPLEMENTED if handler is None else _INTERNAL
            self._conn.send_headers(
                stream_id, [*_H2_RESPONSE, (b"grpc-status", str(status).encode())], end_stream=True
            )
            return
        task = asyncio.get_running_loop().create_task(self._call(stream_id, handler, message, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(
        self, stream_id: int, handler: Handler, message: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        reply = await handler(message, headers)
        conn = self._conn
        if conn.state_machine.state is h2.connection.ConnectionState.CLOSED:
            return
        try:
            conn.send_headers(stream_id, _H2_RESPONSE)
        except h2.exceptions.StreamClosedError:
            return
        self._blocked[stream_id] = b"\0" + len(reply).to_bytes(4, "big") + reply
        self._send_blocked(stream_id)
        assert self._transport is not None
        self._transport.write(conn.data_to_send())

    def _send_blocked(self, stream_id: int) -> None:
        conn = self._conn
        data = self._blocked[stream_id]
        while data:
            room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if room <= 0:
                self._blocked[stream_id] = data
                return
            conn.send_data(stream_id, data[:room])
            data = data[room:]
        del self._blocked[stream_id]
        conn.send_headers(stream_id, _H2_OK, end_stream=True)

    def _unblock(self) -> None:
        for stream_id in list(self._blocked):
            self._send_blocked(stream_id)


# --- a hand-written frame layer ------------------------------------------------------------------

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS, _PUSH_PROMISE, _PING, _GOAWAY = range(8)
_WINDOW_UPDATE, _CONTINUATION = 8, 9
_END_STREAM = _ACK = 0x1
_END_HEADERS = 0x4
_PADDED = 0x8
_PRIORITY_FLAG = 0x20
_SETTINGS_INITIAL_WINDOW = 0x4
_SETTINGS_MAX_FRAME = 0x5
_FRAME_HEAD = struct.Struct(">BHBBI")  # length (24 bits as 8 + 16), type, flags, stream id
_RECV_STREAM_WINDOW = 1 << 20
_RECV_CONN_WINDOW = 1 << 24


def _frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    n = len(payload)
    return _FRAME_HEAD.pack(n >> 16, n & 0xFFFF, kind, flags, stream_id) + payload


def _fixed_block(headers: list[tuple[str, str]]) -> bytes:
    """A header block that never touches the peer's dynamic table (static-table hits and
    never-indexed literals), so the same bytes stay valid for the whole connection."""
    return hpack.Encoder().encode([hpack.NeverIndexedHeaderTuple(k, v) for k, v in headers])


_RESPONSE_BLOCK = _fixed_block([(":status", "200"), ("content-type", "application/grpc")])
_OK_BLOCK = _fixed_block([("grpc-status", "0")])


def _trailers_only(status: int) -> bytes:
    block = _fixed_block(
        [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", str(status))]
    )
    return block


class FrameGrpcServer(asyncio.Protocol):
    """gRPC unary calls on a hand-written HTTP/2 frame parser; hpack only decodes header blocks."""

    def __init__(self, handlers: Handlers) -> None:
        self._handlers = handlers
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._buf = b""
        self._preface = False
        self._decoder = hpack.Decoder()
        # Blocks made only of one-byte indexed fields leave the dynamic table as it is, so while it
        # is unchanged the same bytes decode to the same headers (a grpcio client's repeated call
        # to one method without a deadline sends the same block every time).
        self._decoded: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self._replies: list[bytes] = []  # replies of this loop iteration, written together
        self._partial: tuple[int, int, bytes] | None = None  # (stream, flags, block) until END_HEADERS
        # stream -> [headers, body chunks, bytes received since our last WINDOW_UPDATE for it]
        self._requests: dict[int, list[Any]] = {}
        self._send_windows: dict[int, int] = {}  # open streams -> the peer's window for our DATA
        self._conn_window = 65535
        self._peer_initial = 65535
        self._max_frame = 16384
        self._unacked = 0  # connection-level bytes received since our last WINDOW_UPDATE
        self._blocked: deque[list[Any]] = deque()  # [stream, data left] waiting for a window
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = tr = cast(asyncio.Transport, transport)
        settings = struct.pack(">HI", _SETTINGS_INITIAL_WINDOW, _RECV_STREAM_WINDOW)
        grow = struct.pack(">I", _RECV_CONN_WINDOW - 65535)
        tr.write(_frame(_SETTINGS, 0, 0, settings) + _frame(_WINDOW_UPDATE, 0, 0, grow))

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self._tasks:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        if not self._preface:
            if len(buf) < len(_PREFACE):
                self._buf = buf
                return
            if not buf.startswith(_PREFACE):
                assert self._transport is not None
                self._transport.close()
                return
            self._preface = True
            buf = buf[len(_PREFACE) :]
        out: list[bytes] = []
        pos, end = 0, len(buf)
        unpack = _FRAME_HEAD.unpack_from
        while end - pos >= 9:
            high, low, kind, flags, stream_id = unpack(buf, pos)
            stop = pos + 9 + (high << 16 | low)
            if stop > end:
                break
            payload = buf[pos + 9 : stop]
            pos = stop
            stream_id &= 0x7FFFFFFF
            if kind == _DATA:
                self._on_data(stream_id, flags, payload, out)
            elif kind == _HEADERS:
                self._on_headers(stream_id, flags, payload, out)
            elif kind == _CONTINUATION and self._partial is not None:
                sid, first_flags, block = self._partial
                self._partial = None
                self._on_headers(
                    sid, (first_flags & ~(_PADDED | _PRIORITY_FLAG)) | flags, block + payload, out
                )
            elif kind == _SETTINGS:
                if not flags & _ACK:
                    self._on_settings(payload)
                    out.append(_frame(_SETTINGS, _ACK, 0, b""))
            elif kind == _PING:
                if not flags & _ACK:
                    out.append(_frame(_PING, _ACK, 0, payload))
            elif kind == _WINDOW_UPDATE:
                self._on_window_update(stream_id, int.from_bytes(payload, "big") & 0x7FFFFFFF, out)
            elif kind == _RST_STREAM:
                self._requests.pop(stream_id, None)
                self._send_windows.pop(stream_id, None)
            elif kind == _GOAWAY:
                assert self._transport is not None
                self._transport.close()
                return
            # PRIORITY, PUSH_PROMISE (never sent to a server) and unknown frames are ignored.
        self._buf = buf[pos:] if pos < end else b""
        if out:
            assert self._transport is not None
            if self._replies:  # replies framed earlier go first: out may hold DATA of theirs
                out[:0] = self._replies
                self._replies = []
            self._transport.write(b"".join(out))

    def _on_headers(self, stream_id: int, flags: int, payload: bytes, out: list[bytes]) -> None:
        if flags & _PADDED:
            payload = payload[1 : len(payload) - payload[0]]
        if flags & _PRIORITY_FLAG:
            payload = payload[5:]
        if not flags & _END_HEADERS:
            self._partial = (stream_id, flags & ~(_PADDED | _PRIORITY_FLAG), payload)
            return
        # Every block is decoded, even ignored ones: the peer's dynamic table depends on it.
        headers = self._decoded.get(payload)
        if headers is None:
            headers = cast(list[tuple[bytes, bytes]], self._decoder.decode(payload, raw=True))
            if payload and min(payload) > 0x80 and 0xFF not in payload:
                self._decoded[payload] = headers
            else:
                self._decoded.clear()  # the table may have changed
        if stream_id not in self._requests:
            self._requests[stream_id] = [headers, [], 0]
            self._send_windows[stream_id] = self._peer_initial
        if flags & _END_STREAM:
            self._dispatch(stream_id, out)

    def _on_data(self, stream_id: int, flags: int, payload: bytes, out: list[bytes]) -> None:
        size = len(payload)  # flow control counts the padding too
        if flags & _PADDED:
            payload = payload[1 : size - payload[0]]
        self._unacked += size
        if self._unacked >= _RECV_CONN_WINDOW // 2:
            out.append(_frame(_WINDOW_UPDATE, 0, 0, self._unacked.to_bytes(4, "big")))
            self._unacked = 0
        request = self._requests.get(stream_id)
        if request is None:
            return
        request[1].append(payload)
        if flags & _END_STREAM:
            self._dispatch(stream_id, out)
            return
        request[2] += size
        if request[2] >= _RECV_STREAM_WINDOW // 2:
            out.append(_frame(_WINDOW_UPDATE, 0, stream_id, request[2].to_bytes(4, "big")))
            request[2] = 0

    def _on_settings(self, payload: bytes) -> None:
        for i in range(0, len(payload) - 5, 6):
            key, value = struct.unpack_from(">HI", payload, i)
            if key == _SETTINGS_INITIAL_WINDOW:
                delta = value - self._peer_initial
                self._peer_initial = value
                for sid in self._send_windows:
                    self._send_windows[sid] += delta
            elif key == _SETTINGS_MAX_FRAME:
                self._max_frame = value

    def _on_window_update(self, stream_id: int, increment: int, out: list[bytes]) -> None:
        if stream_id == 0:
            self._conn_window += increment
        elif stream_id in self._send_windows:
            self._send_windows[stream_id] += increment
        while self._blocked:
            entry = self._blocked[0]
            if not self._send_data(entry, out):
                return
            self._blocked.popleft()

    def _dispatch(self, stream_id: int, out: list[bytes]) -> None:
        headers, chunks, _ = self._requests.pop(stream_id)
        path = next((v for k, v in headers if k == b":path"), b"")
        handler = self._handlers.get(path)
        message = _grpc_message(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if handler is None or message is None:
            status = _UNIMPLEMENTED if handler is None else _INTERNAL
            del self._send_windows[stream_id]
            out.append(_frame(_HEADERS, _END_HEADERS | _END_STREAM, stream_id, _trailers_only(status)))
            return
        task = self._loop.create_task(self._call(stream_id, handler, message, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(
        self, stream_id: int, handler: Handler, message: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        reply = await handler(message, headers)
        if stream_id not in self._send_windows or self._transport is None:
            return  # reset by the peer meanwhile
        out = [_frame(_HEADERS, _END_HEADERS, stream_id, _RESPONSE_BLOCK)]
        entry = [stream_id, b"\0" + len(reply).to_bytes(4, "big") + reply]
        if not self._send_data(entry, out):
            self._blocked.append(entry)
        if not self._replies:
            self._loop.call_soon(self._flush)
        self._replies += out

    def _flush(self) -> None:
        if self._replies and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._replies))
        self._replies = []

    def _send_data(self, entry: list[Any], out: list[bytes]) -> bool:
        """Frames as much of entry's data as the windows allow, then the trailers; True when done."""
        stream_id, data = entry
        if stream_id not in self._send_windows:
            return True
        while data:
            room = min(self._conn_window, self._send_windows[stream_id], self._max_frame, len(data))
            if room <= 0:
                entry[1] = data
                return False
            out.append(_frame(_DATA, 0, stream_id, data[:room]))
            self._conn_window -= room
            self._send_windows[stream_id] -= room
            data = data[room:]
        del self._send_windows[stream_id]
        out.append(_frame(_HEADERS, _END_HEADERS | _END_STREAM, stream_id, _OK_BLOCK))
        return True


async def start(kind: str, handlers: Handlers, host: str = "127.0.0.1") -> tuple[asyncio.AbstractServer, int]:
    """Listens with the ``"h2"`` or ``"frames"`` prototype; returns the server and its port."""
    protocol = H2GrpcServer if kind == "h2" else FrameGrpcServer
    server = await asyncio.get_running_loop().create_server(lambda: protocol(handlers), host, 0)
    return server, server.sockets[0].getsockname()[1]


async def check(kind: str) -> None:
    """Raises AssertionError unless the prototype answers a grpc.aio client correctly: messages from
    0 B to 20 MiB (several frames, both peers' windows), 400 concurrent calls of mixed sizes, a slow
    handler, metadata, an unknown method, a cancelled call and calls after it, a deadline."""
    import os

    import grpc

    async def echo(message: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        if message == b"slow":
            await asyncio.sleep(0.01)
        return message

    server, port = await start(kind, {b"/bench.Echo/Call": echo})
    limits = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=limits) as channel:
            call = channel.unary_unary("/bench.Echo/Call")
            for size in (0, 1, 1024, 16379, 16384, 70000, 1 << 20, 5 << 20, 20 << 20):
                body = os.urandom(size)
                assert await call(body, metadata=[("x-a", "b"), ("x-bin", b"\0c")]) == body, size
            bodies = [os.urandom(n * 997 % 300000) for n in range(400)]
            assert await asyncio.gather(*(call(b) for b in bodies)) == bodies
            assert await call(b"slow") == b"slow"
            try:
                await channel.unary_unary("/bench.Echo/Nope")(b"x")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNIMPLEMENTED, exc.code()
            else:
                raise AssertionError("an unknown method answered")
            pending = asyncio.ensure_future(call(b"slow"))
            await asyncio.sleep(0.001)
            pending.cancel()
            assert await call(b"after", timeout=5) == b"after"
    finally:
        server.close()


if __name__ == "__main__":
    import uvloop

    for name in ("h2", "frames"):
        uvloop.run(check(name))
        print(f"{name}: answers grpc.aio correctly")
