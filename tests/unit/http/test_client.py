"""HttpClient against aiohttp's server, pydapr's own server and scripted raw-socket servers."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest
import trustme
import uvloop
from aiohttp import web

from pydapr.http.client import (
    ConnectError,
    ConnectionLost,
    HttpClient,
    HttpClientError,
    RequestTimeout,
    ResponseTooLarge,
)
from pydapr.http.messages import Headers, Request, Response
from pydapr.http.server import HttpServer

pytestmark = pytest.mark.timeout(10)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
RawServer = Callable[[Script], Awaitable[tuple[int, list[int]]]]


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    if request.param == "uvloop":
        return cast(asyncio.AbstractEventLoopPolicy, uvloop.EventLoopPolicy())
    return asyncio.DefaultEventLoopPolicy()


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    c = HttpClient()
    yield c
    await c.close()


async def _aiohttp_echo(request: web.Request) -> web.StreamResponse:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    info = {
        "x-method": request.method,
        "x-target": request.raw_path,
        "x-host": request.headers.get("Host", ""),
        "x-cl": request.headers.get("Content-Length", "-"),
        "x-te": request.headers.get("Transfer-Encoding", "-"),
        "x-conn": request.headers.get("Connection", "-"),
        "x-custom": request.headers.get("X-Custom", "-"),
        "x-peer": str(peer[1] if peer else "-"),
    }
    path = request.path
    if path == "/chunked":
        resp = web.StreamResponse(headers=info)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(5):
            await resp.write(b"chunk%d;" % i)
        await resp.write_eof()
        return resp
    if path == "/status":
        return web.Response(status=int(request.query["s"]), headers=info)
    resp = web.Response(body=await request.read() or b"hello", headers=info)
    if path == "/close":
        resp.force_close()
    return resp


@pytest.fixture
async def aio_server() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _aiohttp_echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def make(script: Script) -> tuple[int, list[int]]:
        accepted: list[int] = []

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.append(len(accepted) + 1)
            writers.append(w)
            try:
                await script(r, w, len(accepted))
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                w.close()

        srv = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        servers.append(srv)
        return srv.sockets[0].getsockname()[1], accepted

    yield make
    for w in writers:
        w.close()
    for srv in servers:
        srv.close()
        await srv.wait_closed()


async def read_request(r: asyncio.StreamReader) -> tuple[str, bytes]:
    head = (await r.readuntil(b"\r\n\r\n")).decode("latin-1")
    length = 0
    for line in head.split("\r\n")[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    return head, await r.readexactly(length) if length else b""


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


# --- aiohttp's server as the peer ---------------------------------------------------------------
async def test_request_headers_and_framing(client: HttpClient, aio_server: int) -> None:
    given = [
        ("Transfer-Encoding", "chunked"),
        ("Connection", "close"),
        ("Keep-Alive", "timeout=1"),
        ("Content-Length", "999"),
        ("X-Custom", "v"),
    ]
    r = await client.request("POST", "127.0.0.1", aio_server, "/p?q=1", given, b"abc")
    h = r.headers
    assert (r.status, r.body) == (200, b"abc")
    assert (h.get("x-method"), h.get("x-target"), h.get("x-custom")) == ("POST", "/p?q=1", "v")
    assert (h.get("x-cl"), h.get("x-te"), h.get("x-conn")) == ("3", "-", "-")
    assert h.get("x-host") == f"127.0.0.1:{aio_server}"

    r = await client.request("POST", "127.0.0.1", aio_server, "/", Headers([("Host", "svc")]))
    assert (r.headers.get("x-cl"), r.headers.get("x-host")) == ("0", "svc")
    r = await client.request("GET", "127.0.0.1", aio_server, "/")
    assert r.headers.get("x-cl") == "-"


async def test_keep_alive_connection_is_reused(client: HttpClient, aio_server: int) -> None:
    peers = set()
    for _ in range(5):
        r = await client.request("GET", "127.0.0.1", aio_server, "/")
        peers.add(r.headers.get("x-peer"))
    assert len(peers) == 1 and len(client._all) == 1


async def test_connection_close_from_server_is_not_reused(client: HttpClient, aio_server: int) -> None:
    a = await client.request("GET", "127.0.0.1", aio_server, "/close")
    b = await client.request("GET", "127.0.0.1", aio_server, "/close")
    assert a.headers.get("x-peer") != b.headers.get("x-peer")


async def test_chunked_response(client: HttpClient, aio_server: int) -> None:
    r = await client.request("GET", "127.0.0.1", aio_server, "/chunked")
    assert r.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"
    r2 = await client.request("GET", "127.0.0.1", aio_server, "/")
    assert r2.headers.get("x-peer") == r.headers.get("x-peer")


async def test_head_204_304_have_no_body_and_keep_the_connection(client: HttpClient, aio_server: int) -> None:
    r = await client.request("HEAD", "127.0.0.1", aio_server, "/")
    assert (r.status, r.body, r.headers.get("content-length")) == (200, b"", "5")
    peer = r.headers.get("x-peer")
    for s in (204, 304):
        r = await client.request("GET", "127.0.0.1", aio_server, f"/status?s={s}")
        assert (r.status, r.body, r.headers.get("x-peer")) == (s, b"", peer)
    r = await client.request("GET", "127.0.0.1", aio_server, "/")
    assert (r.body, r.headers.get("x-peer")) == (b"hello", peer)


async def test_tls_with_trustme(client: HttpClient) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _aiohttp_echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    try:
        peers = set()
        for _ in range(3):
            r = await client.request(
                "POST", "127.0.0.1", port, "/", body=b"secret", ssl=client_ctx, server_hostname="localhost"
            )
            assert r.body == b"secret"
            peers.add(r.headers.get("x-peer"))
        assert len(peers) == 1
        with pytest.raises(ConnectError):
            await client.request("GET", "127.0.0.1", port, "/", ssl=ssl.create_default_context())
    finally:
        await client.close()
        await runner.cleanup()


# --- pydapr's own server as the peer ------------------------------------------------------------
async def _echo(req: Request) -> Response:
    return Response(200, Headers([("x-path", req.target)]), req.body)


async def test_concurrent_requests_against_own_server(client: HttpClient) -> None:
    srv = await HttpServer.start(_echo)
    try:
        bodies = [b"%d" % i * 100 for i in range(50)]
        rs = await asyncio.gather(
            *(client.request("PUT", "127.0.0.1", srv.port, f"/{i}", body=b) for i, b in enumerate(bodies))
        )
        assert [r.body for r in rs] == bodies
        assert [r.headers.get("x-path") for r in rs] == [f"/{i}" for i in range(50)]
        big = bytes(range(256)) * 2000
        assert (await client.request("POST", "127.0.0.1", srv.port, "/big", body=big)).body == big
    finally:
        await client.close()
        await srv.shutdown(0.5)


async def test_unix_socket(client: HttpClient, tmp_path: Path) -> None:
    path = str(tmp_path / "u.sock")
    srv = await HttpServer.start(_echo, unix_path=path)
    try:
        for _ in range(2):
            r = await client.request("POST", "localhost", 0, "/u", body=b"via unix", unix_path=path)
            assert r.body == b"via unix"
        assert len(client._all) == 1
    finally:
        await client.close()
        await srv.shutdown(0.5)


async def test_idle_connections_expire_and_pool_is_bounded() -> None:
    srv = await HttpServer.start(_echo)
    c = HttpClient(idle_timeout=0.1, max_idle_per_host=2)
    try:
        await asyncio.gather(*(c.request("GET", "127.0.0.1", srv.port, "/") for _ in range(5)))
        assert sum(len(v) for v in c._pool.values()) == 2
        await asyncio.sleep(0.4)
        assert not c._pool and not c._all
    finally:
        await c.close()
        await srv.shutdown(0.5)


# --- scripted raw servers for the edge cases ----------------------------------------------------
async def test_read_until_close_response(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\npart one, ")
        await w.drain()
        await asyncio.sleep(0.02)
        w.write(b"part two")

    port, accepted = await raw_server(script)
    r = await client.request("GET", "127.0.0.1", port, "/")
    assert (r.status, r.body, r.headers.get("x-a")) == (200, b"part one, part two", "1")
    await client.request("GET", "127.0.0.1", port, "/")
    assert len(accepted) == 2


async def test_interim_responses_are_skipped(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)
        w.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK)
        await r.read()

    port, _ = await raw_server(script)
    r = await client.request("POST", "127.0.0.1", port, "/", body=b"x")
    assert (r.status, r.body, r.headers.get("link")) == (200, b"ok", None)


async def test_stale_reused_connection_is_retried_once(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)
        w.write(OK)
        await w.drain()
        await read_request(r)  # the server "closed while idle": the request crosses the close
        w.transport.abort()

    port, accepted = await raw_server(script)
    assert (await client.request("POST", "127.0.0.1", port, "/", body=b"1")).body == b"ok"
    assert (await client.request("POST", "127.0.0.1", port, "/", body=b"2")).body == b"ok"
    assert len(accepted) == 2


async def test_connection_closed_while_idle_is_not_used(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)
        w.write(OK)

    port, accepted = await raw_server(script)
    await client.request("GET", "127.0.0.1", port, "/")
    await asyncio.sleep(0.05)
    await client.request("GET", "127.0.0.1", port, "/")
    assert len(accepted) == 2


async def test_loss_after_response_bytes_is_not_retried(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)
        w.write(OK)
        await w.drain()
        await read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await w.drain()

    port, accepted = await raw_server(script)
    await client.request("GET", "127.0.0.1", port, "/")
    with pytest.raises(ConnectionLost):
        await client.request("GET", "127.0.0.1", port, "/")
    assert len(accepted) == 1


async def test_fresh_connection_closed_without_answer(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)

    port, accepted = await raw_server(script)
    with pytest.raises(ConnectionLost):
        await client.request("POST", "127.0.0.1", port, "/", body=b"once")
    assert len(accepted) == 1


async def test_connect_error(client: HttpClient) -> None:
    srv = await HttpServer.start(_echo)
    free = srv.port
    await srv.shutdown(0.1)
    with pytest.raises(ConnectError):
        await client.request("GET", "127.0.0.1", free, "/")
    with pytest.raises(ConnectError):
        await client.request("GET", "localhost", 0, "/", unix_path="/nonexistent/pydapr.sock")


async def test_timeout_discards_connection(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        _, body = await read_request(r)
        if body == b"slow":
            await asyncio.sleep(5)
        w.write(OK)
        await r.read()

    port, accepted = await raw_server(script)
    t0 = time.monotonic()
    with pytest.raises(RequestTimeout) as info:
        await client.request("POST", "127.0.0.1", port, "/", body=b"slow", timeout=0.1)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - t0 < 1.0
    await asyncio.sleep(0)
    assert not client._all
    assert (await client.request("POST", "127.0.0.1", port, "/", body=b"fast", timeout=1)).body == b"ok"
    assert len(accepted) == 2


async def test_cancelled_request_discards_connection(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)
        await asyncio.sleep(5)

    port, _ = await raw_server(script)
    task = asyncio.create_task(client.request("GET", "127.0.0.1", port, "/"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert not client._all and not any(client._pool.values())


async def test_response_body_limit(raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
        await r.read()

    port, _ = await raw_server(script)
    c = HttpClient(max_response_body=50)
    try:
        with pytest.raises(ResponseTooLarge):
            await c.request("GET", "127.0.0.1", port, "/")
    finally:
        await c.close()


async def test_malformed_response(client: HttpClient, raw_server: RawServer) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await read_request(r)
        w.write(b"HTTP/1.1 2xx Nope\r\n\r\n")
        await r.read()

    port, _ = await raw_server(script)
    with pytest.raises(HttpClientError):
        await client.request("GET", "127.0.0.1", port, "/")


async def test_header_injection_is_refused(client: HttpClient) -> None:
    with pytest.raises(ValueError):
        await client.request("GET", "127.0.0.1", 1, "/", [("x-a", "1\r\nx-b: 2")])
    with pytest.raises(ValueError):
        await client.request("GET", "127.0.0.1", 1, "/a b")
