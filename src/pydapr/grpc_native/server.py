"""The native gRPC server: grpc.aio's server API (handlers, interceptors, ports, start and stop) on
pydapr's own HTTP/2 connections (``_conn.py``), plaintext only."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import socket
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from typing import Any

from pydapr import rpc
from pydapr.grpc_native import _call
from pydapr.grpc_native._conn import Connection, Stream

DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024
_UNLIMITED = (1 << 31) - 1


class NativeGrpcServer:
    """Stands in for ``grpc.aio.server(interceptors=..., options=...)``; of the options only the
    message size limits are read (``grpc.max_receive_message_length``, ``grpc.max_send_message_length``,
    -1 meaning no limit, as grpc)."""

    def __init__(
        self,
        interceptors: Sequence[rpc.ServerInterceptor] = (),
        options: Iterable[tuple[str, Any]] = (),
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self._interceptors = tuple(interceptors)
        # Interceptors that all only look at the handler their continuation found (pydapr's own)
        # run as plain calls, innermost first: no coroutine per interceptor per call.
        self.resolves_now = all(callable(getattr(i, "intercept_handler", None)) for i in interceptors)
        settings = dict(options)
        self.max_receive = _limit(settings.get("grpc.max_receive_message_length"), DEFAULT_MAX_RECEIVE)
        self.max_send = _limit(settings.get("grpc.max_send_message_length"), _UNLIMITED)
        self._registered: dict[str, rpc.MethodHandler] = {}
        self._generic: list[rpc.GenericRpcHandler] = []
        self._sockets: list[socket.socket] = []
        self._unix_paths: list[str] = []
        self._servers: list[asyncio.AbstractServer] = []
        self.connections: set[Connection] = set()
        self.stopping = False
        self._terminated = asyncio.Event()
        self._idle: asyncio.Event | None = None
        self._deadlines: list[tuple[float, int, int, Connection]] = []
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._deadline_at = 0.0
        self._seq = itertools.count()

    # --- grpc.aio.Server -------------------------------------------------------------------------

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[rpc.GenericRpcHandler]) -> None:
        self._generic.extend(generic_rpc_handlers)

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, rpc.MethodHandler]
    ) -> None:
        for method, handler in method_handlers.items():
            self._registered[f"/{service_name}/{method}"] = handler

    def add_insecure_port(self, address: str) -> int:
        """Binds now (as grpc does) and returns the port, 1 for a Unix socket; a name that resolves
        to several addresses is bound on each. Raises RuntimeError when the address cannot be bound,
        as grpc >= 1.5x."""
        bound: list[socket.socket] = []
        try:
            if address.startswith("unix:"):
                path = address[5:].removeprefix("//")
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                bound.append(sock)
                if os.path.exists(path) and not os.path.isfile(path):
                    os.unlink(path)  # a stale socket file: grpc replaces it too
                sock.bind(path)
                self._unix_paths.append(path)
                port = 1
            else:
                host, _, port_text = address.rpartition(":")
                host = host.strip("[]")
                if host in ("", "*"):
                    host = "::" if socket.has_ipv6 else "0.0.0.0"
                port = int(port_text)
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
                for family, kind, proto, _, sockaddr in dict.fromkeys(infos):
                    sock = socket.socket(family, kind, proto)
                    bound.append(sock)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(host != "::"))
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sock.bind((sockaddr[0], port, *sockaddr[2:]))
                    port = int(sock.getsockname()[1])  # a port 0 chosen once, for every address
        except (OSError, ValueError) as exc:
            for sock in bound:
                sock.close()
            raise RuntimeError(f"Failed to bind to address {address}: {exc}") from exc
        for sock in bound:
            sock.listen(1024)
            sock.setblocking(False)
        self._sockets.extend(bound)
        return port

    def add_secure_port(self, address: str, server_credentials: Any) -> int:
        raise NotImplementedError(
            "the native gRPC server serves plaintext only (TLS is not supported yet); "
            "set PYDAPR_GRPC_SERVER=grpcio to use grpcio's server"
        )

    async def start(self) -> None:
        for sock in self._sockets:

            def connection() -> Connection:
                return Connection(self)

            if sock.family == socket.AF_UNIX:
                server = await self.loop.create_unix_server(connection, sock=sock)
            else:
                server = await self.loop.create_server(connection, sock=sock)
            self._servers.append(server)

    async def stop(self, grace: float | None) -> None:
        """Stops accepting, lets the calls in flight run for ``grace`` seconds (GOAWAY to every
        client), then cancels what is left and closes the connections."""
        if self.stopping:
            await self._terminated.wait()
            return
        self.stopping = True
        for server in self._servers:
            server.close()
        if not self._servers:  # never started
            for sock in self._sockets:
                sock.close()
        for conn in list(self.connections):
            conn.shutdown()
        if grace and self.connections:
            self._idle = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        tasks = [
            s.task
            for conn in self.connections
            for s in conn.streams.values()
            if s.task is not None and not s.task.done()
        ]
        for conn in list(self.connections):
            conn.cancel_streams()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._terminated.set()

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        if self._terminated.is_set():
            return True
        try:
            await asyncio.wait_for(self._terminated.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- for the connections ---------------------------------------------------------------------

    def serve(self, stream: Stream) -> Coroutine[Any, Any, None]:
        return _call.serve(self, stream)

    def connection_gone(self) -> None:
        if self._idle is not None and not self.connections:
            self._idle.set()

    async def find_handler(self, details: _call.CallDetails) -> rpc.MethodHandler | None:
        if not self._interceptors:
            return self._resolve(details)
        return await self._intercepted(iter(self._interceptors), details)

    def find_handler_now(self, details: _call.CallDetails) -> rpc.MethodHandler | None:
        """``find_handler`` when ``resolves_now``: each interceptor's ``intercept_handler(details,
        handler)`` is what its ``intercept_service`` returns once its continuation gave ``handler``."""
        handler = self._resolve(details)
        for interceptor in reversed(self._interceptors):
            handler = interceptor.intercept_handler(details, handler)  # type: ignore[attr-defined]
        return handler

    async def _intercepted(self, rest: Any, details: Any) -> rpc.MethodHandler | None:
        interceptor = next(rest, None)
        if interceptor is None:
            return self._resolve(details)

        def continuation(next_details: Any) -> Awaitable[rpc.MethodHandler | None]:
            return self._intercepted(rest, next_details)

        handler: rpc.MethodHandler | None = await interceptor.intercept_service(continuation, details)
        return handler

    def _resolve(self, details: Any) -> rpc.MethodHandler | None:
        handler = self._registered.get(details.method)
        if handler is not None:
            return handler
        for generic in self._generic:
            handler = generic.service(details)
            if handler is not None:
                return handler
        return None

    def watch_deadline(self, stream: Stream) -> None:
        """Ends the call with DEADLINE_EXCEEDED at its deadline (one timer per server, at the
        earliest deadline; entries of calls that ended are dropped when their time comes)."""
        assert stream.deadline is not None
        heapq.heappush(self._deadlines, (stream.deadline, next(self._seq), stream.id, stream.conn))
        if self._deadline_timer is None or stream.deadline < self._deadline_at:
            self._arm(stream.deadline)

    def _arm(self, when: float) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_at = when
        self._deadline_timer = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._deadline_timer = None
        now = self.loop.time()
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, _, stream_id, conn = heapq.heappop(heap)
            stream = conn.streams.get(stream_id)
            if stream is not None and not stream.finished:
                conn.fail_stream(stream, rpc.StatusCode.DEADLINE_EXCEEDED.value[0], "Deadline Exceeded")
                conn.schedule_flush()
        if heap:
            self._arm(heap[0][0])


def _limit(value: Any, default: int) -> int:
    if value is None:
        return default
    value = int(value)
    return _UNLIMITED if value < 0 else value


def server(
    interceptors: Sequence[rpc.ServerInterceptor] = (),
    options: Iterable[tuple[str, Any]] = (),
) -> NativeGrpcServer:
    """``grpc.aio.server``'s signature for what pydapr passes it."""
    return NativeGrpcServer(interceptors=interceptors, options=options)
