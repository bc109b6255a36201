"""HttpServer as an HTTP/1.1 peer: raw-socket edge cases and aiohttp's client as a second opinion."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

import aiohttp
import pytest
import uvloop
import yarl

from pydapr import errors
from pydapr.http.messages import Headers, Request, Response
from pydapr.http.server import HttpServer

pytestmark = pytest.mark.timeout(10)


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    if request.param == "uvloop":
        return cast(asyncio.AbstractEventLoopPolicy, uvloop.EventLoopPolicy())
    return asyncio.DefaultEventLoopPolicy()


async def echo(req: Request) -> Response:
    if req.path == "/empty":
        return Response(204)
    if req.path == "/not-modified":
        return Response(304, Headers([("etag", '"x"')]))
    info = {"method": req.method, "path": req.path, "query": req.query, "client": req.client}
    hdrs = Headers([("x-info", json.dumps(info)), ("x-body-len", str(len(req.body)))])
    return Response(200, hdrs, req.body or b"hello")


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    srv = await HttpServer.start(echo)
    yield srv
    await srv.shutdown(0.5)


async def start(handler: Callable[[Request], Awaitable[Response]], **kw: object) -> HttpServer:
    return await HttpServer.start(handler, **kw)  # type: ignore[arg-type]


async def read_response(
    reader: asyncio.StreamReader, *, head: bool = False
) -> tuple[int, dict[str, str], bytes]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    body = await reader.readexactly(n) if n and not head else b""
    return status, headers, body


async def connect(srv: HttpServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", srv.port)


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 2) == b""
    except ConnectionResetError:
        return True


# --- aiohttp's client as the peer ---------------------------------------------------------------
async def test_aiohttp_client_keep_alive_reuses_one_connection(server: HttpServer) -> None:
    async with aiohttp.ClientSession() as s:
        clients = set()
        for i in range(5):
            url = yarl.URL(f"http://127.0.0.1:{server.port}/a%20b/c?x=1&y=%2F", encoded=True)
            async with s.post(url, data=b"z" * i) as r:
                assert r.status == 200
                info = json.loads(r.headers["x-info"])
                assert (info["method"], info["path"], info["query"]) == ("POST", "/a%20b/c", "x=1&y=%2F")
                assert await r.read() == (b"z" * i or b"hello")
                assert r.headers["Content-Length"] == str(len(b"z" * i or b"hello"))
                assert "Date" in r.headers
                clients.add(tuple(info["client"]))
        assert len(clients) == 1


async def test_aiohttp_client_sends_chunked_body(server: HttpServer) -> None:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(10):
            yield bytes([65 + i]) * 1000

    async with aiohttp.ClientSession() as s, s.put(f"http://127.0.0.1:{server.port}/c", data=gen()) as r:
        assert r.status == 200
        assert await r.read() == b"".join(bytes([65 + i]) * 1000 for i in range(10))


async def test_aiohttp_client_expect_100_continue(server: HttpServer) -> None:
    url = f"http://127.0.0.1:{server.port}/e"
    async with aiohttp.ClientSession() as s, s.post(url, data=b"payload", expect100=True) as r:
        assert r.status == 200
        assert await r.read() == b"payload"


async def test_aiohttp_client_head_and_204(server: HttpServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.head(f"http://127.0.0.1:{server.port}/h") as r:
            assert r.status == 200
            assert r.headers["Content-Length"] == "5"
            assert await r.read() == b""
        async with s.get(f"http://127.0.0.1:{server.port}/empty") as r:
            assert r.status == 204
            assert "Content-Length" not in r.headers


# --- raw sockets ------------------------------------------------------------------------------
async def test_pipelined_requests_are_answered_in_order() -> None:
    async def handler(req: Request) -> Response:
        await asyncio.sleep(0.05 if req.path == "/slow" else 0)
        return Response(200, body=req.path.encode())

    srv = await start(handler)
    r, w = await connect(srv)
    w.write(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    bodies = [(await read_response(r))[2] for _ in range(3)]
    assert bodies == [b"/slow", b"/b", b"/c"]
    w.close()
    await srv.shutdown(0.5)


async def test_many_pipelined_requests_survive_read_backpressure(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(200)))
    for i in range(200):
        _, h, _ = await read_response(r)
        assert json.loads(h["x-info"])["path"] == f"/{i}"
    w.close()


async def test_chunked_request_body(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await asyncio.sleep(0.02)
    w.write(b"6\r\n world\r\n0\r\n\r\n")
    status, headers, body = await read_response(r)
    assert (status, body, headers["x-body-len"]) == (200, b"hello world", "11")
    w.close()


async def test_expect_100_continue_is_sent_before_the_body(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    assert await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 2) == b"HTTP/1.1 100 Continue\r\n\r\n"
    w.write(b"data")
    assert (await read_response(r))[2] == b"data"
    w.close()


async def test_head_has_length_but_no_body_and_connection_continues(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = await read_response(r, head=True)
    assert (status, headers["content-length"]) == (200, "5")
    status, _, body = await read_response(r)
    assert (status, body) == (200, b"hello")
    w.close()


async def test_204_and_304_have_no_body(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\nGET /not-modified HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = await read_response(r)
    assert status == 204 and "content-length" not in headers
    status, headers, _ = await read_response(r)
    assert status == 304 and headers["etag"] == '"x"' and "content-length" not in headers
    w.write(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(r))[0] == 200
    w.close()


async def test_date_header_is_http_date(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, _ = await read_response(r)
    assert headers["date"].endswith(" GMT") and len(headers["date"]) == 29
    w.close()


async def test_connection_close_is_honoured(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, _ = await read_response(r)
    assert (status, headers["connection"]) == (200, "close")
    assert await closed_by_peer(r)
    w.close()


async def test_http10_closes_unless_keep_alive_asked(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    _, headers, _ = await read_response(r)
    assert headers["connection"].lower() == "keep-alive"
    w.write(b"GET /b HTTP/1.0\r\n\r\n")
    _, headers, _ = await read_response(r)
    assert headers["connection"] == "close"
    assert await closed_by_peer(r)
    w.close()


async def test_absolute_form_target(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"GET http://example.com/p/q?k=v HTTP/1.1\r\nHost: example.com\r\n\r\n")
    info = json.loads((await read_response(r))[1]["x-info"])
    assert (info["path"], info["query"]) == ("/p/q", "k=v")
    w.close()


# --- limits and errors --------------------------------------------------------------------------
async def test_body_too_large_by_content_length_gives_413_and_close() -> None:
    srv = await start(echo, max_body_size=100)
    r, w = await connect(srv)
    w.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
    status, headers, body = await read_response(r)
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(body)["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert await closed_by_peer(r)
    w.close()
    await srv.shutdown(0.5)


async def test_body_too_large_while_chunked_gives_413() -> None:
    srv = await start(echo, max_body_size=100)
    r, w = await connect(srv)
    w.write(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    w.write(b"40\r\n" + b"a" * 64 + b"\r\n" + b"40\r\n" + b"a" * 64 + b"\r\n")
    status, _, body = await read_response(r)
    assert status == 413 and b"exceeds the limit" in body
    assert await closed_by_peer(r)
    w.close()
    await srv.shutdown(0.5)


async def test_headers_too_large_gives_431() -> None:
    srv = await start(echo, max_header_bytes=1024)
    r, w = await connect(srv)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(40)))
    w.write(b"\r\n")
    status, _, body = await read_response(r)
    assert status == 431 and json.loads(body)["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert await closed_by_peer(r)
    w.close()
    await srv.shutdown(0.5)


async def test_one_endless_header_line_is_cut_off() -> None:
    srv = await start(echo, max_header_bytes=1024)
    r, w = await connect(srv)
    w.write(b"GET / HTTP/1.1\r\nX-Long: ")
    for _ in range(10):
        w.write(b"v" * 512)
        await asyncio.sleep(0.005)
    assert (await read_response(r))[0] == 431
    w.close()
    await srv.shutdown(0.5)


async def test_malformed_request_gives_400_and_close(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
    status, _, body = await read_response(r)
    assert status == 400 and json.loads(body)["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert await closed_by_peer(r)
    w.close()


async def test_bad_request_after_good_pipelined_one_answers_both(server: HttpServer) -> None:
    r, w = await connect(server)
    w.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\x01\r\n\r\n")
    assert (await read_response(r))[0] == 200
    assert (await read_response(r))[0] == 400
    w.close()


async def test_handler_errors_become_json_and_connection_survives(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(req: Request) -> Response:
        if req.path == "/boom":
            raise RuntimeError("kaboom")
        if req.path == "/dapr":
            raise errors.UNAUTHORIZED()
        if req.path == "/split":
            return Response(200, Headers([("x-bad", "a\r\nx-injected: 1")]))
        return Response(200, body=b"ok")

    srv = await start(handler)
    r, w = await connect(srv)
    w.write(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await read_response(r)
    assert (status, json.loads(body)["errorCode"]) == (500, "ERR_INTERNAL")
    assert headers["content-type"] == "application/json"
    assert any("kaboom" in str(rec.exc_info) for rec in caplog.records if rec.name == "pydapr.http")
    w.write(b"GET /dapr HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = await read_response(r)
    assert (status, json.loads(body)["errorCode"]) == (401, "ERR_UNAUTHORIZED")
    w.write(b"GET /split HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = await read_response(r)
    assert status == 500 and "x-injected" not in headers
    w.write(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(r))[2] == b"ok"
    w.close()
    await srv.shutdown(0.5)


async def test_peer_disconnect_mid_body_never_calls_handler() -> None:
    calls = []

    async def handler(req: Request) -> Response:
        calls.append(req)
        return Response(200)

    srv = await start(handler)
    _, w = await connect(srv)
    w.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
    await asyncio.sleep(0.02)
    w.close()
    await asyncio.sleep(0.05)
    assert calls == [] and srv.in_flight == 0 and not srv._conns
    await srv.shutdown(0.5)


async def test_peer_disconnect_while_handling_cancels_handler() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(req: Request) -> Response:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response(200)

    srv = await start(handler)
    _, w = await connect(srv)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(started.wait(), 2)
    assert srv.in_flight == 1
    w.transport.abort()
    await asyncio.wait_for(cancelled.wait(), 2)
    await asyncio.sleep(0)
    assert srv.in_flight == 0
    await srv.shutdown(0.5)


async def test_idle_keep_alive_connection_times_out() -> None:
    srv = await start(echo, keepalive_timeout=0.2)
    r, w = await connect(srv)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await read_response(r)
    assert await closed_by_peer(r)
    w.close()
    await srv.shutdown(0.5)


# --- lifecycle ----------------------------------------------------------------------------------
async def test_port_in_use_raises_oserror(server: HttpServer) -> None:
    with pytest.raises(OSError):
        await start(echo, port=server.port)


async def test_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    srv = await start(echo, unix_path=path)
    assert srv.port == 0
    r, w = await asyncio.open_unix_connection(path)
    w.write(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    status, headers, body = await read_response(r)
    assert (status, body, json.loads(headers["x-info"])["client"]) == (200, b"hi", None)
    w.close()
    await srv.shutdown(0.5)


async def test_graceful_shutdown() -> None:
    release, started = asyncio.Event(), asyncio.Event()

    async def handler(req: Request) -> Response:
        if req.path == "/slow":
            started.set()
            await release.wait()
        return Response(200, body=b"done")

    srv = await start(handler)
    idle_r, idle_w = await connect(srv)
    idle_w.write(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
    await read_response(idle_r)
    busy_r, busy_w = await connect(srv)
    busy_w.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(started.wait(), 2)
    assert srv.in_flight == 1

    stopping = asyncio.create_task(srv.shutdown(2.0))
    assert await closed_by_peer(idle_r)
    with pytest.raises(OSError):
        await connect(srv)
    assert not stopping.done()
    release.set()
    status, headers, body = await read_response(busy_r)
    assert (status, body, headers["connection"]) == (200, b"done", "close")
    await asyncio.wait_for(stopping, 2)
    assert srv.in_flight == 0
    idle_w.close()
    busy_w.close()


async def test_shutdown_grace_expiry_cancels_handlers() -> None:
    cancelled, started = asyncio.Event(), asyncio.Event()

    async def handler(req: Request) -> Response:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response(200)

    srv = await start(handler)
    r, w = await connect(srv)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(started.wait(), 2)
    await asyncio.wait_for(srv.shutdown(0.1), 2)
    assert cancelled.is_set() and srv.in_flight == 0
    assert await closed_by_peer(r)
    w.close()
