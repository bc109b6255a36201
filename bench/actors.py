"""Actor calls through two pydapr sidecars: activation latency, and a call on an active actor vs a
plain service invocation through the same two sidecars vs the app directly, same run.

Processes: ``pydapr placement``; sidecar B (app id B, hosts the actor type ``BenchActor``, an
in-memory actor state store, ``--app-port`` on the app); sidecar A (app id A, no app, the caller);
the app: a minimal server on asyncio protocols + httptools under uvloop (this script's
``--serve-app`` mode) answering the actor callbacks (``GET /dapr/config``, ``PUT
/actors/BenchActor/{id}/method/{m}``, ``DELETE``) and ``/echo``, so the figures are the sidecars'.

Paths, loaded from a separate process at a fixed rate:
  activation: A PUT /v1.0/actors/BenchActor/<new id>/method/noOp -> B -> app   (every call a new id)
  direct:     app PUT /actors/BenchActor/<id>/method/echo                       (the app alone)
  invoke:     A POST /v1.0/invoke/B/method/echo -> B -> app                      (service invocation)
  actor:      A PUT /v1.0/actors/BenchActor/<id>/method/echo -> B -> app         (an active actor)
Activation is Dapr's perf test (tests/perf/actor_activation: 500 calls/s, 8 connections, a new
id per call, body "{}"); hey cannot change the URL per request, so it runs on the script's own
asyncio generator (``--load``: N workers at R/N calls/s each, starts spread over one period,
pydapr's pooled keep-alive HTTP client). The other three run on the same generator, 16 workers,
1 KiB body, over 256 ids activated beforehand (an id per call in turn, so no actor's turn lock
queues calls), and on ``hey -c 16 -q R/16`` (direct and invoke as in invoke_http.py; actor as 16
``hey -c 1`` processes, one id each, because one URL is one actor and its turns serialize). Runs
are interleaved per round after a warm-up of each; figures are medians across rounds of each
run's p50/p90/p99.

    python bench/actors.py [--rate 500] [--activation-rate 500] [--duration 10] [--rounds 2] [--no-hey]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

TYPE = "BenchActor"
BODY_SIZE = 1024
CONCURRENCY = 16
ACTIVATION_CONNECTIONS = 8  # Dapr's actor_activation perf test
ACTIVE_IDS = 256

CONFIG = json.dumps(
    {"entities": [TYPE], "actorIdleTimeout": "1h", "actorScanInterval": "30s", "drainRebalancedActors": True}
).encode()

STORE = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: actorstore
spec:
  type: state.in-memory
  version: v1
  metadata:
  - name: actorStateStore
    value: "true"
"""


# -- the app: actor callbacks and /echo on asyncio + httptools -----------------------------------


