"""What tracing costs: service invocation through two sidecars with tracing off, sampling 0, 10 %
and 100 %, against the direct call, in the same run, interleaved.

Paths, loaded by ``hey`` at a fixed rate, 16 connections, 1 KiB POST:
  direct:      hey -> app /echo
  <variant>:   hey -> sidecar A<v> /v1.0/invoke/B<v>/method/echo -> sidecar B<v> -> app
Variants (one pair of sidecars each, all up for the whole run, sharing the app):
  off   no Configuration (no interceptor: the chains are empty)
  0     samplingRate "0" with a Zipkin exporter (tracing off by rate: no interceptor either)
  10%   samplingRate "0.1" to Zipkin
  100%  samplingRate "1" to Zipkin
The Zipkin is a sink in its own process that accepts every batch (POST /api/v2/spans, 202) and
drops it, so what is measured is the sidecars' work, not a collector's. Rounds interleave direct,
off, 0, 10 %, 100 %; figures are medians over rounds of each run's p50/p90/p99, "added" is the
variant minus direct; the sidecars' CPU (A + B, utime + stime over the run) per answered request
is the steadier figure when the machine is shared.

    python bench/tracing.py [--rate 512] [--duration 10] [--rounds 3]
    python bench/tracing.py --interceptor     # the interceptor alone, in-process
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
from invoke_http import env_with_home, serve_app, sidecar_cmd

CONCURRENCY = 16
BODY_SIZE = 1024
VARIANTS = {"off": None, "0": "0", "10%": "0.1", "100%": "1"}
CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: tracing
spec:
  tracing:
    samplingRate: "{rate}"
    zipkin:
      endpointAddress: "http://127.0.0.1:{port}/api/v2/spans"
"""


