"""The least any process in the path can add: two hops that only move bytes, under hey's bursts.

Issue 16 asks two sidecars to add under 1.0 ms at p90 to a call at 1000 requests/s in hey's bursts
of 16, on two cores the load generator and the app share. This measures what the cheapest possible
hops add on the same machine, beside the direct call, in the same rounds:

- **two byte relays in Python**: uvloop protocols, each client connection paired with one upstream
  connection and every read written on unchanged (no HTTP parsing, no headers, no TLS, nothing a
  sidecar does): one read and one write per message per hop, which any Python proxy pays;
- **two HTTP relays in Python**: each request and answer parsed with httptools and its head rebuilt
  without the hop-by-hop headers, in the protocol callbacks, with no task, future or coroutine per
  request (each client connection paired with one upstream connection, answers in order);
- **two pydapr.http proxies**: parse, forward and answer, as ``bench/http_proxy_calibration.py``'s;
- **two HAProxy hops**, when ``haproxy`` is installed (``apt-get install -y haproxy``): ``mode
  http`` (parsed, keep-alive to the next hop) and ``mode tcp`` (bytes only): what native proxies
  add on the same cores.

With ``--workers N`` a chain of the HTTP relays runs N processes per hop on one port each
(SO_REUSEPORT): does serving a burst in several processes help a hop this cheap?

``--callgrind N`` instead counts the instructions one hop of each Python kind executes per request
(valgrind's callgrind, over N requests from ``hey -c 4`` after 300 uncounted).

    python bench/relay_floor.py [--seconds 5] [--rounds 3] [--qps 62] [--haproxy-threads 1]
        [--workers 2] [--callgrind N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import cast

import httptools
import uvloop

sys.path.insert(0, os.path.dirname(__file__))
from http_proxy_calibration import _added, _free_port, _rounds, _row, _spawn, _spawn_port


class _Upstream(asyncio.Protocol):
    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class _Relay(asyncio.Protocol):
    """One client connection, relayed byte for byte to its own upstream connection."""

    upstream_protocol: Callable[[asyncio.Transport], asyncio.Protocol] = _Upstream

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.upstream: asyncio.Transport | None = None
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        make = self.upstream_protocol
        upstream, _ = await loop.create_connection(
            lambda: make(self.transport), "127.0.0.1", self.upstream_port
        )
        self.upstream = cast(asyncio.Transport, upstream)
        for data in self.early:
            self.upstream.write(data)
        self.early.clear()

    def data_received(self, data: bytes) -> None:
        self._forward(data)

    def _forward(self, data: bytes) -> None:
        if self.upstream is None:
            self.early.append(data)  # before the upstream connection is up
        else:
            self.upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.close()


# Hop-by-hop headers an HTTP relay does not pass on; it writes its own content-length.
_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"te", b"upgrade"})


class _HttpUpstream(asyncio.Protocol):
    """The upstream side of an HTTP relay: each response parsed, its head rebuilt, sent back."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.head: list[bytes] = []
        self.body: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_status(self, status: bytes) -> None:
        self.head = [b"HTTP/1.1 %d %s\r\n" % (self.parser.get_status_code(), status)]

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in _HOP:
            self.head.append(b"%s: %s\r\n" % (name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        self.body = []
        self.head.append(b"content-length: %d\r\n\r\n" % len(body))
        self.client.write(b"".join(self.head) + body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class _HttpRelay(_Relay):
    """An HTTP relay with no task per request: each request parsed (httptools, as pydapr.http
    does), its head rebuilt without the hop-by-hop headers, and written to the client's own
    upstream connection; the answers come back in order on that connection."""

    upstream_protocol = _HttpUpstream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.head: list[bytes] = []
        self.body: list[bytes] = []
        self.url = b""
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in _HOP:
            self.head.append(b"%s: %s\r\n" % (name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        line = b"%s %s HTTP/1.1\r\n" % (self.parser.get_method(), self.url)
        message = line + b"".join(self.head) + b"content-length: %d\r\n\r\n" % len(body) + body
        self.head, self.body, self.url = [], [], b""
        self._forward(message)


async def _serve_relay(upstream_port: int, http: bool, port: int) -> None:
    loop = asyncio.get_running_loop()
    kind = _HttpRelay if http else _Relay
    # A given port is shared with the hop's other processes (the kernel spreads the connections).
    server = await loop.create_server(lambda: kind(upstream_port), "127.0.0.1", port, reuse_port=port != 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def _relay_cmd(upstream_port: int, http: bool = False, port: int = 0) -> list[str]:
    flag = "--http-relay" if http else "--relay"
    return [sys.executable, __file__, flag, str(upstream_port), "--port", str(port)]


def _spawn_relay(upstream_port: int, http: bool = False, port: int = 0) -> tuple[subprocess.Popen[str], int]:
    return _spawn_port(_relay_cmd(upstream_port, http, port), "relay")


_HAPROXY = """global
    nbthread {threads}
defaults
    mode {mode}
    timeout connect 5s
    timeout client 30s
    timeout server 30s
{http_options}frontend hop
    bind 127.0.0.1:{port}
    default_backend next
backend next
    server next 127.0.0.1:{upstream}
"""


_HTTP_OPTIONS = "    option http-keep-alive\n    http-reuse always\n"


def _spawn_haproxy(
    upstream_port: int, workdir: str, mode: str, threads: int
) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    config = os.path.join(workdir, f"haproxy-{port}.cfg")
    options = _HTTP_OPTIONS if mode == "http" else ""
    with open(config, "w") as f:
        f.write(
            _HAPROXY.format(
                port=port, upstream=upstream_port, mode=mode, threads=threads, http_options=options
            )
        )
    proc = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("haproxy did not start")


def _callgrind(calls: int, workdir: str) -> None:
    """Instructions per request of one hop of each Python kind, in front of the echo app (hey -c 4)."""
    echo, echo_port = _spawn("echo")
    proxy = os.path.join(os.path.dirname(__file__), "http_proxy_calibration.py")
    kinds = {
        "byte relay (Python)": _relay_cmd(echo_port),
        "HTTP relay (Python, no task)": _relay_cmd(echo_port, http=True),
        "pydapr.http proxy": [sys.executable, proxy, "--serve", "proxy", "--upstream", str(echo_port)],
    }
    body = os.path.join(workdir, "body.bin")
    with open(body, "wb") as f:
        f.write(os.urandom(512).hex().encode())
    try:
        for name, cmd in kinds.items():
            out = os.path.join(workdir, f"cg-{len(name)}.out")
            flags = ["--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
            hop, port = _spawn_port(["valgrind", *flags, *cmd], name, quiet=True)
            url = f"http://127.0.0.1:{port}/echo"
            hey = ["hey", "-c", "4", "-m", "POST", "-D", body]
            try:
                subprocess.run([*hey, "-n", "300", url], check=True, capture_output=True)
                subprocess.run(
                    ["callgrind_control", "-i", "on", str(hop.pid)], check=True, capture_output=True
                )
                subprocess.run([*hey, "-n", str(calls), url], check=True, capture_output=True)
                subprocess.run(["callgrind_control", "-d", str(hop.pid)], check=True, capture_output=True)
            finally:
                hop.terminate()
                hop.wait(timeout=30)
            total = 0
            for dump in os.listdir(workdir):
                if dump.startswith(os.path.basename(out) + "."):
                    with open(os.path.join(workdir, dump)) as f:
                        total += sum(int(line.split()[1]) for line in f if line.startswith("totals:"))
            print(f"{name}: {total / calls / 1e3:,.0f} k instructions per request", flush=True)
    finally:
        echo.terminate()
        echo.wait(timeout=5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relay", type=int, metavar="UPSTREAM_PORT", help=argparse.SUPPRESS)
    ap.add_argument("--http-relay", type=int, metavar="UPSTREAM_PORT", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--qps", type=int, default=62, help="per hey worker")
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument(
        "--callgrind", type=int, metavar="N", help="count one hop's instructions over N calls instead"
    )
    ap.add_argument("--haproxy-threads", type=int, default=1)
    ap.add_argument(
        "--workers", type=int, default=1, help="also two HTTP relays of N processes each (SO_REUSEPORT)"
    )
    args = ap.parse_args()
    if args.relay or args.http_relay:
        uvloop.run(_serve_relay(args.relay or args.http_relay, bool(args.http_relay), args.port))
        return
    procs: list[subprocess.Popen[str]] = []
    workdir = tempfile.mkdtemp(prefix="pydapr-relay-floor-")
    if args.callgrind:
        try:
            _callgrind(args.callgrind, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    try:
        echo, echo_port = _spawn("echo")
        inner_relay, inner_relay_port = _spawn_relay(echo_port)
        outer_relay, outer_relay_port = _spawn_relay(inner_relay_port)
        inner_http, inner_http_port = _spawn_relay(echo_port, http=True)
        outer_http, outer_http_port = _spawn_relay(inner_http_port, http=True)
        inner_proxy, inner_proxy_port = _spawn("proxy", echo_port)
        outer_proxy, outer_proxy_port = _spawn("proxy", inner_proxy_port)
        procs += [echo, inner_relay, outer_relay, inner_http, outer_http, inner_proxy, outer_proxy]
        paths = {
            "direct": f"http://127.0.0.1:{echo_port}/echo",
            "two byte relays (Python)": f"http://127.0.0.1:{outer_relay_port}/echo",
            "two HTTP relays (Python, no task)": f"http://127.0.0.1:{outer_http_port}/echo",
            "two pydapr.http proxies": f"http://127.0.0.1:{outer_proxy_port}/echo",
        }
        pids = {
            "two byte relays (Python)": (inner_relay.pid, outer_relay.pid),
            "two HTTP relays (Python, no task)": (inner_http.pid, outer_http.pid),
            "two pydapr.http proxies": (inner_proxy.pid, outer_proxy.pid),
        }
        if args.workers > 1:
            name = f"two HTTP relays (Python, no task), {args.workers} processes each"
            inner_port, outer_port = _free_port(), _free_port()
            inner = [_spawn_relay(echo_port, True, inner_port)[0] for _ in range(args.workers)]
            outer = [_spawn_relay(inner_port, True, outer_port)[0] for _ in range(args.workers)]
            procs += inner + outer
            paths[name] = f"http://127.0.0.1:{outer_port}/echo"
            pids[name] = (*(p.pid for p in inner), *(p.pid for p in outer))
        for mode in ("http", "tcp") if shutil.which("haproxy") else ():
            inner_ha, inner_ha_port = _spawn_haproxy(echo_port, workdir, mode, args.haproxy_threads)
            outer_ha, outer_ha_port = _spawn_haproxy(inner_ha_port, workdir, mode, args.haproxy_threads)
            procs += [inner_ha, outer_ha]
            name = f"two HAProxy hops (C, mode {mode})"
            paths[name] = f"http://127.0.0.1:{outer_ha_port}/echo"
            pids[name] = (inner_ha.pid, outer_ha.pid)
        body_file = os.path.join(workdir, "body.bin")
        with open(body_file, "wb") as f:
            f.write(os.urandom(512).hex().encode())
        load = (args.concurrency, args.qps)
        results, cpu = _rounds(paths, pids, body_file, args.seconds, args.rounds, load)
        rate = args.concurrency * args.qps
        print(
            f"\nload: hey -c {args.concurrency} -q {args.qps} ({rate} req/s), 1 KiB POST; load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        for name, lat in results.items():
            print(_row(name, lat))
        for name in results:
            if name != "direct":
                us = cpu[name]
                half = len(us) // 2  # a hop's processes together: the inner hop's first
                print(
                    f"added by {name}: {_added(results, name)}   CPU per request inner/outer "
                    f"{sum(us[:half]):.0f} / {sum(us[half:]):.0f} µs"
                )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
