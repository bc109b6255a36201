"""The server end of a multiplexed peer connection (``_frames.py``): each REQUEST frame runs the
HTTP server's handler in its own task, as a request on its own HTTP/1.1 connection would."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from pydapr import errors
from pydapr.http import _frames as f
from pydapr.http.messages import Headers, Request, Response

if TYPE_CHECKING:
    from pydapr.http.server import HttpServer

# Streams started and not answered beyond this stop reading until half of them are.
_MAX_ACTIVE = 1024


class PeerConnection(f.FramedConnection):
    __slots__ = (
        "_active",
        "_client",
        "_identity",
        "_idle_since",
        "_last",
        "_paused",
        "_reading_paused",
        "_srv",
        "_stopping",
    )

    def __init__(self, srv: HttpServer, identity: Any, client: tuple[str, int] | None) -> None:
        # A request's body is bounded as on HTTP/1.1; its head by the header limit.
        super().__init__(srv._loop, srv._max_body + srv._max_header)
        self._srv = srv
        self._identity = identity
        self._client = client
        self._active: dict[int, asyncio.Task[Response]] = {}
        self._idle_since = srv._now
        self._last = 0
        self._stopping = False
        self._paused = False
        self._reading_paused = False

    # --- what the HTTP server asks of every connection ------------------------------------------
    def tasks(self) -> list[asyncio.Task[Response]]:
        return list(self._active.values())

    def idle_for(self, now: float) -> float:
        # The client closes a peer connection it no longer uses, well before the server's keep-alive
        # timeout; one idle past it has a client that is gone without closing (its host died, the
        # network parted), and is closed the way a stop closes it.
        return 0.0 if self._active else now - self._idle_since

    def shutdown(self) -> None:
        """Start no more streams; close when those started are answered."""
        if self._stopping:
            return
        self._stopping = True
        self.queue(0, f.GOAWAY, f.LAST_STREAM.pack(self._last))
        self.flush()
        self._close_if_done()

    def close(self) -> None:
        """Idle too long: GOAWAY first, so a call crossing it is sent again on a new connection."""
        self.shutdown()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- transport events ---------------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for task in self._active.values():
            task.cancel()
        srv = self._srv
        srv._conns.discard(self)
        if not srv._conns and srv._drained is not None:
            srv._drained.set()

    def eof_received(self) -> bool | None:
        return False

    def pause_writing(self) -> None:
        self._paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        t = self.transport
        if t is None:
            return
        active = len(self._active)
        want = self._paused or active >= _MAX_ACTIVE
        if want and not self._reading_paused:
            self._reading_paused = True
            t.pause_reading()
        elif self._reading_paused and not self._paused and active <= _MAX_ACTIVE // 2:
            self._reading_paused = False
            t.resume_reading()

    # --- frames -------------------------------------------------------------------------------
    def frame(self, stream: int, kind: int, payload: memoryview) -> None:
        if kind == f.REQUEST:
            if self._begin(stream):
                self._start(stream, payload)
        elif kind == f.CANCEL:
            task = self._active.get(stream)
            if task is not None:
                task.cancel()
        else:
            raise f.FrameError(f"a frame of kind {kind} is not the client's to send")

    def oversized(self, stream: int, kind: int, size: int) -> None:
        # As HTTP/1.1 answers a body over the limit, on this stream alone: the calls sharing the
        # connection go on.
        if kind != f.REQUEST:
            super().oversized(stream, kind, size)
        if self._begin(stream):
            self._refuse(stream, errors.BODY_TOO_LARGE(size, self._srv._max_body))

    def _begin(self, stream: int) -> bool:
        """Whether the REQUEST on ``stream`` is to be answered (not when it came after GOAWAY)."""
        if stream <= self._last or not stream & 1:
            raise f.FrameError(f"stream {stream} does not follow {self._last}")
        if self._stopping:
            return False  # above the GOAWAY's last stream: the client sends it again elsewhere
        self._last = stream
        return True

    def _refuse(self, stream: int, err: errors.DaprError) -> None:
        self._answer(stream, Response.json(err.http_body(), err.http_status))

    def _start(self, stream: int, payload: memoryview) -> None:
        method, target, headers, body = f.decode_request(payload)
        # Within the frame's limit (body and head together) but over the body's own, or the head's
        # (what is not the body: the verb, target and headers, as HTTP/1.1 counts them, give or take
        # the encoding's few bytes).
        if len(body) > self._srv._max_body:
            self._refuse(stream, errors.BODY_TOO_LARGE(len(body), self._srv._max_body))
            return
        if len(payload) - len(body) > self._srv._max_header:
            self._refuse(stream, errors.HEADERS_TOO_LARGE())
            return
        path, _, query = target.partition("?")
        req = Request(method, path, query, Headers.from_lowercase(headers), body, self._client)
        req.identity = self._identity
        try:
            coro = self._srv._handler(req)
        except Exception as exc:
            self._respond(stream, req, self._srv.handler_failure(req, exc))
            return
        task: asyncio.Task[Response] = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._active[stream] = task
        self._srv.in_flight += 1
        task.add_done_callback(functools.partial(self._done, stream, req))
        if len(self._active) >= _MAX_ACTIVE:
            self._update_reading()

    def _done(self, stream: int, req: Request, task: asyncio.Task[Response]) -> None:
        self._active.pop(stream, None)
        self._srv.in_flight -= 1
        if not self._active:
            self._idle_since = self._srv._now
        if task.cancelled():
            # The caller cancelled it, or the connection is gone: nobody waits for an answer.
            self._close_if_done()
            return
        exc = task.exception()
        self._respond(stream, req, task.result() if exc is None else self._srv.handler_failure(req, exc))
        if self._reading_paused:
            self._update_reading()
        self._close_if_done()

    def _respond(self, stream: int, req: Request, resp: Response) -> None:
        if not isinstance(resp, Response):
            wrong = TypeError(f"handler returned {type(resp).__name__}, not Response")
            resp = self._srv.handler_failure(req, wrong)
        self._answer(stream, resp)

    def _answer(self, stream: int, resp: Response) -> None:
        if self.transport is None:
            return
        hop = f.HOP_HEADERS
        headers = [(k, v) for k, v in resp.headers.items() if k not in hop]
        self.queue(stream, f.RESPONSE, f.encode((resp.status, headers, resp.body)))

    def _close_if_done(self) -> None:
        if self._stopping and not self._active and self.transport is not None:
            self.flush()
            self.transport.close()
