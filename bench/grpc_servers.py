"""The floor of a gRPC server in Python: CPU per unary call of each candidate server for pydapr's
gRPC API, serving an echo method with no work, loaded by the same ``grpc.aio`` client (the SDKs'
clients are grpcio) from another process. Issue 16 asks for the gRPC API to be at least as fast as
the HTTP one; this measures what the server stack alone costs before any pydapr code.

    python bench/grpc_servers.py [--calls 20000] [--concurrency 16] [--rounds 3] [--workers 16]
        [--rate 1000] [--seconds 5] [--kinds aio,sync,...] [--deadline S] [--profile DIR]

Servers (``--kinds``, all by default): grpcio's aio server under uvloop (as the sidecar runs it),
on the default asyncio loop, with ``grpc.optimization_target=throughput``, with the sidecar's own
options, with ``GRPC_POLL_STRATEGY=poll``, with ``GRPC_ENABLE_FORK_SUPPORT=1``, with a sync handler
on a ``migration_thread_pool``; grpcio's sync server on 16 and on 4 threads; grpclib (pure Python on
``h2``) under uvloop; two prototypes from bench/_grpc_prototypes.py under uvloop (on ``h2``, and on
a hand-written frame layer with ``hpack``); and, for scale, pydapr's HTTP/1.1 server
(``pydapr.http``) echoing the same 1 KiB body to pydapr's pooled HTTP client, and a real pydapr
sidecar (``python -m pydapr sidecar``, a state.in-memory store) answering a 1 KiB ``GetState`` on its
gRPC API and the same read on its HTTP API (``GET /v1.0/state/memory/{key}``, pydapr's HTTP client).

Each round runs each server in its own process, in an order that alternates between rounds. After
500 warm-up calls it sends ``--calls`` 1 KiB unary calls with ``--concurrency`` in flight (closed
loop: calls/s), then calls at a fixed ``--rate`` for ``--seconds`` from ``--concurrency`` workers,
each at rate/concurrency per second, their starts spread evenly over one period (p50/p99 from each
call's send to its reply). ``--deadline`` puts the same timeout on every gRPC call (sent as
``grpc-timeout``, which grpcio rounds up). Around both it reads the server process's utime + stime
(``RUSAGE_SELF``, its threads included; a sidecar's from /proc/<pid>/stat) and the client's own
(this process; the client runs on the default asyncio loop). Figures are medians across rounds.
``--profile DIR`` runs each of this script's servers under ``py-spy record --nonblocking`` and
leaves DIR/<kind>.txt (collapsed stacks) and a top-20 of self time on stdout; CPU figures from
such a run are not comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc

METHOD = "/bench.Echo/Call"
PAYLOAD = b"x" * 1024
WARMUP = 500


@dataclass(frozen=True)
class Kind:
    label: str
    env: dict[str, str] = field(default_factory=dict)


KINDS = {
    "aio": Kind("`grpc.aio` (uvloop)"),
    "aio-asyncio": Kind("`grpc.aio`, default asyncio loop"),
    "aio-throughput": Kind("`grpc.aio` (uvloop), `grpc.optimization_target=throughput`"),
    "aio-sidecar": Kind(
        "`grpc.aio` (uvloop), the sidecar's options (4 MiB limits, so_reuseport 0) "
        "+ max_concurrent_streams 1000"
    ),
    "aio-poll": Kind("`grpc.aio` (uvloop), `GRPC_POLL_STRATEGY=poll`", {"GRPC_POLL_STRATEGY": "poll"}),
    "aio-fork": Kind("`grpc.aio` (uvloop), `GRPC_ENABLE_FORK_SUPPORT=1`", {"GRPC_ENABLE_FORK_SUPPORT": "1"}),
    "aio-migration": Kind("`grpc.aio` (uvloop), sync handler on a 16-thread `migration_thread_pool`"),
    "sync": Kind("`grpc.server`, 16 threads"),
    "sync4": Kind("`grpc.server`, 4 threads"),
    "grpclib": Kind("grpclib (uvloop)"),
    "h2": Kind("prototype on `h2` (uvloop)"),
    "frames": Kind("prototype, own frame layer + `hpack` (uvloop)"),
    "http": Kind("for scale: `pydapr.http` HTTP/1.1 server, pydapr's HTTP client"),
    "sidecar-grpc": Kind("for scale: a pydapr sidecar's gRPC API, `GetState` (state.in-memory, 1 KiB value)"),
    "sidecar-http": Kind(
        "for scale: a pydapr sidecar's HTTP API, `GET /v1.0/state/memory/{key}`, pydapr's HTTP client"
    ),
}
STORE = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: memory
spec:
  type: state.in-memory
  version: v1
"""
KEY = "bench-key"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _handler(behaviour: Any) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "bench.Echo", {"Call": grpc.unary_unary_rpc_method_handler(behaviour)}
    )


