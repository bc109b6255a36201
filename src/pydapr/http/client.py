"""Pooled keep-alive HTTP/1.1 client on asyncio protocols and httptools, for the sidecar's hot paths.

Responses are read whole; one request at a time per connection (no pipelining).
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from typing import cast

import httptools

from pydapr.http._wire import encode_head, header_name
from pydapr.http.messages import Headers, Response

# Framing and connection management belong to the client: a caller's copy of these would
# contradict the bytes actually sent.
_DROP = frozenset({"transfer-encoding", "connection", "keep-alive", "content-length"})
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SMALL_BODY = 64 * 1024

_PoolKey = tuple[str, int, "_ssl.SSLContext | None", "str | None", "str | None"]


class HttpClientError(Exception):
    """Any failure of an exchange with an upstream server."""


class ConnectError(HttpClientError):
    """No connection could be made; the request was not sent, so retrying is safe."""


class ConnectionLost(HttpClientError):
    """The connection dropped after the request was (maybe) sent."""


class RequestTimeout(HttpClientError, TimeoutError):
    """The whole exchange did not finish in time; the connection was discarded."""


class ResponseTooLarge(HttpClientError):
    """The response body exceeded ``max_response_body``; the connection was discarded."""


class _Stale(ConnectionLost):
    """Closed before any response byte arrived: on a reused connection, a race with the idle close."""


class _Stop(Exception):
    """Raised from parser callbacks to abort parsing."""


class _Conn(asyncio.Protocol):
    __slots__ = (
        "_body_len",
        "_error",
        "_framed",
        "_fut",
        "_got_bytes",
        "_head",
        "_headers",
        "_headers_done",
        "_loop",
        "_max_body",
        "_owner",
        "_parser",
        "_parts",
        "closed",
        "idle_since",
        "reusable",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, max_body: int | None, owner: set[_Conn]) -> None:
        self._loop = loop
        self._owner = owner
        self._max_body = max_body
        self._parser = httptools.HttpResponseParser(self)
        self._fut: asyncio.Future[Response] | None = None
        self._head = False
        self._got_bytes = False
        self._headers: list[tuple[str, str]] = []
        self._headers_done = False
        self._framed = False
        self._parts: list[bytes] = []
        self._body_len = 0
        self._error: HttpClientError | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        self._owner.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self.transport = None
        self._owner.discard(self)
        fut = self._fut
        if fut is None or fut.done():
            return
        if self._headers_done and not self._framed and not self._head:
            # No Content-Length and not chunked: the body runs until the server closes.
            self._complete(self._parser.get_status_code())
        elif not self._got_bytes:
            fut.set_exception(_Stale("connection closed before any response byte arrived"))
        else:
            fut.set_exception(ConnectionLost("connection closed before the response was complete"))

    def eof_received(self) -> bool | None:
        return False

    def data_received(self, data: bytes) -> None:
        fut = self._fut
        if fut is None or fut.done():
            # Bytes nobody asked for: the framing is lost, so the connection cannot be reused.
            self.abort()
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpClientError("server switched protocols, which this client does not support"))
        except httptools.HttpParserError as exc:
            if self._fut is not None and not fut.done():
                self._fail(self._error or HttpClientError(f"malformed HTTP response: {exc}"))

    # --- parser callbacks -------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        k = header_name(name)
        if k in _FRAMING:
            self._framed = True
        self._headers.append((k, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head and self._parser.get_status_code() >= 200:
            # httptools cannot be told that a HEAD answer has no body, so the exchange ends here
            # and a fresh parser takes the next response.
            self._complete(self._parser.get_status_code())
            self._parser = httptools.HttpResponseParser(self)
            raise _Stop

    def on_body(self, data: bytes) -> None:
        n = self._body_len + len(data)
        if self._max_body is not None and n > self._max_body:
            self._error = ResponseTooLarge(f"response body exceeds {self._max_body} bytes")
            raise _Stop
        self._body_len = n
        self._parts.append(data)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            # An interim (1xx) response: its final response follows on the same connection.
            self._headers = []
            self._headers_done = False
            self._framed = False
            return
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._complete(status)

    # --- exchange ---------------------------------------------------------------------------
    def _complete(self, status: int) -> None:
        fut = self._fut
        self._fut = None
        body = b"".join(self._parts) if self._parts else b""
        self._parts.clear()
        resp = Response(status, Headers.from_lowercase(self._headers), body)
        if fut is not None and not fut.done():
            fut.set_result(resp)

    def _fail(self, exc: HttpClientError) -> None:
        fut = self._fut
        self._fut = None
        if fut is not None and not fut.done():
            fut.set_exception(exc)
        self.abort()

    def send(self, data: bytes | tuple[bytes, bytes], head: bool) -> asyncio.Future[Response]:
        fut: asyncio.Future[Response] = self._loop.create_future()
        self._fut = fut
        self._head = head
        self._got_bytes = False
        self._headers = []
        self._headers_done = False
        self._framed = False
        self._body_len = 0
        self._error = None
        t = self.transport
        if t is None:
            fut.set_exception(_Stale("connection closed while idle"))
        elif isinstance(data, tuple):
            t.writelines(data)
        else:
            t.write(data)
        return fut

    def on_timeout(self) -> None:
        self._fail(RequestTimeout("HTTP request timed out"))

    def abort(self) -> None:
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class HttpClient:
    """Sends requests over pooled keep-alive connections, one pool per (host, port, TLS, socket)."""

    def __init__(
        self,
        *,
        max_idle_per_host: int = 128,
        idle_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_response_body: int | None = None,
    ) -> None:
        self._max_idle = max_idle_per_host
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._max_body = max_response_body
        self._pool: dict[_PoolKey, list[_Conn]] = {}
        self._all: set[_Conn] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    async def request(
        self,
        method: str,
        host: str,
        port: int,
        target: str,
        headers: Headers | list[tuple[str, str]] | None = None,
        body: bytes = b"",
        *,
        timeout: float | None = None,
        ssl: _ssl.SSLContext | None = None,
        unix_path: str | None = None,
        server_hostname: str | None = None,
    ) -> Response:
        if self._closed:
            raise HttpClientError("client is closed")
        # The running loop only when a deadline or a new connection needs it: on Python 3.11 every
        # asyncio.get_running_loop() is a getpid() system call (the loop's pid check), once per
        # request on the hot path otherwise. A pooled connection knows its loop.
        loop = None if timeout is None else asyncio.get_running_loop()
        deadline = None if loop is None or timeout is None else loop.time() + timeout
        data = self._encode(method, host, port, target, headers, body, ssl is not None)
        key: _PoolKey = (host, port, ssl, unix_path, server_hostname)
        head = method == "HEAD"
        for attempt in (0, 1):
            conn = self._take(key)
            reused = conn is not None
            if conn is None:
                if loop is None:
                    loop = asyncio.get_running_loop()
                conn = await self._connect(loop, host, port, ssl, unix_path, server_hostname, deadline)
            loop = conn._loop
            fut = conn.send(data, head)
            timer = None if deadline is None else loop.call_at(deadline, conn.on_timeout)
            try:
                resp = await fut
            except _Stale:
                conn.abort()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.abort()
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            if conn.reusable and not self._closed:
                self._put(key, conn, loop)
            else:
                conn.abort()
            return resp
        raise AssertionError("unreachable")

    def _encode(
        self,
        method: str,
        host: str,
        port: int,
        target: str,
        headers: Headers | list[tuple[str, str]] | None,
        body: bytes,
        tls: bool,
    ) -> bytes | tuple[bytes, bytes]:
        if " " in target or " " in method:
            raise ValueError("method and target must not contain spaces")
        parts = [f"{method} {target} HTTP/1.1\r\n"]
        has_host = False
        if headers is not None:
            lowered = isinstance(headers, Headers)
            for name, v in headers.items() if isinstance(headers, Headers) else headers:
                k = name if lowered else name.lower()
                if k in _DROP:
                    continue
                if k == "host":
                    has_host = True
                parts.append(f"{k}: {v}\r\n")
        if not has_host:
            name = f"[{host}]" if ":" in host else host
            if port != (443 if tls else 80):
                name = f"{name}:{port}"
            parts.append(f"host: {name}\r\n")
        if body or method in _BODY_METHODS:
            parts.append(f"content-length: {len(body)}\r\n")
        parts.append("\r\n")
        head = encode_head(parts)
        if not body:
            return head
        if len(body) <= _SMALL_BODY:
            return head + body
        return head, body

    # --- pool -------------------------------------------------------------------------------
    def _take(self, key: _PoolKey) -> _Conn | None:
        idle = self._pool.get(key)
        if not idle:
            return None
        oldest = idle[-1]._loop.time() - self._idle_timeout
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since > oldest:
                return conn
            conn.abort()
        return None

    def _put(self, key: _PoolKey, conn: _Conn, loop: asyncio.AbstractEventLoop) -> None:
        idle = self._pool.get(key)
        if idle is None:
            idle = self._pool[key] = []
        if len(idle) >= self._max_idle:
            conn.abort()
            return
        conn.idle_since = loop.time()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._sweep_every(), self._sweep, loop)

    def _sweep_every(self) -> float:
        return max(0.05, min(self._idle_timeout / 2, 5.0))

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        # One timer per client rather than one per idle connection.
        self._sweeper = None
        oldest = loop.time() - self._idle_timeout
        for key, idle in list(self._pool.items()):
            keep = [c for c in idle if not c.closed and c.idle_since > oldest]
            for c in idle:
                if c not in keep:
                    c.abort()
            if keep:
                self._pool[key] = keep
            else:
                del self._pool[key]
        if self._pool:
            self._sweeper = loop.call_later(self._sweep_every(), self._sweep, loop)

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        ssl: _ssl.SSLContext | None,
        unix_path: str | None,
        server_hostname: str | None,
        deadline: float | None,
    ) -> _Conn:
        limit = self._connect_timeout
        by_deadline = False
        if deadline is not None and deadline - loop.time() < limit:
            limit = max(0.0, deadline - loop.time())
            by_deadline = True
        conn = _Conn(loop, self._max_body, self._all)
        sni = (server_hostname or host) if ssl is not None else None
        try:
            if unix_path is not None:
                coro = loop.create_unix_connection(lambda: conn, unix_path, ssl=ssl, server_hostname=sni)
            else:
                coro = loop.create_connection(lambda: conn, host, port, ssl=ssl, server_hostname=sni)
            await asyncio.wait_for(coro, limit)
        except TimeoutError:
            if by_deadline:
                raise RequestTimeout(f"timed out connecting to {host}:{port}") from None
            raise ConnectError(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:  # includes ssl.SSLError
            where = unix_path if unix_path is not None else f"{host}:{port}"
            raise ConnectError(f"cannot connect to {where}: {exc}") from exc
        return conn

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._pool.clear()
        conns = list(self._all)
        for conn in conns:
            conn.abort()
        if conns:
            # Let the transports deliver connection_lost before the loop may be closed.
            await asyncio.sleep(0)
