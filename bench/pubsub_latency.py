"""Publish latency and publish-to-delivery throughput: a pydapr sidecar vs each broker's own client.

1. Latency. Open loop at a fixed rate (default 1000/s, Dapr's anchor rate), 1 KB payloads, from this
   process (the sidecar is another): publish through the sidecar over HTTP
   (``POST /v1.0/publish/{pubsub}/{topic}``) and gRPC (``PublishEvent``), and straight to the broker
   with its own Python client, publishing a CloudEvent of the same size: redis-py ``XADD``, aio-pika
   with publisher confirms (persistent message, durable queue bound), nats-py JetStream publish, and
   for ``pubsub.pydapr-sqlite`` the component class itself in this process. ``pubsub.in-memory`` has no
   client: its rows are the sidecar's own cost, Dapr's anchor (0.57/0.93/1.54 ms p50/p90/p99).
   Each round runs every path; the direct client runs next to the sidecar paths of its broker, first
   in even rounds and last in odd ones, so drift on the machine hits both; figures pool the rounds.
2. Throughput. Per broker, ``hey`` (a separate process, 16 connections, closed loop) publishes
   ``--messages`` messages one per request, then the same number as bulk publishes of 10
   (``POST /v1.0-alpha1/publish/bulk/...``), to a topic a real subscriber app (bench/pubsub_app.py,
   aiohttp) is subscribed to through the same sidecar; reported: publish requests/s, and messages/s
   delivered to the app from the first publish to the last delivery.

Needs Redis (6379), RabbitMQ (5672) and NATS with JetStream (4222) on 127.0.0.1, and ``hey``.
Run: ``python bench/pubsub_latency.py --rate 1000 --seconds 5 --rounds 2 --messages 4800 --markdown``.
``--only redis`` keeps the brokers whose name contains "redis"; ``--skip latency|throughput``.
Everything it creates (streams, queues, exchanges, the JetStream stream, temp files) is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import grpc
import nats
import redis.asyncio as aioredis
from dapr.proto.runtime.v1 import dapr_pb2_grpc, pubsub_pb2

from pydapr.components.base import ComponentMetadata
from pydapr.http.client import HttpClient
from pydapr.pubsub.contract import PublishRequest
from pydapr.pubsub.sqlite import SQLitePubSub

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pct, run_at_rate

HERE = Path(__file__).parent
PAYLOAD = json.dumps({"p": "x" * 1016}).encode()  # 1 KB of JSON, as Dapr's perf tests send
BROKERS = ["memory", "sqlite", "redis", "rabbitmq", "jetstream"]
TYPES = {
    "memory": "pubsub.in-memory",
    "sqlite": "pubsub.pydapr-sqlite",
    "redis": "pubsub.redis",
    "rabbitmq": "pubsub.rabbitmq",
    "jetstream": "pubsub.jetstream",
}
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
NATS = "nats://127.0.0.1:4222"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Setup:
    tag: str
    tmp: Path
    group: str
    topics: dict[str, dict[str, str]] = field(default_factory=dict)  # broker -> role -> topic

    def topic(self, broker: str, role: str) -> str:
        return self.topics[broker][role]


def make_setup() -> Setup:
    tag = uuid.uuid4().hex[:8]
    setup = Setup(tag, Path(tempfile.mkdtemp(prefix="pubsub-bench-")), f"bench-{tag}")
    for broker in BROKERS:
        # Distinct per broker too: the app counts deliveries by topic name.
        sep = "." if broker == "jetstream" else "-"
        setup.topics[broker] = {r: f"bench{sep}{tag}{sep}{broker}{sep}{r}" for r in ("lat", "single", "bulk")}
    return setup


def component_yaml(setup: Setup, broker: str) -> str:
    meta: dict[str, str] = {"consumerID": setup.group}
    if broker == "sqlite":
        meta |= {"path": str(setup.tmp / "broker.db")}
    elif broker == "redis":
        meta |= {"redisHost": "127.0.0.1:6379"}
    elif broker == "rabbitmq":
        meta |= {"connectionString": RABBITMQ}
    elif broker == "jetstream":
        meta |= {"natsURL": NATS, "streamName": f"bench-{setup.tag}", "subjects": f"bench.{setup.tag}.>"}
    items = "".join(f"\n  - name: {k}\n    value: {json.dumps(v)}" for k, v in meta.items())
    return (
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {broker}\n"
        f"spec:\n  type: {TYPES[broker]}\n  version: v1\n  metadata:{items}\n"
    )


def cloud_event(topic: str, pubsub: str) -> bytes:
    """A CloudEvent of the size and shape the sidecar builds around PAYLOAD."""
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "source": "bench",
            "type": "com.dapr.event.sent",
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "data": json.loads(PAYLOAD),
            "topic": topic,
            "pubsubname": pubsub,
            "traceid": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
            "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
            "tracestate": "",
            "time": "2026-01-01T00:00:00Z",
        },
        separators=(",", ":"),
    ).encode()


# --- processes ------------------------------------------------------------------------------------
@dataclass
class Started:
    sidecar: subprocess.Popen[bytes]
    app: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    app_port: int


def start(setup: Setup, brokers: list[str]) -> Started:
    res = setup.tmp / "resources"
    res.mkdir()
    for broker in brokers:
        (res / f"{broker}.yaml").write_text(component_yaml(setup, broker))
    subs = [{"pubsubname": b, "topic": setup.topic(b, r)} for b in brokers for r in ("single", "bulk")]
    app_port, http_port, grpc_port = free_port(), free_port(), free_port()
    env = {**os.environ, "APP_PORT": str(app_port), "SUBSCRIPTIONS": json.dumps(subs)}
    quiet = subprocess.DEVNULL
    app = subprocess.Popen(
        [sys.executable, str(HERE / "pubsub_app.py")],
        env=env,
        stdout=quiet,
        stderr=quiet,
        start_new_session=True,
    )
    argv = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", "benchapp", "--app-port", str(app_port)]
    argv += ["--resources-path", str(res), "--dapr-http-port", str(http_port), "--dapr-grpc-port"]
    argv += [str(grpc_port), "--metrics-port", str(free_port()), "--log-level", "warn"]
    env = {**os.environ, "PYDAPR_HOME": str(setup.tmp / "home")}
    log = (setup.tmp / "sidecar.log").open("wb")
    sidecar = subprocess.Popen(argv, env=env, cwd=setup.tmp, stdout=log, stderr=log, start_new_session=True)
    started = Started(sidecar, app, http_port, grpc_port, app_port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sidecar.poll() is not None:
            raise RuntimeError((setup.tmp / "sidecar.log").read_text())
        url = f"http://127.0.0.1:{http_port}/v1.0/healthz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 204:
                print(f"sidecar pid {sidecar.pid}, app pid {app.pid}", file=sys.stderr)
                return started
        time.sleep(0.05)
    raise TimeoutError("sidecar not ready:\n" + (setup.tmp / "sidecar.log").read_text())


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --- latency --------------------------------------------------------------------------------------
async def latency(
    setup: Setup, st: Started, brokers: list[str], rate: float, seconds: float, rounds: int, markdown: bool
) -> None:
    http = HttpClient()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{st.grpc_port}")
    stub = dapr_pb2_grpc.DaprStub(channel)
    headers = [("content-type", "application/json")]
    paths: dict[str, Callable[[], Awaitable[None]]] = {}
    closers: list[Callable[[], Awaitable[object]]] = [channel.close, http.close]

    for broker in brokers:
        topic = setup.topic(broker, "lat")
        target = f"/v1.0/publish/{broker}/{topic}"

        async def via_http(target: str = target) -> None:
            resp = await http.request("POST", "127.0.0.1", st.http_port, target, headers, PAYLOAD)
            if resp.status != 204:
                raise RuntimeError(f"publish answered {resp.status}: {resp.body[:200]!r}")

        request = pubsub_pb2.PublishEventRequest(
            pubsub_name=broker, topic=topic, data=PAYLOAD, data_content_type="application/json"
        )

        async def via_grpc(request: pubsub_pb2.PublishEventRequest = request) -> None:
            await stub.PublishEvent(request)

        paths[f"{broker} sidecar-http"] = via_http
        paths[f"{broker} sidecar-grpc"] = via_grpc
        event = cloud_event(topic, broker)
        if broker == "redis":
            rds = aioredis.Redis(host="127.0.0.1", port=6379)
            closers.append(rds.aclose)

            async def redis_xadd(rds: aioredis.Redis = rds, topic: str = topic, event: bytes = event) -> None:
                await rds.xadd(topic, {"data": event, "contentType": "application/cloudevents+json"})

            paths["redis direct-client"] = redis_xadd
        elif broker == "rabbitmq":
            conn = await aio_pika.connect(RABBITMQ)
            closers.append(conn.close)
            ch = await conn.channel(publisher_confirms=True)
            ex = await ch.declare_exchange(topic, aio_pika.ExchangeType.FANOUT, durable=True)
            # A bound durable queue, as a subscriber's would be: persistent messages are then stored.
            queue = await ch.declare_queue(f"{setup.group}-{topic}", durable=True)
            await queue.bind(ex)

            async def rabbit_publish(ex: aio_pika.abc.AbstractExchange = ex, event: bytes = event) -> None:
                msg = aio_pika.Message(
                    event,
                    content_type="application/cloudevents+json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )
                await ex.publish(msg, routing_key="")

            paths["rabbitmq direct-client"] = rabbit_publish
        elif broker == "jetstream":
            nc = await nats.connect(NATS)
            closers.append(nc.close)
            js = nc.jetstream()
            stream = f"bench-{setup.tag}"

            async def js_publish(
                js: nats.js.JetStreamContext = js,
                topic: str = topic,
                event: bytes = event,
                stream: str = stream,
            ) -> None:
                await js.publish(
                    topic, event, stream=stream, headers={"Content-Type": "application/cloudevents+json"}
                )

            paths["jetstream direct-client"] = js_publish
        elif broker == "sqlite":
            comp = SQLitePubSub()
            meta = ComponentMetadata(
                name="sqlite",
                type=TYPES["sqlite"],
                version="v1",
                properties={"path": str(setup.tmp / "broker.db"), "consumerID": setup.group},
                app_id="bench",
                base_dir=setup.tmp,
            )
            await comp.init(meta)
            closers.append(comp.close)
            # One consumer group on the topic, so each publish stores a row (as with a subscriber).
            await comp._db.execute(
                "INSERT OR IGNORE INTO pubsub_groups (topic, grp) VALUES (?, ?)", (topic, setup.group)
            )
            req = PublishRequest(topic, event, "application/cloudevents+json", {})

            async def sqlite_publish(comp: SQLitePubSub = comp, req: PublishRequest = req) -> None:
                await comp.publish(req)

            paths["sqlite direct-client"] = sqlite_publish

    for name, op in paths.items():
        await op()  # topics, exchanges, streams exist before anything is timed
        await run_at_rate(op, rate, 1.0)  # warm-up: pools filled, code paths hot
        print(f"warm: {name}", file=sys.stderr)
    results: dict[str, list[float]] = {n: [] for n in paths}
    for r in range(rounds):
        for broker in brokers:
            members = sorted((n for n in paths if n.split()[0] == broker), key=lambda n: "direct" not in n)
            for name in members if r % 2 == 0 else reversed(members):
                results[name] += await run_at_rate(paths[name], rate, seconds)
    for close in reversed(closers):
        with contextlib.suppress(Exception):
            await close()

    direct = {n.split()[0]: pct(v, 50) for n, v in results.items() if "direct" in n}
    title = f"publish latency, {rate:g}/s open loop, {rounds} round(s) x {seconds:g} s per path, 1 KB; ms"
    if markdown:
        print(
            f"\n{title}\n\n| path | p50 | p90 | p99 | p50 vs client | publishes |\n"
            "|---|---:|---:|---:|---:|---:|"
        )
    else:
        print(f"\n{title}\n{'path':26} {'p50':>7} {'p90':>7} {'p99':>7} {'+p50':>7}")
    for name, lat in results.items():
        p50, p90, p99 = pct(lat, 50), pct(lat, 90), pct(lat, 99)
        base = direct.get(name.split()[0])
        added = f"{p50 - base:+.2f}" if base is not None and "direct" not in name else ""
        if markdown:
            print(f"| {name} | {p50:.2f} | {p90:.2f} | {p99:.2f} | {added} | {len(lat)} |")
        else:
            print(f"{name:26} {p50:7.2f} {p90:7.2f} {p99:7.2f} {added:>7}")


# --- throughput -----------------------------------------------------------------------------------
def hey(url: str, requests: int, body: Path, connections: int = 16) -> tuple[float, dict[int, int]]:
    """``hey -n requests -c connections``; (wall seconds, responses per status code)."""
    cmd = ["hey", "-n", str(requests), "-c", str(connections), "-m", "POST", "-T", "application/json"]
    out = subprocess.run([*cmd, "-D", str(body), url], check=True, capture_output=True, text=True).stdout
    total = float(re.search(r"Total:\s+([\d.]+) secs", out).group(1))  # type: ignore[union-attr]
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    return total, codes


def delivered(app_port: int, topic: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/count/{topic}", timeout=5) as r:
        return int(r.read())


def throughput(setup: Setup, st: Started, brokers: list[str], messages: int, markdown: bool) -> None:
    single = setup.tmp / "single.json"
    single.write_bytes(PAYLOAD)
    bulk = setup.tmp / "bulk.json"
    entries = [
        {"entryId": str(i), "event": json.loads(PAYLOAD), "contentType": "application/json"}
        for i in range(10)
    ]
    bulk.write_text(json.dumps(entries))
    rows = []
    for broker in brokers:
        for mode in ("single", "bulk"):
            topic = setup.topic(broker, mode)
            base = f"http://127.0.0.1:{st.http_port}"
            if mode == "single":
                url, body, requests = f"{base}/v1.0/publish/{broker}/{topic}", single, messages
            else:
                url, body, requests = (
                    f"{base}/v1.0-alpha1/publish/bulk/{broker}/{topic}",
                    bulk,
                    messages // 10,
                )
            began = time.monotonic()
            seconds, codes = hey(url, requests, body)
            ok = sum(n for c, n in codes.items() if 200 <= c < 300)
            wanted = ok if mode == "single" else ok * 10
            deadline = time.monotonic() + 120
            got = 0
            while time.monotonic() < deadline:
                got = delivered(st.app_port, topic)
                if got >= wanted:
                    break
                time.sleep(0.02)
            took = time.monotonic() - began
            rows.append((broker, mode, requests / seconds, ok, codes, got, got / took))
            print(f"done: {broker} {mode}", file=sys.stderr)
    title = f"publish-to-delivery throughput, hey -c 16, {messages} messages of 1 KB per row"
    if markdown:
        print(
            f"\n{title}\n\n| broker | publish | requests/s | messages/s published | delivered | "
            "messages/s delivered (first publish to last delivery) |\n|---|---|---:|---:|---:|---:|"
        )
    else:
        print(f"\n{title}")
    for broker, mode, rps, _ok, codes, got, rate in rows:
        per = 1 if mode == "single" else 10
        bad = {c: n for c, n in codes.items() if not 200 <= c < 300}
        note = f" (non-2xx: {bad})" if bad else ""
        if markdown:
            print(f"| {broker} | {mode} | {rps:,.0f}{note} | {rps * per:,.0f} | {got} | {rate:,.0f} |")
        else:
            print(
                f"{broker:10} {mode:7} {rps:9,.0f} req/s {rps * per:9,.0f} msg/s published, "
                f"{got} delivered at {rate:,.0f} msg/s{note}"
            )


# --- clean-up -------------------------------------------------------------------------------------
async def cleanup(setup: Setup, brokers: list[str]) -> None:
    if "redis" in brokers:
        rds = aioredis.Redis(host="127.0.0.1", port=6379)
        with contextlib.suppress(Exception):
            await rds.delete(*setup.topics["redis"].values())
        await rds.aclose()
    if "rabbitmq" in brokers:
        with contextlib.suppress(Exception):
            conn = await aio_pika.connect(RABBITMQ)
            for topic in setup.topics["rabbitmq"].values():
                ch = await conn.channel()
                with contextlib.suppress(Exception):
                    await ch.queue_delete(f"{setup.group}-{topic}")
                    await ch.exchange_delete(topic)
            await conn.close()
    if "jetstream" in brokers:
        with contextlib.suppress(Exception):
            nc = await nats.connect(NATS)
            await nc.jetstream().delete_stream(f"bench-{setup.tag}")
            await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000, help="publishes/s for the latency part")
    parser.add_argument("--seconds", type=float, default=5, help="per latency path and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--messages", type=int, default=4800, help="per throughput row (hey sends a multiple of 16 x 10)"
    )
    parser.add_argument("--only", default="", help="brokers whose name contains this")
    parser.add_argument("--skip", choices=["latency", "throughput"])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    brokers = [b for b in BROKERS if args.only in b]
    setup = make_setup()
    st = start(setup, brokers)
    load = os.getloadavg()[0]
    try:
        if args.skip != "latency":
            asyncio.run(latency(setup, st, brokers, args.rate, args.seconds, args.rounds, args.markdown))
        if args.skip != "throughput":
            throughput(setup, st, brokers, args.messages, args.markdown)
    finally:
        stop(st.sidecar)
        stop(st.app)
        asyncio.run(cleanup(setup, brokers))
        print(f"\nload average (1 min) {load:.2f} before, {os.getloadavg()[0]:.2f} after", file=sys.stderr)
        import shutil

        shutil.rmtree(setup.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
