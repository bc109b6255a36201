"""One server-side HTTP/1.1 connection: parsing with httptools, pipelining, limits, response framing,
and the upgrade to a multiplexed peer connection (``_frames.py``) where the server offers it."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any, cast

import httptools

from pydapr import errors
from pydapr.http import _frames
from pydapr.http._mux_server import PeerConnection
from pydapr.http._wire import encode_head, header_name, status_line
from pydapr.http.messages import Headers, Request, Response

if TYPE_CHECKING:
    from pydapr.http.server import HttpServer

# Response headers the server owns: framing and connection management must match what it writes.
_OWNED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "date"})
_NO_BODY_STATUSES = frozenset({204, 304})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Pipelined requests queued beyond this stop reading until the queue drains to _QUEUE_LOW.
_QUEUE_HIGH = 32
_QUEUE_LOW = 8
# After an error response, unread request bytes would make close() send RST and could destroy the
# response before the peer reads it; drain for a moment first.
_LINGER = 2.0
_SMALL_BODY = 64 * 1024
_SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: "
    + _frames.UPGRADE.encode()
    + b"\r\n\r\n"
)


class _Stop(Exception):
    """Raised from parser callbacks to abort parsing; the reason is kept on the connection."""


class _Req(Request):
    """A request that also remembers how the connection continues after its response."""

    __slots__ = ("keep_alive", "v10")

    keep_alive: bool
    v10: bool


class Connection(asyncio.Protocol):
    """Serves the requests of one accepted socket, in order, through the server's handler."""

    __slots__ = (
        "_active",
        "_body_len",
        "_client",
        "_closing",
        "_continue_due",
        "_cur",
        "_dead",
        "_error",
        "_hdr_bytes",
        "_hdr_pending",
        "_headers",
        "_identity",
        "_in_headers",
        "_last_active",
        "_linger",
        "_loop",
        "_msg_no",
        "_parser",
        "_parts",
        "_paused_writing",
        "_queue",
        "_reading_paused",
        "_srv",
        "_task",
        "_transport",
        "_upgrade",
        "_url",
    )

    def __init__(self, srv: HttpServer) -> None:
        self._srv = srv
        self._loop = srv._loop
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client: tuple[str, int] | None = None
        self._identity: Any = None
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._hdr_bytes = 0
        self._hdr_pending = 0
        self._in_headers = False
        self._msg_no = 0
        self._parts: list[bytes] = []
        self._body_len = 0
        self._cur: _Req | None = None
        self._queue: deque[_Req] = deque()
        self._task: asyncio.Task[Response] | None = None
        self._active: _Req | None = None
        self._error: errors.DaprError | None = None
        self._dead = False
        self._closing = False
        self._continue_due = False
        self._reading_paused = False
        self._paused_writing = False
        self._linger: asyncio.TimerHandle | None = None
        self._last_active = srv._now
        self._upgrade: _Req | None = None

    # --- transport events -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        identify = self._srv._identify
        if identify is not None:
            # An mTLS listener: the handshake verified the client's certificate; a certificate that
            # names no workload (no SPIFFE id) is refused before any request is read.
            self._identity = identify(transport.get_extra_info("peercert"))
            if self._identity is None:
                transport.abort()
                return
        self._srv._conns.add(self)
        if self._srv._stopping:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._srv._conns.discard(self)
        self._queue.clear()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._task is not None:
            self._task.cancel()
        if not self._srv._conns and self._srv._drained is not None:
            self._srv._drained.set()

    def data_received(self, data: bytes) -> None:
        if self._dead:
            return
        self._last_active = self._srv._now
        msg_no = self._msg_no
        in_headers = self._in_headers
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self._upgrade is not None:
                self._switch(data[exc.args[0] :])
                return
            # Other upgrades are not supported: answer the request as a plain one, then close.
            self._dead = True
            last = self._queue[-1] if self._queue else self._active
            if last is not None:
                last.keep_alive = False
            return
        except httptools.HttpParserError as exc:
            if self._dead and self._error is None:
                return  # bytes after a request that ends the connection
            err = self._error or errors.DaprError(errors.MALFORMED_REQUEST, f"malformed HTTP request: {exc}")
            self._fail(err)
            return
        if self._in_headers:
            # The parser buffers a header line internally until it ends, so a peer trickling one
            # endless line is only seen here: count whole chunks spent inside one header block.
            if in_headers and msg_no == self._msg_no:
                self._hdr_pending += len(data)
            if max(self._hdr_pending, self._hdr_bytes) > self._srv._max_header:
                self._fail(self._too_big_headers())

    def eof_received(self) -> bool | None:
        # Like Go's net/http, a peer's EOF means it has gone: half-closed clients that still wait
        # for answers are rare, clients that gave up are not, and their handlers should stop.
        return False

    def pause_writing(self) -> None:
        self._paused_writing = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._paused_writing = False
        self._update_reading()
        if self._task is None:
            self._next()

    # --- parser callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._dead:
            raise _Stop
        self._msg_no += 1
        self._in_headers = True
        self._url = b""
        self._headers = []
        self._hdr_bytes = 0
        self._hdr_pending = 0
        self._body_len = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._hdr_bytes += len(url)
        if self._hdr_bytes > self._srv._max_header:
            self._error = self._too_big_headers()
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        self._hdr_bytes += len(name) + len(value) + 4
        if self._hdr_bytes > self._srv._max_header:
            self._error = self._too_big_headers()
            raise _Stop
        self._headers.append((header_name(name), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._in_headers = False
        parser = self._parser
        url = self._url
        if url[:1] == b"/":
            raw_path, _, raw_query = url.partition(b"?")
        elif url == b"*":
            raw_path, raw_query = url, b""
        else:
            try:
                parsed = httptools.parse_url(url)
                raw_path, raw_query = parsed.path or b"/", parsed.query or b""
            except httptools.HttpParserInvalidURLError:
                raw_path, raw_query = url, b""
        req = _Req(
            parser.get_method().decode("ascii"),
            raw_path.decode("latin-1"),
            raw_query.decode("latin-1"),
            Headers.from_lowercase(self._headers),
            b"",
            self._client,
        )
        req.identity = self._identity
        req.keep_alive = parser.should_keep_alive()
        req.v10 = parser.get_http_version() == "1.0"
        self._cur = req
        expect = None
        for k, v in self._headers:
            if k == "content-length":
                # The parser has already rejected non-numeric and conflicting lengths.
                length = int(v)
                if length > self._srv._max_body:
                    self._error = errors.BODY_TOO_LARGE(length, self._srv._max_body)
                    raise _Stop
            elif k == "expect":
                expect = v
        if expect is not None and expect.lower() == "100-continue" and not req.v10:
            if self._task is None and not self._queue:
                self._write(_CONTINUE)
            else:
                self._continue_due = True

    def on_body(self, data: bytes) -> None:
        n = self._body_len + len(data)
        if n > self._srv._max_body:
            self._error = errors.BODY_TOO_LARGE(n, self._srv._max_body)
            raise _Stop
        self._body_len = n
        self._parts.append(data)

    def on_message_complete(self) -> None:
        req = self._cur
        assert req is not None
        self._cur = None
        self._continue_due = False
        parts = self._parts
        if parts:
            req.body = b"".join(parts)
            parts.clear()
        if not req.keep_alive:
            self._dead = True
        if (
            self._srv._peers
            and req.method == "GET"
            and self._task is None
            and not self._queue
            and self._parser.should_upgrade()
            and req.headers.get("upgrade") == _frames.UPGRADE
        ):
            # Another sidecar asks for the multiplexed connection: the switch follows at once
            # (the parser stops on the upgrade), and no handler sees this request.
            self._upgrade = req
            self._dead = True
            return
        if self._task is None and not self._queue and not self._paused_writing:
            self._start(req)
        else:
            self._queue.append(req)
            self._update_reading()

    def _switch(self, rest: bytes) -> None:
        t = self._transport
        if t is None:
            return
        t.write(_SWITCHING)
        peer = PeerConnection(self._srv, self._identity, self._client)
        self._srv._conns.discard(self)
        self._srv._conns.add(peer)
        self._transport = None
        t.set_protocol(peer)
        peer.connection_made(t)
        if self._reading_paused:
            t.resume_reading()
        if rest:
            peer.data_received(rest)

    # --- request handling -------------------------------------------------------------------
    def _start(self, req: _Req) -> None:
        self._active = req
        try:
            coro = self._srv._handler(req)
        except Exception as exc:
            self._respond(req, self._srv.handler_failure(req, exc))
            return
        task: asyncio.Task[Response] = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._task = task
        self._srv.in_flight += 1
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Response]) -> None:
        self._task = None
        self._srv.in_flight -= 1
        req = self._active
        self._active = None
        if self._transport is None or req is None:
            if not task.cancelled():
                task.exception()  # retrieved so asyncio does not log it as unhandled
            return
        if task.cancelled():
            resp = self._srv.handler_failure(req, errors.INTERNAL("request handling was cancelled"))
            req.keep_alive = False
        else:
            exc = task.exception()
            resp = task.result() if exc is None else self._srv.handler_failure(req, exc)
        self._respond(req, resp)

    def _respond(self, req: _Req, resp: Response) -> None:
        close = not req.keep_alive or self._closing
        try:
            data, close = self._encode(req, resp, close)
        except Exception as exc:
            data, close = self._encode(req, self._srv.handler_failure(req, exc), close)
        self._write(data)
        if close:
            self._close_after_write()
            return
        self._last_active = self._srv._now
        self._next()

    def _encode(self, req: _Req, resp: Response, close: bool) -> tuple[bytes | tuple[bytes, bytes], bool]:
        if not isinstance(resp, Response):
            raise TypeError(f"handler returned {type(resp).__name__}, not Response")
        status = resp.status
        parts = [status_line(status)]
        length: str | None = None
        has_date = False
        for k, v in resp.headers.items():
            if k in _OWNED:
                if k == "date":
                    has_date = True
                    parts.append(f"date: {v}\r\n")
                elif k == "content-length":
                    length = v
                elif k == "connection" and "close" in v.lower():
                    close = True
                continue
            parts.append(f"{k}: {v}\r\n")
        if not has_date:
            parts.append(self._srv._date)
        body = resp.body
        if status in _NO_BODY_STATUSES or status < 200:
            body = b""
        else:
            if req.method == "HEAD":
                # A HEAD answer relayed from elsewhere keeps the length of the body it stands for.
                if body or length is None or not length.isdigit():
                    length = str(len(body))
                body = b""
            else:
                length = str(len(body))
            parts.append(f"content-length: {length}\r\n")
        if close:
            parts.append("connection: close\r\n")
        elif req.v10:
            parts.append("connection: keep-alive\r\n")
        parts.append("\r\n")
        head = encode_head(parts)
        if not body:
            return head, close
        if len(body) <= _SMALL_BODY:
            return head + body, close
        return (head, body), close

    def _write(self, data: bytes | tuple[bytes, bytes]) -> None:
        t = self._transport
        if t is None:
            return
        if isinstance(data, tuple):
            t.writelines(data)
        else:
            t.write(data)

    def _next(self) -> None:
        if self._transport is None or self._task is not None:
            return
        if self._queue:
            if self._paused_writing:
                return
            req = self._queue.popleft()
            self._update_reading()
            self._start(req)
        elif self._error is not None and self._dead:
            err, self._error = self._error, None
            self._send_error(err)
        elif self._continue_due:
            self._continue_due = False
            self._write(_CONTINUE)

    def _update_reading(self) -> None:
        t = self._transport
        if t is None:
            return
        want_pause = self._paused_writing or len(self._queue) >= _QUEUE_HIGH
        if want_pause and not self._reading_paused:
            self._reading_paused = True
            t.pause_reading()
        elif self._reading_paused and not want_pause and len(self._queue) <= _QUEUE_LOW:
            self._reading_paused = False
            t.resume_reading()

    # --- errors and closing -----------------------------------------------------------------
    def _too_big_headers(self) -> errors.DaprError:
        return errors.HEADERS_TOO_LARGE()

    def _fail(self, err: errors.DaprError) -> None:
        """Answer a request that could not be parsed, after any responses still owed, then close."""
        self._dead = True
        self._error = err
        self._cur = None
        self._parts.clear()
        if self._task is None and not self._queue:
            self._error = None
            self._send_error(err)

    def _send_error(self, err: errors.DaprError) -> None:
        status = err.http_status
        body = err.http_body()
        head = encode_head(
            [
                status_line(status),
                "content-type: application/json\r\n",
                self._srv._date,
                f"content-length: {len(body)}\r\n",
                "connection: close\r\n",
                "\r\n",
            ]
        )
        self._write(head + body)
        self._close_after_write(linger=True)

    def _close_after_write(self, *, linger: bool = False) -> None:
        t = self._transport
        if t is None:
            return
        self._dead = True
        if linger and t.can_write_eof() and not self._srv._stopping:
            t.write_eof()
            if self._reading_paused:
                self._reading_paused = False
                t.resume_reading()
            self._linger = self._loop.call_later(_LINGER, t.close)
        else:
            t.close()

    def tasks(self) -> list[asyncio.Task[Response]]:
        return [self._task] if self._task is not None else []

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def shutdown(self) -> None:
        self._closing = True
        self._dead = True
        self._queue.clear()
        if self._task is None and self._transport is not None:
            self._transport.close()

    def idle_for(self, now: float) -> float:
        if self._task is not None or self._queue:
            return 0.0
        return now - self._last_active
