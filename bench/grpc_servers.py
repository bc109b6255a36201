"""The floor of a gRPC server in Python: CPU per unary call of grpcio's aio server (under uvloop, as
the sidecar runs it) against its sync server on a thread pool, serving an echo method with no work,
loaded by the same aio client from another process. Issue 16 asks for the gRPC API to be at least
as fast as the HTTP one; this measures what the server library alone costs before any pydapr code.

    python bench/grpc_servers.py [--calls 20000] [--concurrency 16] [--rounds 3] [--workers 16]

Each round runs each server in its own process, sends ``--calls`` 1 KiB unary calls with
``--concurrency`` in flight, and reads the server process's utime + stime (``RUSAGE_SELF``, its
threads included) around the load. Rounds alternate the servers; the figures are medians.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import time
from concurrent import futures
from typing import Any

import grpc

METHOD = "/bench.Echo/Call"


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


def serve_aio() -> None:
    import uvloop

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    async def main() -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((_handler(echo),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await asyncio.get_running_loop().run_in_executor(None, _report, port)
        await server.stop(0)

    uvloop.install()
    asyncio.run(main())


def _report(port: int) -> None:
    """Tell the parent the port; on each line it sends, answer the CPU used so far."""
    print(port, flush=True)
    for _ in sys.stdin:
        print(_cpu(), flush=True)


async def load(port: int, calls: int, concurrency: int) -> float:
    """Calls per second of ``calls`` echo calls, ``concurrency`` at a time."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(METHOD)
        payload = b"x" * 1024
        left = iter(range(calls))

        async def worker() -> None:
            for _ in left:
                await call(payload)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return calls / (time.perf_counter() - started)


def one_round(kind: str, args: argparse.Namespace) -> tuple[float, float]:
    """(server CPU per call in µs, calls/s) of one server process."""
    argv = [sys.executable, __file__, "--serve", kind, "--workers", str(args.workers)]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
        assert server.stdin is not None and server.stdout is not None
        port = int(server.stdout.readline())
        asyncio.run(load(port, 500, args.concurrency))  # warm-up: channel, threads, caches

        def cpu() -> float:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write("\n")
            server.stdin.flush()
            return float(server.stdout.readline())

        before = cpu()
        rate = asyncio.run(load(port, args.calls, args.concurrency))
        used = cpu() - before
        server.stdin.close()
        server.wait(10)
    return used / args.calls * 1e6, rate


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16, help="the sync server's thread pool")
    parser.add_argument("--serve", choices=["aio", "sync"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "aio":
        serve_aio()
        return
    if args.serve == "sync":
        serve_sync(args.workers)
        return
    results: dict[str, list[tuple[float, float]]] = {"aio": [], "sync": []}
    for n in range(args.rounds):
        for kind in ("aio", "sync") if n % 2 == 0 else ("sync", "aio"):
            results[kind].append(one_round(kind, args))
            cpu, rate = results[kind][-1]
            print(f"round {n + 1} {kind:4}: {cpu:6.1f} µs CPU per call, {rate:7.0f} calls/s", flush=True)
    shape = f"{args.calls} calls x {args.rounds} rounds, {args.concurrency} in flight"
    print(f"\ngrpcio {grpc.__version__}, {shape}")
    print("| server | server CPU per call (µs), median | calls/s, median |")
    print("|---|---|---|")
    for kind, label in (("aio", "grpc.aio (uvloop)"), ("sync", f"grpc.server, {args.workers} threads")):
        cpu = statistics.median(r[0] for r in results[kind])
        rate = statistics.median(r[1] for r in results[kind])
        print(f"| {label} | {cpu:.0f} | {rate:.0f} |")


if __name__ == "__main__":
    main()