def serve_sync(workers: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((_handler(lambda request, context: request),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    _report(port)
    server.stop(0)


async def _echo(request: bytes, context: Any) -> bytes:
    return request


async def _start_aio(kind: str) -> int:
    options: list[tuple[str, Any]] = []
    pool = None
    behaviour: Any = _echo
    if kind == "aio-throughput":
        options.append(("grpc.optimization_target", "throughput"))
    elif kind == "aio-sidecar":
        size = 4 * 1024 * 1024
        options += [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)]
        options += [("grpc.so_reuseport", 0), ("grpc.max_concurrent_streams", 1000)]
    elif kind == "aio-migration":
        pool = futures.ThreadPoolExecutor(max_workers=16)
        behaviour = lambda request, context: request  # noqa: E731 - a sync handler, run on the pool
    server = grpc.aio.server(migration_thread_pool=pool, options=options)
    server.add_generic_rpc_handlers((_handler(behaviour),))
    port: int = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    _STOP.append(lambda: server.stop(0))
    return port


async def _start_grpclib() -> int:
    from grpclib.const import Cardinality
    from grpclib.const import Handler as GrpclibHandler
    from grpclib.encoding.base import CodecBase
    from grpclib.server import Server, Stream

    class RawCodec(CodecBase):
        """Messages stay bytes, as the grpcio client sends them with no serializer."""

        __content_subtype__ = "proto"

        def encode(self, message: Any, message_type: Any) -> bytes:
            return bytes(message)

        def decode(self, data: bytes, message_type: Any) -> bytes:
            return data

    async def call(stream: Stream[bytes, bytes]) -> None:
        request = await stream.recv_message()
        assert request is not None
        await stream.send_message(request)

    class Echo:
        def __mapping__(self) -> dict[str, GrpclibHandler]:
            return {METHOD: GrpclibHandler(call, Cardinality.UNARY_UNARY, bytes, bytes)}

    server = Server([Echo()], codec=RawCodec())
    await server.start("127.0.0.1", 0)
    _STOP.append(_closer(server))
    listener: Any = server._server  # no public accessor for the port
    return int(listener.sockets[0].getsockname()[1])


async def _start_prototype(kind: str) -> int:
    import _grpc_prototypes

    async def echo(message: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        return message

    server, port = await _grpc_prototypes.start(kind, {METHOD.encode(): echo})
    _STOP.append(_closer(server))
    return int(port)


async def _start_http() -> int:
    from pydapr.http.messages import Headers, Request, Response
    from pydapr.http.server import HttpServer

    async def echo(request: Request) -> Response:
        ctype = request.headers.get("content-type") or "application/octet-stream"
        return Response(200, Headers.from_lowercase([("content-type", ctype)]), request.body)

    server = await HttpServer.start(echo)
    _STOP.append(lambda: server.shutdown(0))
    return server.port


_STOP: list[Callable[[], Awaitable[Any]]] = []  # how to stop the running server


def _closer(server: Any) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return stop


def serve_async(kind: str) -> None:
    async def main() -> None:
        if kind.startswith("aio"):
            port = await _start_aio(kind)
        elif kind == "grpclib":
            port = await _start_grpclib()
        elif kind == "http":
            port = await _start_http()
        else:
            port = await _start_prototype(kind)
        await asyncio.get_running_loop().run_in_executor(None, _report, port)
        for stop in _STOP:
            await stop()

    if kind != "aio-asyncio":
        import uvloop

        uvloop.install()
    asyncio.run(main())


def _report(port: int) -> None:
    """Tell the parent the port; on each line it sends, answer the CPU used so far."""
    print(port, flush=True)
    for _ in sys.stdin:
        print(_cpu(), flush=True)


@dataclass
class Sample:
    """One round of one server."""

    server_cpu: float  # µs per call, closed loop
    rate: float  # calls/s, closed loop
    client_cpu: float  # µs per call, closed loop
    fixed_server_cpu: float  # µs per call at the fixed rate
    p50: float  # ms, at the fixed rate
    p99: float


class Client:
    """One call shape for every server: the grpc.aio client, or pydapr's HTTP client for ``http``."""

    def __init__(self, kind: str, port: int, deadline: float | None = None) -> None:
        self._kind = kind
        self._port = port
        self._deadline = deadline  # seconds, sent as grpc-timeout on every gRPC call
        self._channel: Any = None
        self._http: Any = None
        self.call: Any = None

    async def __aenter__(self) -> Client:
        if self._kind == "sidecar-grpc":
            from dapr.proto.runtime.v1 import state_pb2

            self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{self._port}")
            get_state = self._channel.unary_unary(
                "/dapr.proto.runtime.v1.Dapr/GetState",
                request_serializer=state_pb2.GetStateRequest.SerializeToString,
                response_deserializer=state_pb2.GetStateResponse.FromString,
            )
            request = state_pb2.GetStateRequest(store_name="memory", key=KEY)

            async def get(body: bytes) -> bytes:
                return bytes((await get_state(request, timeout=self._deadline)).data)

            self.call = get
        elif self._kind in ("http", "sidecar-http"):
            from pydapr.http.client import HttpClient

            self._http = http = HttpClient()
            headers = [("content-type", "application/octet-stream")]

            async def call(body: bytes) -> bytes:
                response = await http.request("POST", "127.0.0.1", self._port, "/echo", headers, body)
                assert response.status == 200
                return bytes(response.body)

            async def get(body: bytes) -> bytes:
                response = await http.request("GET", "127.0.0.1", self._port, f"/v1.0/state/memory/{KEY}")
                assert response.status == 200
                return bytes(response.body)

            if self._kind == "sidecar-http":
                call = get

            self.call = call
        else:
            self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{self._port}")
            self.call = functools.partial(self._channel.unary_unary(METHOD), timeout=self._deadline)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._channel is not None:
            await self._channel.close()
        if self._http is not None:
            await self._http.close()


async def closed_loop(
    kind: str, port: int, calls: int, concurrency: int, deadline: float | None = None
) -> tuple[float, float]:
    """(calls/s, client CPU µs per call) of ``calls`` echo calls, ``concurrency`` at a time."""
    async with Client(kind, port, deadline) as client:
        left = iter(range(calls))

        async def worker() -> None:
            for _ in left:
                reply = await client.call(PAYLOAD)
                assert len(reply) == len(PAYLOAD)

        cpu, started = _cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, used = time.perf_counter() - started, _cpu() - cpu
    return calls / elapsed, used / calls * 1e6


async def fixed_rate(
    kind: str, port: int, rate: float, seconds: float, concurrency: int, deadline: float | None = None
) -> list[float]:
    """Each call's latency (ms, send to reply) at ``rate`` calls/s from ``concurrency`` workers."""
    async with Client(kind, port, deadline) as client:
        loop = asyncio.get_running_loop()
        period = concurrency / rate
        per_worker = int(rate * seconds / concurrency)
        start = loop.time() + 0.05
        latencies: list[float] = []

        async def worker(i: int) -> None:
            first = start + i * period / concurrency
            for n in range(per_worker):
                delay = first + n * period - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.perf_counter()
                await client.call(PAYLOAD)
                latencies.append((time.perf_counter() - sent) * 1e3)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies


def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _answer(stdout: IO[str]) -> str:
    """The server's next line, past py-spy's own (it shares the server's stdout)."""
    while True:
        line = stdout.readline()
        if line == "" or (line.strip() and not line.startswith("py-spy>")):
            return line


@contextlib.contextmanager
def _echo_server(kind: str, args: argparse.Namespace) -> Iterator[tuple[int, Callable[[], float]]]:
    """One of this script's own servers in its own process: (port, its CPU seconds so far)."""
    workers = "4" if kind == "sync4" else str(args.workers)
    argv = [sys.executable, __file__, "--serve", kind, "--workers", workers]
    if args.profile:
        out = Path(args.profile) / f"{kind}.txt"
        argv = ["py-spy", "record", "--nonblocking", "-r", "200", "-f", "raw", "-o", str(out), "--", *argv]
    env = dict(os.environ, **KINDS[kind].env)
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) as server:
        assert server.stdin is not None and server.stdout is not None
        port = int(_answer(server.stdout))

        def cpu() -> float:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write("\n")
            server.stdin.flush()
            return float(_answer(server.stdout))

        yield port, cpu
        server.stdin.close()
        server.wait(30)


@contextlib.contextmanager
def _sidecar(kind: str) -> Iterator[tuple[int, Callable[[], float]]]:
    """A pydapr sidecar with an in-memory store holding KEY: (the API's port, its CPU seconds so far)."""
    from _common import cpu_ticks, free_ports, spawn, stop, wait_status

    with tempfile.TemporaryDirectory(prefix="grpc-servers-") as tmp:
        (Path(tmp) / "res").mkdir()
        (Path(tmp) / "res" / "memory.yaml").write_text(STORE)
        http_port, grpc_port, metrics_port = free_ports(3)
        argv = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", "bench"]
        argv += ["--resources-path", f"{tmp}/res", "--log-level", "warn"]
        argv += ["--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port)]
        argv += ["--metrics-port", str(metrics_port)]
        proc = spawn(argv, env=dict(os.environ, PYDAPR_HOME=f"{tmp}/home"))
        try:
            wait_status(http_port, "/v1.0/healthz/outbound", 204, proc=proc)
            body = json.dumps([{"key": KEY, "value": "x" * (len(PAYLOAD) - 2)}]).encode()
            save = urllib.request.Request(f"http://127.0.0.1:{http_port}/v1.0/state/memory", body)
            save.add_header("content-type", "application/json")
            with urllib.request.urlopen(save) as response:
                assert response.status == 204
            tick = os.sysconf("SC_CLK_TCK")
            yield (grpc_port if kind == "sidecar-grpc" else http_port), lambda: cpu_ticks(proc.pid) / tick
        finally:
            stop(proc)


def one_round(kind: str, args: argparse.Namespace) -> Sample:
    server = _sidecar(kind) if kind.startswith("sidecar") else _echo_server(kind, args)
    with server as (port, cpu):
        asyncio.run(closed_loop(kind, port, WARMUP, args.concurrency, args.deadline))  # channel, caches
        before = cpu()
        rate, client_cpu = asyncio.run(closed_loop(kind, port, args.calls, args.concurrency, args.deadline))
        middle = cpu()
        fixed = fixed_rate(kind, port, args.rate, args.seconds, args.concurrency, args.deadline)
        latencies = asyncio.run(fixed)
        after = cpu()
    return Sample(
        server_cpu=(middle - before) / args.calls * 1e6,
        rate=rate,
        client_cpu=client_cpu,
        fixed_server_cpu=(after - middle) / len(latencies) * 1e6,
        p50=_percentile(latencies, 50),
        p99=_percentile(latencies, 99),
    )


def _line(s: Sample, rate: float) -> str:
    closed = f"server {s.server_cpu:6.1f} µs/call, {s.rate:6.0f} calls/s, client {s.client_cpu:6.1f} µs/call"
    fixed = f"server {s.fixed_server_cpu:6.1f} µs/call, p50 {s.p50:.2f} ms, p99 {s.p99:.2f} ms"
    return f"{closed} | at {rate:.0f}/s: {fixed}"


def _row(label: str, rs: list[Sample]) -> str:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    closed = ", ".join(f"{r.server_cpu:.0f}" for r in rs)
    fixed = ", ".join(f"{r.fixed_server_cpu:.0f}" for r in rs)
    cells = [
        label,
        f"{med([r.server_cpu for r in rs]):.0f} ({closed})",
        f"{med([r.rate for r in rs]):.0f}",
        f"{med([r.client_cpu for r in rs]):.0f}",
        f"{med([r.fixed_server_cpu for r in rs]):.0f} ({fixed})",
        f"{med([r.p50 for r in rs]):.2f} / {med([r.p99 for r in rs]):.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _top_self_time(path: Path, n: int = 20) -> list[tuple[float, str]]:
    """The n frames with the most samples on top of the stack, as (share %, frame)."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        counts[stack.split(";")[-1]] += int(count)
        total += int(count)
    return [(100 * c / total, frame) for frame, c in counts.most_common(n)]


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16, help="the sync server's thread pool")
    parser.add_argument("--rate", type=float, default=1000.0, help="calls/s of the fixed-rate run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the fixed-rate run")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, from: " + ", ".join(KINDS))
    parser.add_argument(
        "--deadline", type=float, metavar="S", help="a deadline on every gRPC call (sent as grpc-timeout)"
    )
    parser.add_argument("--profile", metavar="DIR", help="run the servers under py-spy, stacks to DIR")
    parser.add_argument("--serve", choices=list(KINDS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve in ("sync", "sync4"):
        serve_sync(args.workers)
        return
    if args.serve:
        serve_async(args.serve)
        return
    kinds = args.kinds.split(",")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    if args.profile:
        if shutil.which("py-spy") is None:
            parser.error("--profile needs py-spy on PATH (pip install py-spy)")
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    results: dict[str, list[Sample]] = {kind: [] for kind in kinds}
    for n in range(args.rounds):
        for kind in kinds if n % 2 == 0 else reversed(kinds):
            s = one_round(kind, args)
            results[kind].append(s)
            print(f"round {n + 1} {kind:14}: {_line(s, args.rate)}", flush=True)
    shape = f"{args.calls} calls x {args.rounds} rounds, {args.concurrency} in flight"
    if args.deadline is not None:
        shape += f", a {args.deadline:g} s deadline on each gRPC call"
    fixed = f"{args.rate:.0f} calls/s for {args.seconds:g} s"
    print(f"\ngrpcio {grpc.__version__}, {shape}; fixed rate {fixed}")
    at = f"at {args.rate:.0f}/s"
    print(
        "| server | server CPU per call (µs), closed loop, median (rounds) | calls/s "
        f"| client CPU per call (µs) | server CPU per call (µs) {at} (rounds) | p50 / p99 (ms) {at} |"
    )
    print("|---|---|---|---|---|---|")
    for kind in kinds:
        print(_row(KINDS[kind].label, results[kind]))
    if args.profile:
        for kind in kinds:
            stacks = Path(args.profile) / f"{kind}.txt"
            if not stacks.exists():  # a sidecar: not run under py-spy
                continue
            print(f"\n{kind}: self time, top frames (py-spy, {stacks})")
            for share, frame in _top_self_time(stacks):
                print(f"{share:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