def serve_app(port: int) -> None:
    import httptools
    import uvloop

    class App(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.transport: asyncio.Transport | None = None
            self.body: list[bytes] = []
            self.url = b""

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
            self.url = b""

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            assert self.transport is not None
            if self.url == b"/dapr/config":
                body, ctype = CONFIG, b"application/json"
            elif self.parser.get_method() == b"DELETE" or self.url == b"/healthz":
                body, ctype = b"", b"text/plain"
            else:  # an actor method or /echo: the body back
                body, ctype = b"".join(self.body), b"application/octet-stream"
            keep = self.parser.should_keep_alive()
            head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
                ctype,
                len(body),
                b"" if keep else b"Connection: close\r\n",
            )
            self.transport.write(head + body)
            if not keep:
                self.transport.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(App, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


# -- the load generator (separate process) ---------------------------------------------------------


def load(spec: dict[str, object]) -> None:
    """Workers sending one request at a time, each at most ``qps`` per second, for ``seconds``.
    ``path`` may hold ``{id}``: ``ids`` "new" gives every call a fresh id, a number K cycles over
    ``<prefix>-0 .. <prefix>-(K-1)``. Prints {"lat": [ms...], "errors": n, "statuses": {...}}."""
    import uvloop

    from pydapr.http.client import HttpClient

    port, method, path = int(spec["port"]), str(spec["method"]), str(spec["path"])  # type: ignore[call-overload]
    workers, qps, seconds = int(spec["workers"]), float(spec["qps"]), float(spec["seconds"])  # type: ignore[call-overload,arg-type]
    ids, prefix = spec.get("ids"), str(spec.get("prefix", "x"))
    count = spec.get("count")  # stop after this many calls (the warm-up: each id once)
    body = b"{}" if spec.get("body") == "{}" else os.urandom(BODY_SIZE // 2).hex().encode()

    async def main() -> None:
        client = HttpClient()
        headers = [("content-type", "application/json")]
        lat: list[float] = []
        statuses: dict[str, int] = {}
        errors = 0
        counter = 0
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        period = 1.0 / qps

        def target() -> str:
            nonlocal counter
            counter += 1
            if ids == "new":
                return path.replace("{id}", f"{prefix}-{counter}")
            if isinstance(ids, int):
                return path.replace("{id}", f"{prefix}-{counter % ids}")
            return path

        async def worker(i: int) -> None:
            nonlocal errors
            nxt = loop.time() + period * i / workers
            while True:
                delay = nxt - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if loop.time() >= end or (count is not None and counter >= count):
                    return
                t0 = time.perf_counter()
                try:
                    resp = await client.request(
                        method, "127.0.0.1", port, target(), headers, body, timeout=20
                    )
                    if 200 <= resp.status < 300:
                        lat.append((time.perf_counter() - t0) * 1000.0)
                    else:
                        statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1
                except Exception:
                    errors += 1
                nxt = max(nxt + period, loop.time())

        await asyncio.gather(*(worker(i) for i in range(workers)))
        print(json.dumps({"lat": lat, "errors": errors, "statuses": statuses}))

    uvloop.run(main())


def run_load(**spec: object) -> c.HeyResult:
    seconds = float(spec["seconds"])  # type: ignore[arg-type]
    cmd = [sys.executable, __file__, "--load", json.dumps(spec)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return c.HeyResult(
        str(spec["path"]), seconds, data["lat"], data["errors"] + sum(data["statuses"].values())
    )


def hey_many(urls: list[str], seconds: float, qps: float, body: str) -> c.HeyResult:
    """One ``hey -c 1 -q qps`` per URL at once, their answers merged."""
    cmd = ["hey", "-z", f"{seconds}s", "-c", "1", "-q", f"{qps:g}", "-t", "20", "-m", "PUT"]
    cmd += ["-T", "application/json", "-o", "csv", "-D", body]
    procs = [subprocess.Popen([*cmd, url], stdout=subprocess.PIPE, text=True) for url in urls]
    merged = c.HeyResult(urls[0], seconds)
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 60)
        for row in csv.DictReader(io.StringIO(out)):
            if 200 <= int(row["status-code"]) < 300:
                merged.latencies_ms.append(float(row["response-time"]) * 1000.0)
            else:
                merged.non_2xx += 1
    return merged


# -- the run -----------------------------------------------------------------------------------------


def sidecar_cmd(
    app_id: str, ports: list[int], placement: str, app_port: int | None, res: str | None
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "pydapr",
        "sidecar",
        "--app-id",
        app_id,
        "--placement-host-address",
        placement,
    ]
    cmd += [
        "--dapr-http-port",
        str(ports[0]),
        "--dapr-grpc-port",
        str(ports[1]),
        "--metrics-port",
        str(ports[2]),
    ]
    if app_port is not None:
        cmd += ["--app-port", str(app_port)]
    if res is not None:
        cmd += ["--resources-path", res]
    return [*cmd, "--log-level", "warn"]


def wait_actors(http_port: int, hosting: bool, timeout: float = 30.0) -> None:
    """Until the sidecar is connected to placement (and, for the host, lists the type)."""
    deadline = time.monotonic() + timeout
    meta: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1.0/metadata", timeout=2) as r:
                meta = json.loads(r.read())
        except OSError:
            meta = None
        runtime = (meta or {}).get("actorRuntime") or {}  # type: ignore[union-attr]
        placement = str(runtime.get("placement", ""))
        types = {a.get("type") for a in runtime.get("activeActors") or []}
        if "connected" in placement and "disconnected" not in placement and (not hosting or TYPE in types):
            return
        time.sleep(0.1)
    raise TimeoutError(f"sidecar on {http_port} not ready for actors: {meta}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--rate", type=int, default=500, help="calls/s of direct, invoke and actor (multiple of 16)"
    )
    ap.add_argument("--activation-rate", type=int, default=500, help="calls/s of the activation run")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-hey", action="store_true", help="only the asyncio generator")
    ap.add_argument("--serve-app", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ap.add_argument("--load", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_app:
        serve_app(args.serve_app)
        return
    if args.load:
        load(json.loads(args.load))
        return
    use_hey = not args.no_hey
    if use_hey and shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install -y hey), or pass --no-hey")

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as home, c.Procs() as procs, c.body_file(BODY_SIZE) as body:
        env = {**os.environ, "PYDAPR_HOME": home}
        res = os.path.join(home, "resources")
        os.makedirs(res)
        Path(res, "actorstore.yaml").write_text(STORE)
        ports = c.free_ports(10)
        app_port, placement_port = ports[0], ports[1]
        app = procs.spawn([sys.executable, __file__, "--serve-app", str(app_port)])
        place = procs.spawn(
            [sys.executable, "-m", "pydapr", "placement", "--port", str(placement_port), "--store",
             f"sqlite://{home}/placement.db", "--log-level", "warn"],
            env,
        )  # fmt: skip
        c.wait_port(app_port)
        c.wait_port(placement_port)
        placement = f"127.0.0.1:{placement_port}"
        side_b = procs.spawn(sidecar_cmd("B", ports[2:5], placement, app_port, res), env)
        side_a = procs.spawn(sidecar_cmd("A", ports[5:8], placement, None, res), env)
        b_http, a_http = ports[2], ports[5]
        c.wait_status(b_http, "/v1.0/healthz", 204, 30, side_b)
        c.wait_status(a_http, "/v1.0/healthz/outbound", 204, 30, side_a)
        wait_actors(b_http, hosting=True)
        wait_actors(a_http, hosting=False)
        if place.poll() is not None:
            raise SystemExit("placement exited")

        run_id = uuid.uuid4().hex[:6]
        active = f"active{run_id}"
        actor_path = f"/v1.0/actors/{TYPE}/{{id}}/method/echo"
        # Activate the ids the "actor" path calls (and check every one answers).
        warm = run_load(port=a_http, method="PUT", path=actor_path, workers=16, qps=100,
                        seconds=30, ids=ACTIVE_IDS, prefix=active, count=ACTIVE_IDS)  # fmt: skip
        assert warm.non_2xx == 0 and warm.ok >= ACTIVE_IDS, (warm.ok, warm.non_2xx)

        qps = args.rate / CONCURRENCY
        aio: dict[str, Callable[[float, int], c.HeyResult]] = {
            "activation": lambda s, r: run_load(
                port=a_http, method="PUT", path=f"/v1.0/actors/{TYPE}/{{id}}/method/noOp",
                workers=ACTIVATION_CONNECTIONS, qps=args.activation_rate / ACTIVATION_CONNECTIONS,
                seconds=s, ids="new", prefix=f"new{run_id}r{r}", body="{}",
            ),
            "direct": lambda s, r: run_load(
                port=app_port, method="PUT", path=f"/actors/{TYPE}/{{id}}/method/echo",
                workers=CONCURRENCY, qps=qps, seconds=s, ids=ACTIVE_IDS, prefix=active,
            ),
            "invoke": lambda s, r: run_load(
                port=a_http, method="POST", path="/v1.0/invoke/B/method/echo",
                workers=CONCURRENCY, qps=qps, seconds=s,
            ),
            "actor": lambda s, r: run_load(
                port=a_http, method="PUT", path=actor_path,
                workers=CONCURRENCY, qps=qps, seconds=s, ids=ACTIVE_IDS, prefix=active,
            ),
        }  # fmt: skip
        heys: dict[str, Callable[[float, int], c.HeyResult]] = {}
        if use_hey:
            app_url = f"http://127.0.0.1:{app_port}/actors/{TYPE}/{active}-0/method/echo"
            invoke_url = f"http://127.0.0.1:{a_http}/v1.0/invoke/B/method/echo"
            actor_urls = [
                f"http://127.0.0.1:{a_http}/v1.0/actors/{TYPE}/{active}-{i}/method/echo" for i in range(16)
            ]
            heys = {
                "direct": lambda s, r: c.hey(app_url, s, CONCURRENCY, qps, "PUT", body),
                "invoke": lambda s, r: c.hey(invoke_url, s, CONCURRENCY, qps, "POST", body),
                "actor": lambda s, r: hey_many(actor_urls, s, qps, body),
            }
        runs = [("asyncio", name, fn) for name, fn in aio.items()]
        runs += [("hey", name, fn) for name, fn in heys.items()]
        for _, _, fn in runs:
            fn(args.warmup, -1)
        results: dict[tuple[str, str], list[tuple[c.HeyResult, dict[str, c.Usage]]]] = {}
        for r in range(args.rounds):
            for gen, name, fn in runs:
                pids = {"A": side_a.pid, "B": side_b.pid, "app": app.pid}
                with c.ProcSampler(pids) as s:
                    x = fn(args.duration, r)
                results.setdefault((gen, name), []).append((x, s.usage))
                print(
                    f"round {r + 1} {gen:<7} {name:<10} n={x.ok} p50={x.pct(50):.2f} p90={x.pct(90):.2f} "
                    f"p99={x.pct(99):.2f} failed={x.non_2xx}",
                    file=sys.stderr,
                    flush=True,
                )
    load1 = os.getloadavg()

    def med(gen: str, name: str, p: float) -> float:
        return c.median([x.pct(p) for x, _ in results[(gen, name)]])

    def cpu(gen: str, name: str, who: str) -> float:
        return c.median([u[who].cpu_pct for _, u in results[(gen, name)]])

    print(f"Machine: {c.machine()}. Load average (1/5/15 min) before {load0}, after {load1}.")
    print(f"Command: python bench/actors.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(
        "| load | path | rate (calls/s) | p50 / p90 / p99 (ms) | added over direct p50 / p90 / p99 "
        "| ok / expected | failed | A CPU % | B CPU % | app CPU % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for gen, name, _ in runs:
        rate = args.activation_rate if name == "activation" else args.rate
        pcts = [med(gen, name, p) for p in (50, 90, 99)]
        if name in ("invoke", "actor"):
            added = " / ".join(
                f"+{v - med(gen, 'direct', p):.2f}" for v, p in zip(pcts, (50, 90, 99), strict=True)
            )
        else:
            added = "-"
        oks = sum(x.ok for x, _ in results[(gen, name)])
        failed = sum(x.non_2xx for x, _ in results[(gen, name)])
        expected = int(rate * args.duration * args.rounds)
        figures = " / ".join(f"{v:.2f}" for v in pcts)
        usage = " | ".join(f"{cpu(gen, name, who):.0f}" for who in ("A", "B", "app"))
        print(f"| {gen} | {name} | {rate} | {figures} | {added} | {oks} / {expected} | {failed} | {usage} |")
    print()
    print("Dapr v1.18 actor activation (tests/perf/actor_activation, 500 calls/s): 1.60 / 2.42 / 4.87 ms.")


if __name__ == "__main__":
    main()
