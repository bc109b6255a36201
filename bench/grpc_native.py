"""pydapr's native gRPC server (``pydapr.grpc_native``, ``PYDAPR_GRPC_SERVER=native``) against
grpcio's aio server: CPU per call and latency of the sidecar's ``GetState`` over gRPC with each
server, the same read over the sidecar's HTTP API for scale, and a no-op echo on each bare server.

    python bench/grpc_native.py [--calls 20000] [--concurrency 16] [--rounds 3] [--rate 1000]
        [--seconds 5] [--kinds echo-aio,echo-native,...] [--deadline S] [--before REV]

Kinds (all by default): ``echo-aio`` and ``echo-native``, a 1 KiB echo method on the bare server
under uvloop in its own process (grpcio's with the sidecar's options, the native one with the same);
``sidecar-grpc-aio`` and ``sidecar-grpc-native``, a pydapr sidecar (state.in-memory, metrics on)
answering a 1 KiB ``GetState`` on its gRPC API with grpcio's server and with the native one;
``sidecar-http``, the same read on its HTTP API with pydapr's HTTP client. The load is
bench/grpc_servers.py's: a ``grpc.aio`` client in this process, after 500 warm-up calls ``--calls``
calls with ``--concurrency`` in flight (closed loop), then ``--rate`` calls/s for ``--seconds``
(p50/p99 from send to reply); the server's CPU (RUSAGE_SELF, or /proc/<pid>/stat for a sidecar) is
read around each part. Rounds alternate the order of the kinds (interleaved); figures are medians
across rounds. ``--deadline`` sends a timeout on every gRPC call, as the Python SDK does (60 s by
default, ``DAPR_API_TIMEOUT_SECONDS``). ``--before REV`` runs each sidecar kind also from a ``git
worktree`` of REV (``PYTHONPATH=<worktree>/src``), interleaved with this checkout's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).parent))

from grpc_servers import KEY, PAYLOAD, STORE, WARMUP, Sample, _percentile, _row, closed_loop, fixed_rate

KINDS = {
    "echo-aio": "bare server, no-op echo: `grpc.aio` (uvloop, the sidecar's options)",
    "echo-native": "bare server, no-op echo: `pydapr.grpc_native` (uvloop, same options)",
    "sidecar-grpc-aio": "sidecar `GetState` over gRPC, grpcio's server (`PYDAPR_GRPC_SERVER=grpcio`)",
    "sidecar-grpc-native": "sidecar `GetState` over gRPC, the native server (the default)",
    "sidecar-http": "for scale: sidecar `GET /v1.0/state/memory/{key}` over HTTP",
}
OPTIONS = [
    ("grpc.max_receive_message_length", 4 << 20),
    ("grpc.max_send_message_length", 4 << 20),
    ("grpc.so_reuseport", 0),
]


def _cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve(kind: str) -> None:
    """An echo server in this process: prints its port, then its CPU seconds on every stdin line."""
    import uvloop

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    async def main() -> None:
        handler = grpc.method_handlers_generic_handler(
            "bench.Echo", {"Call": grpc.unary_unary_rpc_method_handler(echo)}
        )
        if kind == "echo-native":
            from pydapr import grpc_native

            server: Any = grpc_native.server(options=OPTIONS)
        else:
            server = grpc.aio.server(options=OPTIONS)
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()

        def report() -> None:
            print(port, flush=True)
            for _ in sys.stdin:
                print(_cpu(), flush=True)

        await asyncio.get_running_loop().run_in_executor(None, report)
        await server.stop(None)

    uvloop.run(main())


@contextlib.contextmanager
def _echo_server(kind: str) -> Iterator[tuple[int, Callable[[], float]]]:
    argv = [sys.executable, __file__, "--serve", kind]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
        assert server.stdin is not None and server.stdout is not None
        port = int(server.stdout.readline())

        def cpu() -> float:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write("\n")
            server.stdin.flush()
            return float(server.stdout.readline())

        yield port, cpu
        server.stdin.close()
        server.wait(30)


def _first_settings(port: int) -> bytes:
    """The server's first SETTINGS payload, which tells the two servers apart."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\0\0\0\x04\0\0\0\0\0")
        head = b""
        while len(head) < 9:
            head += sock.recv(9 - len(head))
        payload = b""
        while len(payload) < int.from_bytes(head[:3], "big"):
            payload += sock.recv(int.from_bytes(head[:3], "big") - len(payload))
        return payload


