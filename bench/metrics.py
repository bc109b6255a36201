"""Metrics' cost: invocation through two sidecars with metrics on vs off, and the direct path, in
one run; and a sidecar's memory after a million requests to distinct paths.

Latency paths, loaded by ``hey`` at fixed rates, 16 connections, 1 KiB POST body:
  direct:       hey -> app                              /echo
  metrics off:  hey -> sidecar A  -> sidecar B  -> app  (--enable-metrics=false on both)
  metrics on:   hey -> sidecar Am -> sidecar Bm -> app  (the default, scraped every --scrape-interval s)
Runs are interleaved (direct, off, on, ...) after a warm-up of each; figures are medians across
rounds of each run's p50/p90/p99. The app is bench/invoke_http.py's echo server.

Memory: one sidecar with an in-memory state store, ``GET /v1.0/state/store/key-<i>`` for N distinct
keys (missing: 204) from a pipelined asyncio client (8 connections, 200 requests in flight on
each); RSS before and after, and the number of series on /metrics, with metrics on and off.

    python bench/metrics.py [--rates 500,1000] [--duration 10] [--rounds 2] [--scrape-interval 15]
                            [--distinct 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

CONCURRENCY = 16
BODY_SIZE = 1024
ECHO_APP = Path(__file__).resolve().parent / "invoke_http.py"
OFF = ["--enable-metrics=false"]


def sidecar_cmd(
    app_id: str, http: int, grpc: int, metrics: int, app_port: int | None, extra: list[str]
) -> list[str]:
    cmd = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", app_id]
    if app_port is not None:
        cmd += ["--app-port", str(app_port)]
    cmd += ["--dapr-http-port", str(http), "--dapr-grpc-port", str(grpc), "--metrics-port", str(metrics)]
    return [*cmd, *extra, "--log-level", "warn"]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


class Scraper(threading.Thread):
    """Scrapes like a Prometheus server would, so its cost is in the figures."""

    def __init__(self, ports: list[int], interval: float) -> None:
        super().__init__(daemon=True)
        self.ports = ports
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            for port in self.ports:
                with contextlib.suppress(OSError):
                    scrape(port)


async def distinct_paths(port: int, count: int, connections: int = 8, window: int = 200) -> int:
    """Sends ``count`` GETs to distinct state keys, pipelined; returns how many 204s came back."""
    per = count // connections
    ok = 0

    async def one(first: int) -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = received = 0
        pending = b""
        while received < per:
            while sent < per and sent - received < window:
                writer.write(f"GET /v1.0/state/store/key-{first + sent} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                sent += 1
            await writer.drain()
            pending += await reader.read(65536)
            # A 204 has no body: each answer ends at its blank line.
            while (end := pending.find(b"\r\n\r\n")) >= 0:
                ok += pending.startswith(b"HTTP/1.1 204")
                pending = pending[end + 4 :]
                received += 1
        writer.close()

    await asyncio.gather(*(one(i * per) for i in range(connections)))
    return ok


def memory_run(env: dict[str, str], resources: str, count: int, extra: list[str]) -> dict[str, float]:
    with c.Procs() as procs:
        http, grpc, metrics = c.free_ports(3)
        cmd = sidecar_cmd("mem", http, grpc, metrics, None, [*extra, "--resources-path", resources])
        proc = procs.spawn(cmd, env)
        c.wait_status(http, "/v1.0/healthz/outbound", 204, 30, proc)
        asyncio.run(distinct_paths(http, 20_000))  # warm: every chain and series exists
        before = c.rss_kib(proc.pid)
        t0 = time.monotonic()
        ok = asyncio.run(distinct_paths(http, count))
        took = time.monotonic() - t0
        after = c.rss_kib(proc.pid)
        series = -1
        if not extra:
            series = sum(1 for line in scrape(metrics).splitlines() if line and not line.startswith("#"))
        return {"before": before / 1024, "after": after / 1024, "ok": ok, "rate": count / took, "series": series}  # noqa: E501


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,1000", help="total req/s, comma-separated (multiples of 16)")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--scrape-interval", type=float, default=15.0, help="s between scrapes (0: none)")
    ap.add_argument("--distinct", type=int, default=1_000_000, help="requests to distinct paths (0: skip)")
    args = ap.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install -y hey)")
    rates = [int(r) for r in args.rates.split(",")]
    lines: list[str] = []

    with tempfile.TemporaryDirectory() as home, c.Procs() as procs, c.body_file(BODY_SIZE) as body:
        env = {**os.environ, "PYDAPR_HOME": home}
        resources = Path(home) / "resources"
        resources.mkdir()
        (resources / "store.yaml").write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: store\n"
            "spec:\n  type: state.in-memory\n  version: v1\n"
        )
        app_port = c.free_port()
        procs.spawn([sys.executable, str(ECHO_APP), "--serve-app", str(app_port)])
        c.wait_port(app_port)

        urls: dict[str, str] = {"direct": f"http://127.0.0.1:{app_port}/echo"}
        pids: dict[str, dict[str, int]] = {}
        scraped: list[int] = []
        for label, callee, caller, flags in (("metrics off", "B", "A", OFF), ("metrics on", "Bm", "Am", [])):
            b_http, b_grpc, b_metrics, a_http, a_grpc, a_metrics = c.free_ports(6)
            side_b = procs.spawn(sidecar_cmd(callee, b_http, b_grpc, b_metrics, app_port, flags), env)
            side_a = procs.spawn(sidecar_cmd(caller, a_http, a_grpc, a_metrics, None, flags), env)
            c.wait_status(b_http, "/v1.0/healthz", 204, 30, side_b)
            c.wait_status(a_http, "/v1.0/healthz/outbound", 204, 30, side_a)
            urls[label] = f"http://127.0.0.1:{a_http}/v1.0/invoke/{callee}/method/echo"
            pids[label] = {"A": side_a.pid, "B": side_b.pid}
            if not flags:
                scraped += [a_metrics, b_metrics]
        scraper = Scraper(scraped, args.scrape_interval)
        if args.scrape_interval > 0:
            scraper.start()

        results: dict[tuple[int, str], list[c.HeyResult]] = {}
        usage: dict[tuple[int, str], list[dict[str, c.Usage]]] = {}
        for rate in rates:
            runs, used = c.interleaved_hey(
                urls, pids, rate, warmup=args.warmup, duration=args.duration, rounds=args.rounds, body=body
            )
            for label in urls:
                results[(rate, label)] = runs[label]
                usage[(rate, label)] = used[label]
        scraper.stopping.set()

        memory = {}
        if args.distinct:
            for label, extra in (("metrics on", []), ("metrics off", OFF)):
                memory[label] = memory_run(env, str(resources), args.distinct, extra)
                print(f"memory {label}: {memory[label]}", file=sys.stderr, flush=True)

    lines.append(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}.")
    lines.append(
        f"Load: {CONCURRENCY} connections, 1 KiB POST, {args.rounds} rounds of {args.duration:g} s per path "
        f"and rate, interleaved after {args.warmup:g} s warm-up; medians across rounds; the metrics-on "
        f"sidecars scraped every {args.scrape_interval:g} s."
    )
    lines.append("")
    lines.append(
        "| rate (req/s) | path | p50 / p90 / p99 (ms) | added vs direct p50 / p90 / p99 (ms) "
        "| sidecar A / B CPU (% of a core) | ok / expected | non-2xx |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for rate in rates:
        direct = [c.median([x.pct(p) for x in results[(rate, "direct")]]) for p in (50, 90, 99)]
        for label in urls:
            runs = results[(rate, label)]
            med = [c.median([x.pct(p) for x in runs]) for p in (50, 90, 99)]
            added = "-"
            if label != "direct":
                added = " / ".join(f"{m - d:+.2f}" for m, d in zip(med, direct, strict=True))
            cpu = "-"
            if label != "direct":
                u = usage[(rate, label)]
                cpu = " / ".join(f"{c.median([x[k].cpu_pct for x in u]):.0f}" for k in ("A", "B"))
            ok = sum(x.ok for x in runs)
            bad = sum(x.non_2xx for x in runs)
            lines.append(
                f"| {rate} | {label} | {' / '.join(f'{m:.2f}' for m in med)} | {added} | {cpu} | "
                f"{ok} / {int(rate * args.duration * args.rounds)} | {bad} |"
            )
    if memory:
        lines.append("")
        lines.append(
            f"| {args.distinct:,} GETs to distinct state keys | RSS before (MiB) | RSS after (MiB) "
            "| 204s | req/s | series on /metrics |"
        )
        lines.append("|---|---|---|---|---|---|")
        for label, m in memory.items():
            series = f"{m['series']:.0f}" if m["series"] >= 0 else "-"
            figures = f"{m['before']:.1f} | {m['after']:.1f} | {m['ok']:.0f} | {m['rate']:.0f}"
            lines.append(f"| {label} | {figures} | {series} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
