"""Latency added by two pass-through proxies built on pydapr.http, against calling the echo app directly.

Runs an echo server and two chained proxies (each its own uvloop process), loads both paths with
`hey` at a fixed rate, interleaving direct and proxied runs, and prints p50/p90/p99 and the difference.
With ``--workers N`` a second chain runs beside the first, each of its proxies N processes sharing
one port (SO_REUSEPORT), interleaved in the same rounds: does serving a burst in several processes
help on this machine?

    python bench/http_proxy_calibration.py [--seconds 10] [--rounds 2] [--concurrency 16] [--qps 32]
        [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import uvloop

from pydapr.http.client import HttpClient
from pydapr.http.messages import Headers, Request, Response
from pydapr.http.server import HttpServer

# Per-hop headers a proxy must not forward; the client also sets its own framing.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"})


async def _serve(role: str, upstream_port: int, port: int) -> None:
    if role == "echo":

        async def handler(req: Request) -> Response:
            ctype = req.headers.get("content-type") or "application/octet-stream"
            return Response(200, Headers.from_lowercase([("content-type", ctype)]), req.body)

    else:
        client = HttpClient()

        async def handler(req: Request) -> Response:
            headers = [(k, v) for k, v in req.headers.items() if k not in _HOP]
            up = await client.request(
                req.method, "127.0.0.1", upstream_port, req.target, headers, req.body, timeout=10.0
            )
            out = [(k, v) for k, v in up.headers.items() if k not in _HOP and k != "date"]
            return Response(up.status, Headers.from_lowercase(out), up.body)

    # A given port is shared with the chain's other processes; 0 picks a free one.
    server = await HttpServer.start(handler, port=port, reuse_port=port != 0)
    print(f"PORT {server.port}", flush=True)
    await asyncio.Event().wait()


def _spawn(role: str, upstream_port: int = 0, port: int = 0) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, __file__, "--serve", role, "--upstream", str(upstream_port), "--port", str(port)]
    return _spawn_port(cmd, f"{role} server")


def _spawn_port(cmd: list[str], what: str, quiet: bool = False) -> tuple[subprocess.Popen[str], int]:
    """Start ``cmd``, which prints ``PORT <n>`` once it listens; the process and that port."""
    stderr = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"{what} did not start: {line!r}")
    return proc, int(line.split()[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hey(url: str, body_file: str, seconds: int, concurrency: int, qps: int) -> list[float]:
    cmd = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-q", str(qps), "-m", "POST"]
    cmd += ["-D", body_file, "-T", "application/octet-stream", "-o", "csv", url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = csv.DictReader(io.StringIO(out))
    latencies = [float(r["response-time"]) for r in rows if r.get("status-code") == "200"]
    if not latencies:
        raise SystemExit(f"hey got no successful responses from {url}")
    return latencies


def _pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] * 1000.0


def _row(name: str, samples: list[float]) -> str:
    p50, p90, p99 = (_pct(samples, p) for p in (50, 90, 99))
    return f"{name:<22} n={len(samples):<6} p50={p50:6.2f} ms  p90={p90:6.2f} ms  p99={p99:6.2f} ms"


def _cpu(pid: int) -> float:
    """The process's utime + stime so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rounds(
    paths: dict[str, str],
    pids: dict[str, tuple[int, ...]],
    body_file: str,
    seconds: int,
    rounds: int,
    load: tuple[int, int],
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each path warmed up, then ``rounds`` rounds of them interleaved: the latencies of every path,
    and for the paths in ``pids`` each process's CPU per request (µs, the rounds' mean)."""
    for url in paths.values():
        _hey(url, body_file, 2, *load)  # warm-up: connections, caches
    results: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [0.0] * len(pids[name]) for name in pids}
    for r in range(rounds):
        for name, url in paths.items():
            before = [_cpu(p) for p in pids.get(name, ())]
            lat = _hey(url, body_file, seconds, *load)
            for i, (p, t) in enumerate(zip(pids.get(name, ()), before, strict=True)):
                cpu[name][i] += (_cpu(p) - t) / len(lat) / rounds * 1e6
            results[name] += lat
            print(_row(f"round {r + 1} {name}", lat), flush=True)
    return results, cpu


def _added(results: dict[str, list[float]], name: str) -> str:
    """What the path ``name`` adds to the direct call, p50 / p90 / p99."""
    d, p = results["direct"], results[name]
    return "  ".join(f"p{q}=+{_pct(p, q) - _pct(d, q):.2f} ms" for q in (50, 90, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--serve", choices=["echo", "proxy"])
    ap.add_argument("--upstream", type=int, default=0)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help="also a chain of proxies of N processes each")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--qps", type=int, default=32, help="per hey worker")
    args = ap.parse_args()
    if args.serve:
        uvloop.run(_serve(args.serve, args.upstream, args.port))
        return
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install -y hey)")

    procs = []
    try:
        echo, echo_port = _spawn("echo")
        procs.append(echo)
        inner, inner_port = _spawn("proxy", echo_port)
        procs.append(inner)
        outer, outer_port = _spawn("proxy", inner_port)
        procs.append(outer)
        paths = {
            "direct": f"http://127.0.0.1:{echo_port}/echo",
            "two proxies": f"http://127.0.0.1:{outer_port}/echo",
        }
        if args.workers > 1:
            inner_shared, outer_shared = _free_port(), _free_port()
            for upstream, port in ((echo_port, inner_shared), (inner_shared, outer_shared)):
                for _ in range(args.workers):
                    procs.append(_spawn("proxy", upstream, port)[0])
            paths[f"two proxies x{args.workers} processes"] = f"http://127.0.0.1:{outer_shared}/echo"
        with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
            f.write(os.urandom(512).hex().encode())  # 1 KiB of printable bytes
            body_file = f.name
        load = (args.concurrency, args.qps)
        results, _ = _rounds(paths, {}, body_file, args.seconds, args.rounds, load)
        os.unlink(body_file)
        rate = args.concurrency * args.qps
        print(f"\nload: hey -c {args.concurrency} -q {args.qps} ({rate} req/s), 1 KiB POST")
        for name, lat in results.items():
            print(_row(name, lat))
        for name in results:
            if name != "direct":
                print(f"added by {name}: {_added(results, name)}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=5)


if __name__ == "__main__":
    main()
