"""The multiplexed peer connection: MultiplexClient against pydapr's HttpServer offering the upgrade,
against servers that do not (an older pydapr, aiohttp), and raw frames against the server."""

from __future__ import annotations

import asyncio
import itertools
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import msgspec
import pytest
import trustme
import uvloop
from aiohttp import web

from pydapr import errors
from pydapr.http import _frames as f
from pydapr.http.client import ConnectError, ConnectionLost, HttpClient, HttpClientError, RequestTimeout
from pydapr.http.messages import Headers, Request, Response
from pydapr.http.multiplex_client import MultiplexClient, PeerStopping
from pydapr.http.server import HttpServer

pytestmark = pytest.mark.timeout(10)

Handler = Callable[[Request], Awaitable[Response]]


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    if request.param == "uvloop":
        return cast(asyncio.AbstractEventLoopPolicy, uvloop.EventLoopPolicy())
    return asyncio.DefaultEventLoopPolicy()


@pytest.fixture
async def client() -> AsyncIterator[MultiplexClient]:
    fallback = HttpClient()
    c = MultiplexClient(fallback)
    yield c
    await c.close()
    await fallback.close()


class Seen:
    def __init__(self) -> None:
        self.requests: list[Request] = []


class Held:
    """A handler that holds every call until ``release`` is set, then answers ``answer`` (the path
    when None)."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()
        self._answer = answer
        self._more = asyncio.Event()

    async def handler(self, req: Request) -> Response:
        self.started.append(req.path)
        self._more.set()
        await self.release.wait()
        return Response(200, None, self._answer if self._answer is not None else req.path.encode())

    async def wait_started(self, count: int) -> None:
        while len(self.started) < count:
            self._more.clear()
            await asyncio.wait_for(self._more.wait(), 2.0)


async def _echo_server(seen: Seen, *, peers: bool = True, **kw: object) -> HttpServer:
    async def handler(req: Request) -> Response:
        seen.requests.append(req)
        out = Headers.from_lowercase(
            [
                ("content-type", req.headers.get("content-type") or "application/octet-stream"),
                ("x-method", req.method),
                ("x-path", req.path),
                ("x-query", req.query),
                ("x-custom", req.headers.get("x-custom") or "-"),
                ("content-length", "999"),  # a hop's framing: never crosses
                ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),  # the app's: crosses, as over HTTP/1.1
            ]
        )
        return Response(201, out, req.body)

    return await HttpServer.start(handler, peers=peers, **kw)  # type: ignore[arg-type]


async def test_exchanges_share_one_connection_and_keep_what_http_carries(client: MultiplexClient) -> None:
    seen = Seen()
    srv = await _echo_server(seen)
    try:
        bodies = [f"body {i}".encode() * (i + 1) for i in range(50)]
        answers = await asyncio.gather(
            *(
                client.request(
                    "PUT",
                    "127.0.0.1",
                    srv.port,
                    f"/a%20b/{i}?x=1&y={i}",
                    Headers([("X-Custom", f"v{i}"), ("Content-Type", "text/plain"), ("Connection", "close")]),
                    body,
                )
                for i, body in enumerate(bodies)
            )
        )
        for i, resp in enumerate(answers):
            assert resp.status == 201
            assert resp.body == bodies[i]
            assert resp.headers.get("x-method") == "PUT"
            assert resp.headers.get("x-path") == f"/a%20b/{i}"
            assert resp.headers.get("x-query") == f"x=1&y={i}"
            assert resp.headers.get("x-custom") == f"v{i}"
            assert resp.headers.get("content-type") == "text/plain"
            assert resp.headers.get("content-length") is None
            assert resp.headers.get("date") == "Mon, 01 Jan 2024 00:00:00 GMT"
        # Every exchange came over the one upgraded connection; the upgrade itself reached no handler.
        assert len(seen.requests) == 50
        assert len({r.client for r in seen.requests}) == 1
        assert all(r.headers.get("connection") is None for r in seen.requests)
        assert all(r.path != "/" for r in seen.requests)
    finally:
        await srv.shutdown(1.0)


async def test_empty_and_large_bodies(client: MultiplexClient) -> None:
    seen = Seen()
    srv = await _echo_server(seen, max_body_size=8 * 1024 * 1024)
    try:
        empty = await client.request("GET", "127.0.0.1", srv.port, "/x")
        assert (empty.status, empty.body) == (201, b"")
        big = bytes(range(256)) * (5 * 4096)  # 5 MiB, many TCP reads
        resp = await client.request("POST", "127.0.0.1", srv.port, "/big", None, big)
        assert resp.body == big
    finally:
        await srv.shutdown(1.0)


async def test_a_request_over_the_body_limit_is_refused_on_its_stream_and_the_others_go_on(
    client: MultiplexClient,
) -> None:
    held = Held()
    srv = await HttpServer.start(held.handler, peers=True, max_body_size=1024)
    try:
        waiting = asyncio.ensure_future(client.request("POST", "127.0.0.1", srv.port, "/held", None, b"a"))
        await held.wait_started(1)
        # Over the frame's limit (read past over many reads, never kept), then over the body's alone.
        for size in (200 * 1024, 1025):
            big = await client.request("POST", "127.0.0.1", srv.port, "/big", None, b"x" * size)
            assert big.status == 413
            error = msgspec.json.decode(big.body)
            assert error["errorCode"] == "ERR_MALFORMED_REQUEST"
            assert "exceeds the limit of 1024 bytes" in error["message"]
        held.release.set()
        assert (await waiting).body == b"/held"
        assert (await client.request("POST", "127.0.0.1", srv.port, "/small", None, b"ok")).body == b"/small"
        assert held.started == ["/held", "/small"]
        assert len(srv._conns) == 1  # one connection carried all of it
    finally:
        await srv.shutdown(1.0)


async def test_headers_over_the_limit_are_refused_on_their_stream(client: MultiplexClient) -> None:
    seen = Seen()
    srv = await _echo_server(seen, max_header_bytes=1024)
    try:
        big = await client.request("GET", "127.0.0.1", srv.port, "/big", [("x-big", "v" * 2000)])
        assert big.status == 431
        assert msgspec.json.decode(big.body)["errorCode"] == "ERR_MALFORMED_REQUEST"
        assert (await client.request("GET", "127.0.0.1", srv.port, "/ok", [("x-small", "v")])).status == 201
        assert [r.path for r in seen.requests] == ["/ok"]
    finally:
        await srv.shutdown(1.0)


async def test_tls_and_the_callers_identity(client: MultiplexClient) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("peer.local").configure_cert(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    ca.issue_cert("caller.local").configure_cert(client_ctx)
    identities: list[object] = []

    async def handler(req: Request) -> Response:
        identities.append(req.identity)
        return Response(200, None, req.body[::-1])

    def identify(cert: object) -> object:
        return cert["subjectAltName"]  # type: ignore[index]

    srv = await HttpServer.start(handler, ssl=server_ctx, identify=identify, peers=True)
    try:
        answers = await asyncio.gather(
            *(
                client.request(
                    "POST",
                    "127.0.0.1",
                    srv.port,
                    "/m",
                    None,
                    b"abc%d" % i,
                    ssl=client_ctx,
                    server_hostname="peer.local",
                )
                for i in range(10)
            )
        )
        assert [r.body for r in answers] == [b"%dcba" % i for i in range(10)]
        assert identities == [(("DNS", "caller.local"),)] * 10
    finally:
        await srv.shutdown(1.0)


async def test_a_server_without_the_upgrade_is_called_over_http1(
    client: MultiplexClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", "pydapr.invoke")
    seen = Seen()
    old = await _echo_server(seen, peers=False)  # a sidecar of an earlier pydapr
    try:
        for i in range(3):
            resp = await client.request("POST", "127.0.0.1", old.port, f"/call/{i}", None, b"hi")
            assert (resp.status, resp.body) == (201, b"hi")
        # The one probe reached the old server as a call for an empty app id, which its internal
        # handler refuses before any app sees it; it was not asked again.
        probes = [r for r in seen.requests if r.path == "/"]
        assert len(probes) == 1 and probes[0].headers.get("dapr-callee-app-id") == ""
        assert [r.path for r in seen.requests if r.path != "/"] == ["/call/0", "/call/1", "/call/2"]
        said = [r.getMessage() for r in caplog.records if r.name == "pydapr.invoke"]
        assert said == [
            f"the sidecar at 127.0.0.1:{old.port} does not offer the multiplexed peer connection "
            "(HTTP/1.1 201 Created: an earlier pydapr?); calling it over HTTP/1.1"
        ]
    finally:
        await old.shutdown(1.0)


async def test_a_server_that_is_not_pydapr_is_called_over_http1(client: MultiplexClient) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=200, body=await request.read(), headers={"x-path": request.path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        resp = await client.request("POST", "127.0.0.1", port, "/over/http1", None, b"data")
        assert (resp.status, resp.body, resp.headers.get("x-path")) == (200, b"data", "/over/http1")
    finally:
        await runner.cleanup()


async def test_a_timeout_cancels_the_handler_and_the_connection_serves_on(client: MultiplexClient) -> None:
    cancelled = asyncio.Event()

    async def handler(req: Request) -> Response:
        if req.path == "/slow":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return Response(200, None, b"fast")

    srv = await HttpServer.start(handler, peers=True)
    try:
        with pytest.raises(RequestTimeout):
            await client.request("GET", "127.0.0.1", srv.port, "/slow", timeout=0.2)
        await asyncio.wait_for(cancelled.wait(), 2.0)
        resp = await client.request("GET", "127.0.0.1", srv.port, "/fast")
        assert resp.body == b"fast"
        assert len(srv._conns) == 1
    finally:
        await srv.shutdown(1.0)


async def test_a_failing_handler_answers_daprs_error(client: MultiplexClient) -> None:
    async def handler(req: Request) -> Response:
        if req.path == "/dapr":
            raise errors.DIRECT_INVOKE("b", "no such thing")
        raise RuntimeError("boom")

    srv = await HttpServer.start(handler, peers=True)
    try:
        dapr = await client.request("GET", "127.0.0.1", srv.port, "/dapr")
        assert dapr.status == 500
        assert msgspec.json.decode(dapr.body)["errorCode"] == "ERR_DIRECT_INVOKE"
        other = await client.request("GET", "127.0.0.1", srv.port, "/other")
        assert other.status == 500
        assert msgspec.json.decode(other.body)["errorCode"] == "ERR_INTERNAL"
    finally:
        await srv.shutdown(1.0)


async def test_shutdown_answers_the_calls_in_flight_then_new_calls_cannot_connect(
    client: MultiplexClient,
) -> None:
    held = Held()
    srv = await HttpServer.start(held.handler, peers=True)
    port = srv.port
    calls = [asyncio.ensure_future(client.request("GET", "127.0.0.1", port, f"/{i}")) for i in range(5)]
    await held.wait_started(5)
    stopping = asyncio.ensure_future(srv.shutdown(5.0))
    await asyncio.sleep(0.1)
    held.release.set()
    assert [r.body for r in await asyncio.gather(*calls)] == [b"/%d" % i for i in range(5)]
    await stopping
    with pytest.raises(ConnectError):
        await client.request("GET", "127.0.0.1", port, "/late")


async def test_a_call_that_crosses_the_peers_goaway_is_peer_stopping(client: MultiplexClient) -> None:
    holder = Held(b"answered")
    srv = await HttpServer.start(holder.handler, peers=True)
    held = asyncio.ensure_future(client.request("GET", "127.0.0.1", srv.port, "/held"))
    await holder.wait_started(1)
    # The server's GOAWAY and the client's next call leave in the same loop pass, so the call is on
    # the wire before the client reads that the server starts nothing more.
    stopping = asyncio.ensure_future(srv.shutdown(5.0))
    crossing = asyncio.ensure_future(client.request("GET", "127.0.0.1", srv.port, "/crossing"))
    with pytest.raises(PeerStopping):
        await crossing
    holder.release.set()
    assert (await held).body == b"answered"
    await stopping
    assert holder.started == ["/held"]


async def test_the_peer_dying_mid_call_is_connection_lost(client: MultiplexClient) -> None:
    srv: HttpServer | None = None

    async def handler(req: Request) -> Response:
        assert srv is not None
        for conn in list(srv._conns):
            conn.abort()
        await asyncio.sleep(1)
        return Response(200)

    srv = await HttpServer.start(handler, peers=True)
    try:
        with pytest.raises(ConnectionLost):
            await client.request("GET", "127.0.0.1", srv.port, "/x")
    finally:
        await srv.shutdown(1.0)


# --- raw frames against the server ------------------------------------------------------------------


async def _upgraded(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: {f.UPGRADE}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    return reader, writer


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    stream, kind, size = f.HEAD.unpack(await reader.readexactly(9))
    return stream, kind, await reader.readexactly(size)


async def _exchange_in_pieces(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, frames: bytes, cuts: list[int], answers: int
) -> dict[int, tuple[int, f.HeaderList, bytes]]:
    """``frames`` written cut at ``cuts``, each piece its own write and read; the answers by stream."""
    for start, stop in itertools.pairwise(cuts):
        writer.write(frames[start:stop])
        await writer.drain()
        await asyncio.sleep(0.01)
    got = {}
    for _ in range(answers):
        stream, kind, answer = await asyncio.wait_for(_read_frame(reader), 2.0)
        assert kind == f.RESPONSE
        got[stream] = f.decode_response(answer)
    return got


def _request(stream: int, path: str) -> bytes:
    payload = f.encode(("GET", path, [], b""))
    return f.HEAD.pack(stream, f.REQUEST, len(payload)) + payload


async def test_a_stream_after_goaway_is_not_started() -> None:
    held = Held(b"done")
    srv = await HttpServer.start(held.handler, peers=True)
    reader, writer = await _upgraded(srv.port)
    writer.write(_request(1, "/first"))
    await held.wait_started(1)
    stopping = asyncio.ensure_future(srv.shutdown(5.0))
    stream, kind, payload = await _read_frame(reader)
    assert (stream, kind, struct.unpack("!I", payload)) == (0, f.GOAWAY, (1,))
    writer.write(_request(3, "/second"))
    await asyncio.sleep(0.1)
    held.release.set()
    stream, kind, payload = await _read_frame(reader)
    assert (stream, kind) == (1, f.RESPONSE)
    assert f.decode_response(payload)[2] == b"done"
    assert await reader.read() == b""  # closed once stream 1 was answered
    await stopping
    assert held.started == ["/first"]
    writer.close()


@pytest.mark.parametrize(
    "frame",
    [
        f.HEAD.pack(1, 9, 0),  # a kind nobody sends
        f.HEAD.pack(1, f.RESPONSE, 0),  # the server's kind
        f.HEAD.pack(1, f.REQUEST, 3) + b"\xc1\xc1\xc1",  # not msgpack
        f.HEAD.pack(1, f.CANCEL, 1 << 30),  # over the size limit, and no request to answer
        f.HEAD.pack(2, f.REQUEST, 0),  # an even stream
        f.HEAD.pack(2, f.REQUEST, 1 << 30),  # an even stream, over the size limit
    ],
    ids=["unknown-kind", "response-kind", "bad-payload", "too-large-cancel", "even-stream", "too-large-even"],
)
async def test_a_broken_frame_drops_that_connection_only(frame: bytes, client: MultiplexClient) -> None:
    seen = Seen()
    srv = await _echo_server(seen)
    try:
        reader, writer = await _upgraded(srv.port)
        writer.write(frame)
        assert await asyncio.wait_for(reader.read(), 2.0) == b""
        writer.close()
        resp = await client.request("POST", "127.0.0.1", srv.port, "/still", None, b"up")
        assert resp.body == b"up"
        assert seen.requests[-1].path == "/still"
    finally:
        await srv.shutdown(1.0)


async def test_a_stream_id_that_goes_back_drops_the_connection() -> None:
    seen = Seen()
    srv = await _echo_server(seen)
    try:
        reader, writer = await _upgraded(srv.port)
        writer.write(_request(5, "/five") + _request(3, "/three"))
        got = await asyncio.wait_for(reader.read(), 2.0)
        assert [r.path for r in seen.requests] == ["/five"]
        assert b"/three" not in got
        writer.close()
    finally:
        await srv.shutdown(1.0)


async def test_frames_split_across_reads_are_put_back_together() -> None:
    seen = Seen()
    srv = await _echo_server(seen)
    try:
        reader, writer = await _upgraded(srv.port)
        body = bytes(range(256)) * 400  # 100 KiB
        payload = f.encode(("POST", "/split", [("x-custom", "pieces")], body))
        frames = f.HEAD.pack(1, f.REQUEST, len(payload)) + payload + _request(3, "/after")
        # The head cut in two, then the rest in uneven pieces, each its own write and read.
        cuts = [0, 4, 9, 10, 5000, 70000, len(frames) - 20, len(frames)]
        got = await _exchange_in_pieces(reader, writer, frames, cuts, answers=2)
        assert got[1][2] == body
        assert dict(got[1][1])["x-custom"] == "pieces"
        assert got[3][0] == 201
        assert [r.path for r in seen.requests] == ["/split", "/after"]
        writer.close()
    finally:
        await srv.shutdown(1.0)


@pytest.mark.parametrize(
    "cuts",
    [
        # The next frame's head inside the last read of the one read past.
        lambda n: [0, 9, 20_000, n - 30, n],
        # The frame read past ends exactly where a read ends.
        lambda n: [0, 5, 40_009, n],
        lambda n: [0, n],
    ],
    ids=["next-head-in-last-read", "ends-on-a-read", "one-write"],
)
async def test_a_request_frame_over_the_limit_is_answered_413_and_read_past(
    cuts: Callable[[int], list[int]],
) -> None:
    seen = Seen()
    srv = await _echo_server(seen, max_body_size=1024, max_header_bytes=8192)
    try:
        reader, writer = await _upgraded(srv.port)
        payload = f.encode(("POST", "/big", [], b"x" * 39_985))
        assert len(payload) == 40_000
        frames = f.HEAD.pack(1, f.REQUEST, len(payload)) + payload + _request(3, "/after")
        got = await _exchange_in_pieces(reader, writer, frames, cuts(len(frames)), answers=2)
        assert got[1][0] == 413
        assert msgspec.json.decode(got[1][2])["errorCode"] == "ERR_MALFORMED_REQUEST"
        assert got[3][0] == 201
        assert [r.path for r in seen.requests] == ["/after"]
        writer.close()
    finally:
        await srv.shutdown(1.0)


async def test_a_peer_connection_idle_past_the_keepalive_timeout_is_closed_with_goaway() -> None:
    # A client gone without closing (its host died): the server does not keep its connection forever,
    # but a call that is still running holds it open however long it takes.
    held = Held(b"late")
    srv = await HttpServer.start(held.handler, peers=True, keepalive_timeout=0.3)
    try:
        reader, writer = await _upgraded(srv.port)
        writer.write(_request(1, "/slow"))
        await held.wait_started(1)
        await asyncio.sleep(0.8)  # past the timeout, with the call running
        held.release.set()
        stream, kind, payload = await asyncio.wait_for(_read_frame(reader), 2.0)
        assert (stream, kind, f.decode_response(payload)[2]) == (1, f.RESPONSE, b"late")
        # Then idle: GOAWAY naming the last stream it started, and the close.
        stream, kind, payload = await asyncio.wait_for(_read_frame(reader), 2.0)
        assert (stream, kind, struct.unpack("!I", payload)) == (0, f.GOAWAY, (1,))
        assert await asyncio.wait_for(reader.read(), 2.0) == b""
        writer.close()
        assert not srv._conns
    finally:
        await srv.shutdown(1.0)


async def test_a_client_whose_idle_connection_the_server_closed_calls_on_a_new_one(
    client: MultiplexClient,
) -> None:
    seen = Seen()
    srv = await _echo_server(seen, keepalive_timeout=0.2)
    try:
        assert (await client.request("POST", "127.0.0.1", srv.port, "/one", None, b"1")).body == b"1"
        await asyncio.sleep(0.6)
        assert not srv._conns  # the server closed it: the client's idle timeout is longer
        assert (await client.request("POST", "127.0.0.1", srv.port, "/two", None, b"2")).body == b"2"
        assert [r.path for r in seen.requests] == ["/one", "/two"]
    finally:
        await srv.shutdown(1.0)


@pytest.mark.parametrize(
    "frames",
    [
        f.HEAD.pack(0, f.GOAWAY, 2) + b"\x00\x01",  # a GOAWAY too short for its last stream
        f.HEAD.pack(1, f.RESPONSE, 3) + b"\xc1\xc1\xc1",  # an answer that is not msgpack
        f.HEAD.pack(1, f.REQUEST, 0),  # the client's kind
    ],
    ids=["short-goaway", "bad-response", "request-kind"],
)
async def test_a_server_breaking_the_framing_fails_the_calls_on_that_connection(
    frames: bytes, client: MultiplexClient
) -> None:
    dropped = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: " + f.UPGRADE.encode() + b"\r\n\r\n")
        await reader.readexactly(9)  # the request's head: answer it with the broken frame
        writer.write(frames)
        await reader.read()  # until the client drops the connection
        writer.close()
        dropped.set()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(HttpClientError, match="broke the framing"):
            await client.request("GET", "127.0.0.1", port, "/x", timeout=2.0)
        await asyncio.wait_for(dropped.wait(), 2.0)
    finally:
        server.close()
        await server.wait_closed()
