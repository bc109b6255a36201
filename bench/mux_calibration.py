"""Does a multiplexed middle hop lower the floor? Two pass-through proxies, the hop between them
either pydapr's pooled HTTP/1.1 (one connection per request in flight) or one connection carrying
every request as a length-prefixed frame, a loop pass's frames written together.

The framing here is a throwaway (no flow control, no errors): it measures what batching a burst's
messages into one write and one read saves, before any protocol is built on it.

    python bench/mux_calibration.py [--seconds 5] [--rounds 3] [--qps 62]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import subprocess
import sys
import tempfile
from typing import cast

import uvloop

sys.path.insert(0, os.path.dirname(__file__))
from http_proxy_calibration import _HOP, _added, _rounds, _row, _spawn_port
from pydapr.http.client import HttpClient
from pydapr.http.messages import Headers, Request, Response
from pydapr.http.server import HttpServer

_FRAME = struct.Struct("!II")


def _encode_headers(first: str, headers: list[tuple[str, str]]) -> bytes:
    return ("\n".join([first, *(f"{k}: {v}" for k, v in headers)]) + "\n\n").encode("latin-1")


def _decode_headers(payload: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    end = payload.index(b"\n\n")
    lines = payload[:end].decode("latin-1").split("\n")
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(": ")
        headers.append((k, v))
    return lines[0], headers, payload[end + 2 :]


class _Framed(asyncio.Protocol):
    """Frames in, frames out; what a loop pass queues leaves in one write."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self, stream: int, payload: bytes) -> None:
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(_FRAME.pack(stream, len(payload)))
        self._out.append(payload)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None:
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        n = len(buf)
        while n - pos >= 8:
            stream, size = _FRAME.unpack_from(buf, pos)
            if n - pos - 8 < size:
                break
            self.frame(stream, bytes(buf[pos + 8 : pos + 8 + size]))
            pos += 8 + size
        del buf[:pos]

    def frame(self, stream: int, payload: bytes) -> None:
        raise NotImplementedError


class _MuxServer(_Framed):
    def __init__(self, client: HttpClient, upstream: int) -> None:
        super().__init__()
        self._client = client
        self._upstream = upstream

    def frame(self, stream: int, payload: bytes) -> None:
        self._loop.create_task(self._serve(stream, payload))

    async def _serve(self, stream: int, payload: bytes) -> None:
        first, headers, body = _decode_headers(payload)
        method, _, target = first.partition(" ")
        up = await self._client.request(
            method, "127.0.0.1", self._upstream, target, headers, body, timeout=10.0
        )
        out = [(k, v) for k, v in up.headers.items() if k not in _HOP and k != "date"]
        self.send(stream, _encode_headers(str(up.status), out) + up.body)


class _MuxClient(_Framed):
    def __init__(self) -> None:
        super().__init__()
        self._next = 1
        self._waiting: dict[int, asyncio.Future[bytes]] = {}

    def request(self, req: Request) -> asyncio.Future[bytes]:
        stream = self._next
        self._next += 2
        fut: asyncio.Future[bytes] = self._loop.create_future()
        self._waiting[stream] = fut
        headers = [(k, v) for k, v in req.headers.items() if k not in _HOP]
        self.send(stream, _encode_headers(f"{req.method} {req.target}", headers) + req.body)
        return fut

    def frame(self, stream: int, payload: bytes) -> None:
        fut = self._waiting.pop(stream)
        if not fut.done():
            fut.set_result(payload)


async def _serve(role: str, upstream: int) -> None:
    loop = asyncio.get_running_loop()
    if role == "inner":
        client = HttpClient()
        server = await loop.create_server(lambda: _MuxServer(client, upstream), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
    else:
        mux = _MuxClient()
        await loop.create_connection(lambda: mux, "127.0.0.1", upstream)

        async def handler(req: Request) -> Response:
            status, headers, body = _decode_headers(await mux.request(req))
            return Response(int(status), Headers.from_lowercase(headers), body)

        http = await HttpServer.start(handler, port=0)
        port = http.port
    print(f"PORT {port}", flush=True)
    await asyncio.Event().wait()


def _spawn(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    return _spawn_port([sys.executable, *args], str(args))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--serve", choices=["inner", "outer"])
    ap.add_argument("--upstream", type=int, default=0)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--qps", type=int, default=62, help="per hey worker")
    args = ap.parse_args()
    if args.serve:
        uvloop.run(_serve(args.serve, args.upstream))
        return
    calib = os.path.join(os.path.dirname(__file__), "http_proxy_calibration.py")
    procs = []
    try:
        echo, echo_port = _spawn([calib, "--serve", "echo"])
        procs.append(echo)
        inner, inner_port = _spawn([calib, "--serve", "proxy", "--upstream", str(echo_port)])
        outer, outer_port = _spawn([calib, "--serve", "proxy", "--upstream", str(inner_port)])
        minner, minner_port = _spawn([__file__, "--serve", "inner", "--upstream", str(echo_port)])
        mouter, mouter_port = _spawn([__file__, "--serve", "outer", "--upstream", str(minner_port)])
        procs += [inner, outer, minner, mouter]
        paths = {
            "direct": f"http://127.0.0.1:{echo_port}/echo",
            "two proxies, HTTP/1.1 hop": f"http://127.0.0.1:{outer_port}/echo",
            "two proxies, one framed hop": f"http://127.0.0.1:{mouter_port}/echo",
        }
        with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
            f.write(os.urandom(512).hex().encode())
            body_file = f.name
        load = (args.concurrency, args.qps)
        pids = {
            "two proxies, HTTP/1.1 hop": (inner.pid, outer.pid),
            "two proxies, one framed hop": (minner.pid, mouter.pid),
        }
        results, cpu = _rounds(paths, pids, body_file, args.seconds, args.rounds, load)
        os.unlink(body_file)
        rate = args.concurrency * args.qps
        print(f"\nload: hey -c {args.concurrency} -q {args.qps} ({rate} req/s), 1 KiB POST")
        for name, lat in results.items():
            print(_row(name, lat))
        for name in results:
            if name != "direct":
                us = cpu[name]
                print(
                    f"added by {name}: {_added(results, name)}   "
                    f"CPU per request inner/outer {us[0]:.0f} / {us[1]:.0f} µs"
                )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=5)


if __name__ == "__main__":
    main()
