"""The client of pydapr's multiplexed sidecar-to-sidecar connection (``_frames.py``): one connection
per peer sidecar carries every call to it, each a stream of its own.

``MultiplexClient.request`` takes and answers what ``HttpClient.request`` does, with its errors, so
service invocation and actor calls use it unchanged: ``ConnectError`` when nothing was sent (retrying
is safe), ``ConnectionLost`` when the connection went with the call in flight, ``RequestTimeout``.
A peer that does not offer the upgrade (an older pydapr) is called over ``HttpClient`` for a while.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from typing import Any

from pydapr.http import _frames as f
from pydapr.http.client import ConnectError, ConnectionLost, HttpClient, HttpClientError, RequestTimeout
from pydapr.http.messages import Headers, Response

log = logging.getLogger("pydapr.invoke")

_Key = tuple[str, int, "_ssl.SSLContext | None", "str | None"]
# How long an address that refused the upgrade is called over HTTP/1.1 before asking again.
_REFUSED_FOR = 60.0
# How long after a peer's GOAWAY a refused connection to it means "it stopped", not "it failed".
_STOPPED_FOR = 10.0
_MAX_RESPONSE = 1 << 31


class PeerStopping(ConnectError):
    """The peer is stopping and did not start this call (its GOAWAY is below the stream): nothing
    reached its app, so the call may go to another instance at once."""


class _Refused(Exception):
    """The peer answered the upgrade with something other than 101."""


class _PeerConn(f.FramedConnection):
    __slots__ = (
        "_head",
        "_next",
        "_owner",
        "_ready",
        "_waiting",
        "goaway",
        "idle_since",
        "key",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, owner: MultiplexClient, key: _Key) -> None:
        super().__init__(loop, _MAX_RESPONSE)
        self._owner = owner
        self.key = key
        self._next = 1
        self._waiting: dict[int, asyncio.Future[Response]] = {}
        # Done once the peer answered the upgrade: frames follow only after a 101.
        self._ready: asyncio.Future[None] = loop.create_future()
        self._head = b""
        self.goaway: int | None = None
        self.idle_since = loop.time()

    @property
    def usable(self) -> bool:
        return self.transport is not None and self.goaway is None and self._ready.done()

    @property
    def busy(self) -> bool:
        return bool(self._waiting)

    # --- the upgrade ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        host = self.key[0]
        name = f"[{host}]" if ":" in host else host
        # The empty callee id: a sidecar that does not know the upgrade answers this as a call to no
        # app (refused before any app sees it), and closes.
        self.transport.write(  # type: ignore[union-attr]
            (
                f"GET / HTTP/1.1\r\nhost: {name}:{self.key[1]}\r\nconnection: upgrade\r\n"
                f"upgrade: {f.UPGRADE}\r\ndapr-callee-app-id: \r\ncontent-length: 0\r\n\r\n"
            ).encode("latin-1")
        )

    async def ready(self) -> None:
        await self._ready

    def data_received(self, data: bytes) -> None:
        if self._ready.done():
            super().data_received(data)
            return
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > 8192:
                self._end_handshake(_Refused("no answer to the upgrade"))
            self._head = head
            return
        self._head = b""
        status = head[: head.find(b"\r\n")].split(b" ", 2)
        if len(status) < 2 or status[1] != b"101":
            self._end_handshake(_Refused(head[:end].decode("latin-1", "replace")))
            return
        self._ready.set_result(None)
        rest = head[end + 4 :]
        if rest:
            super().data_received(rest)

    def _end_handshake(self, exc: Exception) -> None:
        ready = self._ready
        if not ready.done():
            ready.set_exception(exc)
            ready.exception()  # marked retrieved: a connect that timed out no longer awaits it
        if self.transport is not None:
            self.transport.close()

    # --- streams ---------------------------------------------------------------------------------
    def send(
        self, method: str, target: str, headers: f.HeaderList, body: bytes
    ) -> tuple[int, asyncio.Future[Response]]:
        stream = self._next
        self._next += 2
        fut: asyncio.Future[Response] = self._loop.create_future()
        self._waiting[stream] = fut
        self.queue(stream, f.REQUEST, f.encode((method, target, headers, body)))
        return stream, fut

    def cancel(self, stream: int) -> None:
        """The caller gave up: the peer stops the handler, and a late answer is dropped."""
        if self._waiting.pop(stream, None) is not None and self.transport is not None:
            self.queue(stream, f.CANCEL, b"")
        self._mark_idle()

    def frame(self, stream: int, kind: int, payload: memoryview) -> None:
        if kind == f.RESPONSE:
            fut = self._waiting.get(stream)
            if fut is None:
                return  # cancelled: the answer crossed the CANCEL
            # Decoded while the call still waits: an answer that does not decode breaks the
            # connection, which fails every waiting call, this one too.
            status, headers, body = f.decode_response(payload)
            del self._waiting[stream]
            if not fut.done():
                fut.set_result(Response(status, Headers.from_lowercase(headers), body))
            self._mark_idle()
        elif kind == f.GOAWAY:
            if len(payload) != f.LAST_STREAM.size:
                raise f.FrameError(f"a GOAWAY of {len(payload)} bytes")
            (last,) = f.LAST_STREAM.unpack(payload)
            self.goaway = last
            self._owner._retire(self)
            self._owner._stopped[self.key] = self._loop.time()
            for s in [s for s in self._waiting if s > last]:
                fut = self._waiting.pop(s)
                if not fut.done():
                    fut.set_exception(PeerStopping("the peer sidecar is stopping; the call was not started"))
        else:
            raise f.FrameError(f"a frame of kind {kind} is not the server's to send")

    def _mark_idle(self) -> None:
        if not self._waiting:
            self.idle_since = self._loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._owner._retire(self)
        # Not a refusal: the peer went (or is stopping) before it answered; nothing was sent.
        self._end_handshake(ConnectError("the connection closed before the peer answered the upgrade"))
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionLost("connection to the peer sidecar closed before it answered"))

    def eof_received(self) -> bool | None:
        return False

    def broken(self, reason: str) -> None:
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(HttpClientError(f"the peer sidecar broke the framing: {reason}"))
        super().broken(reason)


class MultiplexClient:
    """Calls other sidecars' internal ports over one multiplexed connection each."""

    def __init__(
        self, fallback: HttpClient, *, idle_timeout: float = 30.0, connect_timeout: float = 5.0
    ) -> None:
        self._fallback = fallback
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._conns: dict[_Key, _PeerConn] = {}
        self._opening: dict[_Key, asyncio.Task[_PeerConn | None]] = {}
        self._refused: dict[_Key, float] = {}
        # Peers that said they are stopping, and when: name resolution may still offer them for a
        # moment, and a refused connection there is then that stop, not a failure to retry later.
        self._stopped: dict[_Key, float] = {}
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
        server_hostname: str | None = None,
    ) -> Response:
        if self._closed:
            raise HttpClientError("client is closed")
        if " " in target or " " in method:
            raise ValueError("method and target must not contain spaces")
        key: _Key = (host, port, ssl, server_hostname)
        # The running loop only when needed: on Python 3.11 asyncio.get_running_loop() is a
        # getpid() system call (see HttpClient.request).
        refused_until = self._refused.get(key) if self._refused else None
        if refused_until is not None:
            if asyncio.get_running_loop().time() < refused_until:
                return await self._fallback.request(
                    method,
                    host,
                    port,
                    target,
                    headers,
                    body,
                    timeout=timeout,
                    ssl=ssl,
                    server_hostname=server_hostname,
                )
            del self._refused[key]
        loop = None if timeout is None else asyncio.get_running_loop()
        deadline = None if loop is None or timeout is None else loop.time() + timeout
        hop = f.HOP_HEADERS
        if headers is None:
            fields: f.HeaderList = []
        elif isinstance(headers, Headers):
            fields = [(k, v) for k, v in headers.items() if k not in hop]
        else:
            fields = [(k.lower(), v) for k, v in headers if k.lower() not in hop]
        conn = self._conns.get(key)
        if conn is None or not conn.usable:
            if loop is None:
                loop = asyncio.get_running_loop()
            conn = await self._open(key, loop, deadline)
            if conn is None:
                return await self._fallback.request(
                    method,
                    host,
                    port,
                    target,
                    fields,
                    body,
                    timeout=None if deadline is None else max(0.0, deadline - loop.time()),
                    ssl=ssl,
                    server_hostname=server_hostname,
                )
        stream, fut = conn.send(method, target, fields, body)
        timer = None if deadline is None else conn._loop.call_at(deadline, _expire, fut)
        try:
            return await fut
        except BaseException:
            conn.cancel(stream)  # nothing to cancel when the peer already ended the stream
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def _open(
        self, key: _Key, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> _PeerConn | None:
        """The peer's connection, opened and upgraded once however many calls wait for it; None when
        the peer refused the upgrade."""
        opening = self._opening.get(key)
        if opening is None:
            opening = self._opening[key] = loop.create_task(self._connect(key, loop))
            opening.add_done_callback(lambda t: self._opened(key, t))
        limit = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            return await asyncio.wait_for(asyncio.shield(opening), limit)
        except TimeoutError:
            if opening.done():
                raise
            raise RequestTimeout(f"timed out connecting to {key[0]}:{key[1]}") from None

    def _opened(self, key: _Key, task: asyncio.Task[_PeerConn | None]) -> None:
        self._opening.pop(key, None)
        if not task.cancelled():
            task.exception()  # every waiter may have gone: retrieved so asyncio does not log it

    async def _connect(self, key: _Key, loop: asyncio.AbstractEventLoop) -> _PeerConn | None:
        host, port, ssl, server_hostname = key
        conn = _PeerConn(loop, self, key)
        sni = (server_hostname or host) if ssl is not None else None
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: conn, host, port, ssl=ssl, server_hostname=sni),
                self._connect_timeout,
            )
            await asyncio.wait_for(conn.ready(), self._connect_timeout)
        except TimeoutError:
            if conn.transport is not None:
                conn.transport.abort()
            raise ConnectError(f"timed out connecting to {host}:{port}") from None
        except _Refused as exc:
            # Once a minute at most per address: in a rolling upgrade, which peers are older shows.
            log.info(
                "the sidecar at %s:%d does not offer the multiplexed peer connection (%s: an earlier "
                "pydapr?); calling it over HTTP/1.1",
                host,
                port,
                str(exc).partition("\r\n")[0][:80],
            )
            self._refused[key] = loop.time() + _REFUSED_FOR
            self._ensure_sweeper(loop)
            return None
        except (OSError, ConnectError) as exc:  # OSError includes ssl.SSLError
            said = self._stopped.get(key)
            if said is not None and loop.time() - said < _STOPPED_FOR:
                raise PeerStopping(f"the peer sidecar at {host}:{port} has stopped: {exc}") from exc
            if isinstance(exc, ConnectError):
                raise
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        if self._closed:
            conn.broken("client closed")
            raise HttpClientError("client is closed")
        self._conns[key] = conn
        self._ensure_sweeper(loop)
        return conn

    def _ensure_sweeper(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sweeper is None and not self._closed:
            self._sweeper = loop.call_later(self._sweep_every(), self._sweep, loop)

    def _retire(self, conn: _PeerConn) -> None:
        if self._conns.get(conn.key) is conn:
            del self._conns[conn.key]

    def _sweep_every(self) -> float:
        return max(0.05, min(self._idle_timeout / 2, 5.0))

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = None
        now = loop.time()
        oldest = now - self._idle_timeout
        for conn in list(self._conns.values()):
            if not conn.busy and conn.idle_since < oldest:
                self._retire(conn)
                if conn.transport is not None:
                    conn.transport.close()
        # What is remembered of peers that refused or stopped, once it no longer applies.
        self._refused = {k: until for k, until in self._refused.items() if until > now}
        self._stopped = {k: said for k, said in self._stopped.items() if now - said < _STOPPED_FOR}
        if self._conns or self._refused or self._stopped:
            self._sweeper = loop.call_later(self._sweep_every(), self._sweep, loop)

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in list(self._opening.values()):
            task.cancel()
        conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            if conn.transport is not None:
                conn.transport.abort()
        if conns:
            await asyncio.sleep(0)


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(RequestTimeout("HTTP request timed out"))
