"""Service invocation latency through two pydapr sidecars vs calling the app directly, same run.

Paths, loaded by ``hey`` (a separate process) at fixed rates, 16 connections, 1 KiB POST body:
  direct:   hey -> app                /echo
  sidecars: hey -> sidecar A          /v1.0/invoke/B/method/echo -> sidecar B -> app
Runs are interleaved (direct, sidecars, direct, sidecars, ...) after a warm-up of each path; the
figures are medians across rounds of each run's p50/p90/p99, and "added" is sidecars - direct per
percentile. Also: each sidecar's CPU (% of one core, /proc/<pid>/stat utime+stime over the run) and
max RSS (/proc/<pid>/status VmRSS every 100 ms); sidecar start-to-ready times (median of 5) and
idle RSS. With ``--grpc``, the same through the gRPC API (InvokeService) with a small fixed-rate
asyncio load generator, which also loads the direct path.

The app is a minimal echo server on asyncio protocols + httptools under uvloop (``--serve-app``),
independent of pydapr's own HTTP code. It serves both paths.

    python bench/invoke_http.py [--rates 500,1000] [--duration 10] [--rounds 2] [--grpc]

Prints markdown tables and exits; every process is started in its own group and stopped at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

CONCURRENCY = 16
BODY_SIZE = 1024


# -- the app: echo on asyncio + httptools --------------------------------------------------------


def serve_app(port: int) -> None:
    import httptools
    import uvloop

    class Echo(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.transport: asyncio.Transport | None = None
            self.body: list[bytes] = []
            self.ctype = b"application/octet-stream"

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                assert self.transport is not None
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                self.transport.close()

        def on_message_begin(self) -> None:
            self.body = []
            self.ctype = b"application/octet-stream"

        def on_header(self, name: bytes, value: bytes) -> None:
            if name.lower() == b"content-type":
                self.ctype = value

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            assert self.transport is not None
            body = b"".join(self.body)
            keep = self.parser.should_keep_alive()
            head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
                self.ctype,
                len(body),
                b"" if keep else b"Connection: close\r\n",
            )
            self.transport.write(head + body)
            if not keep:
                self.transport.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


# -- gRPC / direct load generator (separate process) ---------------------------------------------


def async_load(target: str, port: int, path: str, seconds: float, concurrency: int, qps: float) -> None:
    """Like hey: ``concurrency`` workers, each sending one request at a time at most ``qps`` per second.

    target "grpc": InvokeService(id B, method echo, 1 KiB, POST) on the sidecar's gRPC port;
    target "http": POST ``path`` on 127.0.0.1:``port`` with pydapr's pooled keep-alive HTTP client
    (the app's /echo for the direct path, sidecar A's /v1.0/invoke/B/method/echo for the HTTP API).
    Prints one JSON object: latencies of successful calls in ms, and the error count.
    """
    import uvloop

    body = os.urandom(BODY_SIZE // 2).hex().encode()

    async def main() -> None:
        lat: list[float] = []
        errors = 0
        call: Callable[[], object]
        closer = None
        if target == "grpc":
            import grpc
            from dapr.proto.common.v1 import common_pb2
            from dapr.proto.runtime.v1 import dapr_pb2_grpc, invoke_pb2
            from google.protobuf.any_pb2 import Any as AnyPb

            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            stub = dapr_pb2_grpc.DaprStub(channel)
            req = invoke_pb2.InvokeServiceRequest(
                id="B",
                message=common_pb2.InvokeRequest(
                    method="echo",
                    data=AnyPb(value=body),
                    content_type="application/octet-stream",
                    http_extension=common_pb2.HTTPExtension(verb=common_pb2.HTTPExtension.POST),
                ),
            )

            async def call_grpc() -> None:
                await stub.InvokeService(req, timeout=20)

            call = call_grpc
            closer = channel.close
        else:
            from pydapr.http.client import HttpClient

            client = HttpClient()
            headers = [("content-type", "application/octet-stream")]

            async def call_http() -> None:
                resp = await client.request("POST", "127.0.0.1", port, path, headers, body, timeout=20)
                if not 200 <= resp.status < 300:
                    raise RuntimeError(resp.status)

            call = call_http

        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        period = 1.0 / qps

        async def worker(i: int) -> None:
            nonlocal errors
            nxt = loop.time() + period * i / concurrency  # spread the workers' starts
            while True:
                delay = nxt - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if loop.time() >= end:
                    return
                t0 = time.perf_counter()
                try:
                    await call()  # type: ignore[misc]
                    lat.append((time.perf_counter() - t0) * 1000.0)
                except Exception:
                    errors += 1
                nxt = max(nxt + period, loop.time())  # like hey's ticker: no catch-up bursts

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        if closer is not None:
            await closer()
        print(json.dumps({"lat": lat, "errors": errors}))

    uvloop.run(main())


def run_async_load(target: str, port: int, path: str, seconds: float, qps: float) -> c.HeyResult:
    cmd = [sys.executable, __file__, "--load", target, "--load-port", str(port), "--load-path", path]
    cmd += ["--duration", str(seconds), "--load-qps", f"{qps:g}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return c.HeyResult(f"{target}:{port}", seconds, data["lat"], data["errors"])


# -- sidecars ------------------------------------------------------------------------------------


def sidecar_cmd(
    app_id: str, http: int, grpc: int, metrics: int, app_port: int | None, resources_path: str | None = None
) -> list[str]:
    cmd = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", app_id]
    if resources_path is not None:
        cmd += ["--resources-path", resources_path]
    if app_port is not None:
        cmd += ["--app-port", str(app_port)]
    cmd += ["--dapr-http-port", str(http), "--dapr-grpc-port", str(grpc), "--metrics-port", str(metrics)]
    return [*cmd, "--log-level", "warn"]


def env_with_home(home: str) -> dict[str, str]:
    return {**os.environ, "PYDAPR_HOME": home}


def measure_startup(app_port: int, times: int = 5) -> dict[str, float]:
    """Start-to-ready of a sidecar: outbound healthz without app, full healthz with the app up."""
    outbound: list[float] = []
    full: list[float] = []
    idle_rss: list[float] = []
    for with_app, out in ((False, outbound), (True, full)):
        for _ in range(times):
            with tempfile.TemporaryDirectory() as home, c.Procs() as procs:
                http, grpc, metrics = c.free_ports(3)
                cmd = sidecar_cmd("S", http, grpc, metrics, app_port if with_app else None)
                t0 = time.monotonic()
                proc = procs.spawn(cmd, env_with_home(home))
                path = "/v1.0/healthz" if with_app else "/v1.0/healthz/outbound"
                out.append((c.wait_status(http, path, 204, 30, proc) - t0) * 1000.0)
                if with_app:
                    time.sleep(2.0)  # settle: idle RSS after start
                    idle_rss.append(c.rss_kib(proc.pid) / 1024)
    return {
        "outbound_ms": c.median(outbound),
        "full_ms": c.median(full),
        "idle_rss_mib": c.median(idle_rss),
        "outbound_all": outbound,  # type: ignore[dict-item]
        "full_all": full,  # type: ignore[dict-item]
    }


# -- the run -------------------------------------------------------------------------------------


def fmt(x: float) -> str:
    return f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,1000", help="total req/s, comma-separated (multiples of 16)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per path and rate")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--grpc",
        action="store_true",
        help="also load with an asyncio generator: direct, HTTP API, gRPC API InvokeService",
    )
    ap.add_argument("--no-startup", action="store_true", help="skip the start-to-ready measurements")
    # internal modes
    ap.add_argument("--serve-app", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ap.add_argument("--load", choices=["grpc", "http"], help=argparse.SUPPRESS)
    ap.add_argument("--load-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--load-qps", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--load-path", default="/echo", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_app:
        serve_app(args.serve_app)
        return
    if args.load:
        async_load(args.load, args.load_port, args.load_path, args.duration, CONCURRENCY, args.load_qps)
        return
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install -y hey)")

    rates = [int(r) for r in args.rates.split(",")]
    started = time.monotonic()
    lines: list[str] = []

    def emit(s: str = "") -> None:
        lines.append(s)

    with tempfile.TemporaryDirectory() as home, c.Procs() as procs, c.body_file(BODY_SIZE) as body:
        env = env_with_home(home)
        app_port = c.free_port()
        app = procs.spawn([sys.executable, __file__, "--serve-app", str(app_port)])
        c.wait_port(app_port)

        startup = None if args.no_startup else measure_startup(app_port)

        b_http, b_grpc, b_metrics, a_http, a_grpc, a_metrics = c.free_ports(6)
        side_b = procs.spawn(sidecar_cmd("B", b_http, b_grpc, b_metrics, app_port), env)
        side_a = procs.spawn(sidecar_cmd("A", a_http, a_grpc, a_metrics, None), env)
        c.wait_status(b_http, "/v1.0/healthz", 204, 30, side_b)
        c.wait_status(a_http, "/v1.0/healthz/outbound", 204, 30, side_a)
        idle = {"A": c.rss_kib(side_a.pid) / 1024, "B": c.rss_kib(side_b.pid) / 1024}

        direct_url = f"http://127.0.0.1:{app_port}/echo"
        invoke_url = f"http://127.0.0.1:{a_http}/v1.0/invoke/B/method/echo"
        pids = {"A": side_a.pid, "B": side_b.pid, "app": app.pid}

        def http_run(url: str, seconds: float, qps: float) -> c.HeyResult:
            return c.hey(url, seconds, CONCURRENCY, qps, "POST", body)

        invoke_path = "/v1.0/invoke/B/method/echo"

        def aio_run(target: str, port: int, path: str) -> Callable[[float, float], c.HeyResult]:
            return lambda s, q: run_async_load(target, port, path, s, q)

        # (load generator, direct path, {sidecar path name: run})
        Run = Callable[[float, float], c.HeyResult]
        variants: list[tuple[str, Run, dict[str, Run]]] = [
            (
                "hey",
                lambda s, q: http_run(direct_url, s, q),
                {"HTTP API": lambda s, q: http_run(invoke_url, s, q)},
            )
        ]
        if args.grpc:
            variants.append(
                (
                    "asyncio",
                    aio_run("http", app_port, "/echo"),
                    {
                        "HTTP API": aio_run("http", a_http, invoke_path),
                        "gRPC API": aio_run("grpc", a_grpc, ""),
                    },
                )
            )

        results: dict[tuple[str, int, str], dict[str, list]] = {}
        for gen, direct, throughs in variants:
            for rate in rates:
                qps = rate / CONCURRENCY
                direct(args.warmup, qps)
                for through in throughs.values():
                    through(args.warmup, qps)
                res: dict[str, dict[str, list]] = {
                    n: {"direct": [], "sidecars": [], "usage": []} for n in throughs
                }
                for r in range(args.rounds):
                    for name, through in throughs.items():
                        with c.ProcSampler({"app": app.pid}):
                            d = direct(args.duration, qps)
                        with c.ProcSampler(pids) as sampler:
                            t = through(args.duration, qps)
                        res[name]["direct"].append(d)
                        res[name]["sidecars"].append(t)
                        res[name]["usage"].append(sampler.usage)
                        for label, x in (("direct", d), (name, t)):
                            print(
                                f"{gen} {rate} req/s round {r + 1} {label:<8} n={x.ok:<6} "
                                f"p50={x.pct(50):6.2f} p90={x.pct(90):6.2f} p99={x.pct(99):6.2f} ms "
                                f"errors/non-2xx={x.non_2xx}",
                                file=sys.stderr,
                                flush=True,
                            )
                for name in throughs:
                    results[(gen, rate, name)] = res[name]

        elapsed = time.monotonic() - started

    # -- report --
    emit(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}.")
    emit(
        f"Load: {CONCURRENCY} connections, 1 KiB POST, {args.rounds} rounds of {args.duration:g} s per "
        f"path and rate, interleaved direct/through after {args.warmup:g} s warm-up; medians across rounds."
    )
    emit()
    emit(
        "| load | API | rate (req/s) | direct p50 / p90 / p99 (ms) | through 2 sidecars p50 / p90 / p99 (ms) "
        "| added p50 / p90 / p99 (ms) | ok / expected | errors + non-2xx |"
    )
    emit("|---|---|---|---|---|---|---|---|")
    for (gen, rate, api), res in results.items():
        med = {
            k: [c.median([x.pct(p) for x in res[k]]) for p in (50, 90, 99)] for k in ("direct", "sidecars")
        }
        added = [t - d for t, d in zip(med["sidecars"], med["direct"], strict=True)]
        ok = sum(x.ok for x in res["sidecars"])
        exp = int(rate * args.duration * args.rounds)
        bad = sum(x.non_2xx for x in res["sidecars"]) + sum(x.non_2xx for x in res["direct"])
        emit(
            f"| {gen} | {api} | {rate} | {' / '.join(map(fmt, med['direct']))} | "
            f"{' / '.join(map(fmt, med['sidecars']))} | {' / '.join(f'{a:+.2f}' for a in added)} | "
            f"{ok} / {exp} | {bad} |"
        )
    emit()
    emit(
        "| load | API | rate (req/s) | sidecar A CPU (% of a core) | sidecar B CPU | app CPU | "
        "sidecar A max RSS (MiB) | sidecar B max RSS (MiB) |"
    )
    emit("|---|---|---|---|---|---|---|---|")
    for (gen, rate, api), res in results.items():
        u = res["usage"]

        def m(name: str, attr: str, u: list = u) -> str:
            return f"{c.median([getattr(x[name], attr) for x in u]):.0f}"

        rss_a = max(x["A"].rss_max_mib for x in u)
        rss_b = max(x["B"].rss_max_mib for x in u)
        emit(
            f"| {gen} | {api} | {rate} | {m('A', 'cpu_pct')} | {m('B', 'cpu_pct')} | {m('app', 'cpu_pct')} | "
            f"{rss_a:.1f} | {rss_b:.1f} |"
        )
    emit()
    if startup is not None:
        emit("| sidecar start (spawn `python -m pydapr sidecar` to 204) | median of 5 (ms) | all (ms) |")
        emit("|---|---|---|")
        emit(
            f"| `/v1.0/healthz/outbound`, no app | {startup['outbound_ms']:.0f} | "
            f"{', '.join(f'{x:.0f}' for x in startup['outbound_all'])} |"  # type: ignore[union-attr]
        )
        emit(
            f"| `/v1.0/healthz`, app already listening | {startup['full_ms']:.0f} | "
            f"{', '.join(f'{x:.0f}' for x in startup['full_all'])} |"  # type: ignore[union-attr]
        )
        emit()
        emit(
            "Idle RSS of a sidecar with an app, 2 s after ready (median of 5): "
            f"{startup['idle_rss_mib']:.1f} MiB."
        )
    emit(
        f"RSS right after ready in the load run: sidecar A (no app) {idle['A']:.1f} MiB, "
        f"sidecar B {idle['B']:.1f} MiB. Whole bench: {elapsed:.0f} s."
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
