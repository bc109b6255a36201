"""HTTP/1.1 server on asyncio protocols and httptools: keep-alive, pipelining, limits, graceful stop.

Bodies are buffered whole (bounded by ``max_body_size``) and every response carries Content-Length.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import Any

from pydapr import errors
from pydapr.http._mux_server import PeerConnection
from pydapr.http._server_conn import Connection
from pydapr.http.messages import Request, Response

Handler = Callable[[Request], Awaitable[Response]]

log = logging.getLogger("pydapr.http")


class HttpServer:
    """A listening HTTP/1.1 endpoint dispatching every request to one async handler."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_body_size: int,
        max_header_bytes: int,
        keepalive_timeout: float,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._handler = handler
        self._max_body = max_body_size
        self._max_header = max_header_bytes
        self._keepalive = keepalive_timeout
        self._conns: set[Connection | PeerConnection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._stopping = False
        self._drained: asyncio.Event | None = None
        self._now = self._loop.time()
        self._date = ""
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tick_every = max(0.05, min(1.0, keepalive_timeout / 4))
        self._identify: Callable[[Any], Any] | None = None
        self._peers = False
        self.port = 0
        self.in_flight = 0

    @classmethod
    async def start(
        cls,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unix_path: str | None = None,
        max_body_size: int = 4 * 1024 * 1024,
        max_header_bytes: int = 64 * 1024,
        keepalive_timeout: float = 75.0,
        ssl: SSLContext | None = None,
        identify: Callable[[Any], Any] | None = None,
        reuse_port: bool = False,
        peers: bool = False,
    ) -> HttpServer:
        """``ssl``: serve TLS only; ``identify``: the caller of a TLS connection from its verified
        peer certificate (``ssl``'s decoded form), None refusing the connection; ``reuse_port``:
        SO_REUSEPORT, so several processes can serve one port (bench/http_proxy_calibration.py
        measures whether that helps); ``peers``: other sidecars may switch a connection to the
        multiplexed peer protocol (``_frames.py``), the internal port's."""
        self = cls(
            handler,
            max_body_size=max_body_size,
            max_header_bytes=max_header_bytes,
            keepalive_timeout=keepalive_timeout,
        )
        self._identify = identify
        self._peers = peers
        self._tick()
        try:

            def connection() -> Connection:
                return Connection(self)

            if unix_path is not None:
                self._server = await self._loop.create_unix_server(connection, unix_path, ssl=ssl)
            else:
                self._server = await self._loop.create_server(
                    connection, host, port, ssl=ssl, reuse_port=reuse_port or None
                )
                self.port = int(self._server.sockets[0].getsockname()[1])
        except BaseException:
            self._stop_ticking()
            raise
        return self

    @staticmethod
    def handler_failure(req: Request, exc: BaseException) -> Response:
        """The answer for a handler that raised: its Dapr error, or ERR_INTERNAL (logged) for any
        other exception; on an HTTP/1.1 connection and a peer connection alike."""
        if not isinstance(exc, errors.DaprError):
            log.error("HTTP handler failed for %s %s", req.method, req.path, exc_info=exc)
            exc = errors.INTERNAL(type(exc).__name__)
        return Response.json(exc.http_body(), exc.http_status)

    def _tick(self) -> None:
        # One timer per server keeps the Date header and the idle clock current, instead of a
        # clock read and a timer per request.
        self._now = now = self._loop.time()
        self._date = f"date: {email.utils.formatdate(usegmt=True)}\r\n"
        limit = self._keepalive
        for conn in list(self._conns):
            if conn.idle_for(now) > limit:
                conn.close()
        self._tick_handle = self._loop.call_later(self._tick_every, self._tick)

    def _stop_ticking(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None

    async def shutdown(self, grace: float) -> None:
        """Stop accepting, close idle connections, give in-flight requests ``grace`` seconds."""
        if self._stopping:
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        self._drained = asyncio.Event()
        for conn in list(self._conns):
            conn.shutdown()
        if self._conns:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), grace)
        tasks = []
        for conn in list(self._conns):
            tasks += conn.tasks()
            conn.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        self._stop_ticking()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