@contextlib.contextmanager
def _sidecar(kind: str, src: str | None = None) -> Iterator[tuple[int, Callable[[], float]]]:
    from _common import cpu_ticks, free_ports, spawn, stop, wait_status

    with tempfile.TemporaryDirectory(prefix="grpc-native-") as tmp:
        (Path(tmp) / "res").mkdir()
        (Path(tmp) / "res" / "memory.yaml").write_text(STORE)
        http_port, grpc_port, metrics_port = free_ports(3)
        argv = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", "bench"]
        argv += ["--resources-path", f"{tmp}/res", "--log-level", "warn"]
        argv += ["--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port)]
        argv += ["--metrics-port", str(metrics_port)]
        env = dict(os.environ, PYDAPR_HOME=f"{tmp}/home")
        if src is not None:
            env["PYTHONPATH"] = src
        env["PYDAPR_GRPC_SERVER"] = "native" if kind == "sidecar-grpc-native" else "grpcio"
        proc = spawn(argv, env=env)
        try:
            wait_status(http_port, "/v1.0/healthz/outbound", 204, proc=proc)
            native = b"\0\x06\0\x01\0\0" in _first_settings(grpc_port)  # our max header list, 64 KiB
            assert native == (kind == "sidecar-grpc-native"), f"{kind}: the wrong gRPC server answers"
            body = json.dumps([{"key": KEY, "value": "x" * (len(PAYLOAD) - 2)}]).encode()
            save = urllib.request.Request(f"http://127.0.0.1:{http_port}/v1.0/state/memory", body)
            save.add_header("content-type", "application/json")
            with urllib.request.urlopen(save) as response:
                assert response.status == 204
            tick = os.sysconf("SC_CLK_TCK")
            yield (http_port if kind == "sidecar-http" else grpc_port), lambda: cpu_ticks(proc.pid) / tick
        finally:
            stop(proc)


def one_round(kind: str, args: argparse.Namespace, src: str | None = None) -> Sample:
    server = _echo_server(kind) if kind.startswith("echo") else _sidecar(kind, src)
    client = (
        "aio" if kind.startswith("echo") else "sidecar-http" if kind == "sidecar-http" else "sidecar-grpc"
    )
    with server as (port, cpu):
        asyncio.run(closed_loop(client, port, WARMUP, args.concurrency, args.deadline))
        before = cpu()
        rate, client_cpu = asyncio.run(closed_loop(client, port, args.calls, args.concurrency, args.deadline))
        middle = cpu()
        latencies = asyncio.run(
            fixed_rate(client, port, args.rate, args.seconds, args.concurrency, args.deadline)
        )
        after = cpu()
    return Sample(
        server_cpu=(middle - before) / args.calls * 1e6,
        rate=rate,
        client_cpu=client_cpu,
        fixed_server_cpu=(after - middle) / len(latencies) * 1e6,
        p50=_percentile(latencies, 50),
        p99=_percentile(latencies, 99),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, from: " + ", ".join(KINDS))
    parser.add_argument("--deadline", type=float, metavar="S", help="a timeout on every gRPC call")
    parser.add_argument("--before", metavar="REV", help="also run the sidecar kinds on REV (a git worktree)")
    parser.add_argument("--serve", choices=["echo-aio", "echo-native"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    kinds = args.kinds.split(",")
    if set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(set(kinds) - set(KINDS)))}")
    with contextlib.ExitStack() as stack:
        trees: dict[str, str | None] = {"": None}
        if args.before:
            from _common import git

            where = tempfile.mkdtemp(prefix="grpc-native-before-")
            os.rmdir(where)
            git("worktree", "add", "--detach", where, args.before)
            stack.callback(git, "worktree", "remove", "--force", where)
            trees = {" (before)": f"{where}/src", " (after)": None}
        runs = [(kind, label) for kind in kinds for label in (trees if kind.startswith("sidecar") else [""])]
        results: dict[tuple[str, str], list[Sample]] = {run: [] for run in runs}
        for n in range(args.rounds):
            for kind, label in runs if n % 2 == 0 else reversed(runs):
                s = one_round(kind, args, trees.get(label))
                results[(kind, label)].append(s)
                print(
                    f"round {n + 1} {kind + label:30}: server {s.server_cpu:6.1f} µs/call, {s.rate:6.0f} "
                    f"calls/s, client {s.client_cpu:6.1f} µs/call | at {args.rate:.0f}/s: server "
                    f"{s.fixed_server_cpu:6.1f} µs/call, p50 {s.p50:.2f} ms, p99 {s.p99:.2f} ms",
                    flush=True,
                )
    shape = f"{args.calls} calls x {args.rounds} rounds, {args.concurrency} in flight"
    if args.deadline is not None:
        shape += f", a {args.deadline:g} s deadline on each gRPC call"
    print(f"\ngrpcio {grpc.__version__}, {shape}; fixed rate {args.rate:.0f} calls/s for {args.seconds:g} s")
    at = f"at {args.rate:.0f}/s"
    print(
        "| server | server CPU per call (µs), closed loop, median (rounds) | calls/s "
        f"| client CPU per call (µs) | server CPU per call (µs) {at} (rounds) | p50 / p99 (ms) {at} |"
    )
    print("|---|---|---|---|---|---|")
    for kind, label in runs:
        print(_row(KINDS[kind] + label, results[(kind, label)]))


if __name__ == "__main__":
    main()