def serve_sink(port: int) -> None:
    """A Zipkin endpoint that accepts and drops every batch (counted on stderr at exit)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()


def interceptor_cost(calls: int = 20000) -> None:
    """The tracing interceptor alone, in-process: µs per HTTP API call through its chain, by rate
    (spans to a batch processor whose exporter keeps them in memory), and the empty chain."""
    import asyncio

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pydapr.http.messages import Response
    from pydapr.observability.tracing import TracingSource, dapr_sampler
    from pydapr.pipeline import Call, Direction, Pipeline

    async def proceed() -> Response:
        return Response(200)

    async def per_call(pipeline: Pipeline) -> float:
        chain = pipeline.chain(Direction.INBOUND_HTTP, "invoke")
        t0 = time.perf_counter()
        for _ in range(calls):
            if chain.empty:
                await proceed()
                continue
            await chain.run(
                Call(Direction.INBOUND_HTTP, "invoke", "POST /v1.0/invoke/B/method/echo"), proceed
            )
        return (time.perf_counter() - t0) / calls * 1e6

    print("| tracing interceptor (one HTTP API call, in-process) | µs per call |")
    print("|---|---|")
    print(f"| no tracing (empty chain) | {asyncio.run(per_call(Pipeline())):.1f} |")
    for rate in (0.0001, 0.1, 1.0):
        provider = TracerProvider(sampler=dapr_sampler(rate))
        provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
        pipeline = Pipeline([TracingSource(provider.get_tracer("bench"), "A")])
        print(f"| sampling {rate:g} | {asyncio.run(per_call(pipeline)):.1f} |")
        provider.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=512, help="total req/s (a multiple of 16)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--interceptor", action="store_true", help="only the in-process interceptor cost")
    ap.add_argument("--serve-app", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve-sink", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_app:
        serve_app(args.serve_app)
        return
    if args.serve_sink:
        serve_sink(args.serve_sink)
        return
    if args.interceptor:
        interceptor_cost()
        return
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install -y hey)")

    qps = args.rate / CONCURRENCY
    results: dict[str, list[c.HeyResult]] = {name: [] for name in ["direct", *VARIANTS]}
    # CPU the two sidecars spent per request (µs), per round: steadier than latency on a shared box.
    cpu_us: dict[str, list[float]] = {name: [] for name in VARIANTS}
    pids: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as home, c.Procs() as procs, c.body_file(BODY_SIZE) as body:
        env = env_with_home(home)
        app_port, sink_port = c.free_ports(2)
        procs.spawn([sys.executable, __file__, "--serve-app", str(app_port)])
        procs.spawn([sys.executable, __file__, "--serve-sink", str(sink_port)])
        c.wait_port(app_port)
        c.wait_port(sink_port)
        urls = {"direct": f"http://127.0.0.1:{app_port}/echo"}
        for i, (name, rate) in enumerate(VARIANTS.items()):
            extra: list[str] = []
            if rate is not None:
                config = Path(home) / f"tracing-{i}.yaml"
                config.write_text(CONFIG.format(rate=rate, port=sink_port))
                extra = ["--config", str(config)]
            b_http, b_grpc, b_metrics, a_http, a_grpc, a_metrics = c.free_ports(6)
            side_b = procs.spawn([*sidecar_cmd(f"B{i}", b_http, b_grpc, b_metrics, app_port), *extra], env)
            side_a = procs.spawn([*sidecar_cmd(f"A{i}", a_http, a_grpc, a_metrics, None), *extra], env)
            c.wait_status(b_http, "/v1.0/healthz", 204, 30, side_b)
            c.wait_status(a_http, "/v1.0/healthz/outbound", 204, 30, side_a)
            urls[name] = f"http://127.0.0.1:{a_http}/v1.0/invoke/B{i}/method/echo"
            pids[name] = {"A": side_a.pid, "B": side_b.pid}

        for url in urls.values():
            c.hey(url, args.warmup, CONCURRENCY, qps, "POST", body)
        for r in range(args.rounds):
            for name, url in urls.items():
                with c.ProcSampler(pids.get(name, {})) as sampler:
                    res = c.hey(url, args.duration, CONCURRENCY, qps, "POST", body)
                results[name].append(res)
                if name in cpu_us and res.ok:
                    busy = sum(u.cpu_pct for u in sampler.usage.values()) / 100 * args.duration
                    cpu_us[name].append(busy / res.ok * 1e6)
                print(
                    f"round {r + 1} {name:<6} n={res.ok:<6} p50={res.pct(50):6.2f} p90={res.pct(90):6.2f} "
                    f"p99={res.pct(99):6.2f} ms non-2xx={res.non_2xx}",
                    file=sys.stderr,
                    flush=True,
                )

    def med(name: str) -> list[float]:
        return [c.median([x.pct(p) for x in results[name]]) for p in (50, 90, 99)]

    direct = med("direct")
    expected = int(args.rate * args.duration * args.rounds)
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}.")
    print(
        f"Load: hey, {CONCURRENCY} connections, {args.rate} req/s, 1 KiB POST, {args.rounds} rounds of "
        f"{args.duration:g} s per path, interleaved; medians across rounds."
    )
    print()
    print(
        "| path | p50 / p90 / p99 (ms) | added to direct p50 / p90 / p99 (ms) "
        "| sidecars' CPU per request (µs) | ok / expected | non-2xx |"
    )
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        m = med(name)
        added = (
            " / ".join(f"{t - d:+.2f}" for t, d in zip(m, direct, strict=True)) if name != "direct" else "—"
        )
        label = "direct (app)" if name == "direct" else f"2 sidecars, tracing {name}"
        ok, bad = sum(x.ok for x in runs), sum(x.non_2xx for x in runs)
        cpu = f"{c.median(cpu_us[name]):.0f}" if name in cpu_us else "—"
        print(
            f"| {label} | {' / '.join(f'{x:.2f}' for x in m)} | {added} | {cpu} | {ok} / {expected} | {bad} |"
        )


if __name__ == "__main__":
    main()
