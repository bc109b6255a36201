"""State get and save latency: through a pydapr sidecar (HTTP and gRPC) vs the store's own Python driver.

Open loop at a fixed rate, same run, same machine; prints p50/p90/p99 in milliseconds per path.
Run: ``python bench/state_latency.py --rate 300 --seconds 5`` (needs Redis on 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite
import grpc
import redis.asyncio as aioredis
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import dapr_pb2_grpc, state_pb2

from pydapr.http.client import HttpClient

VALUE = b'{"user":"ann","cart":[1,2,3],"total":42.5}'
RESOURCES = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: redis
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: 127.0.0.1:6379
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: sqlite
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: {db}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_at_rate(op: Callable[[], Awaitable[None]], rate: float, seconds: float) -> list[float]:
    """Start one ``op`` every 1/rate s whatever the previous ones do; latency from scheduled start."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    tasks = []
    start = loop.time() + 0.05

    async def one(at: float) -> None:
        await op()
        latencies.append(loop.time() - at)

    for i in range(int(rate * seconds)):
        at = start + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def main(rate: float, seconds: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="state-bench-"))
    db = tmp / "bench.db"
    (tmp / "res").mkdir()
    (tmp / "res" / "stores.yaml").write_text(RESOURCES.format(db=db))
    http_port, grpc_port = free_port(), free_port()
    argv = [
        sys.executable,
        "-m",
        "pydapr",
        "sidecar",
        "--app-id",
        "bench",
        "--resources-path",
        str(tmp / "res"),
    ]
    argv += ["--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port)]
    argv += ["--metrics-port", str(free_port()), "--log-level", "warn"]
    env = {**os.environ, "PYDAPR_HOME": str(tmp / "home")}
    sidecar = subprocess.Popen(argv, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound") as r:
                    if r.status == 204:
                        break
            except OSError:
                time.sleep(0.05)
        asyncio.run(measure(http_port, grpc_port, db, rate, seconds))
    finally:
        sidecar.terminate()
        sidecar.wait(10)


async def measure(http_port: int, grpc_port: int, db: Path, rate: float, seconds: float) -> None:
    http = HttpClient()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    stub = dapr_pb2_grpc.DaprStub(channel)
    rds = aioredis.Redis(host="127.0.0.1", port=6379)
    lite = await aiosqlite.connect(db, isolation_level=None)
    key = f"bench-{uuid.uuid4().hex[:8]}"
    save_body = b'[{"key":"' + key.encode() + b'","value":' + VALUE + b"}]"
    paths: dict[str, Callable[[], Awaitable[None]]] = {}
    for store in ("redis", "sqlite"):

        async def http_save(store: str = store) -> None:
            await http.request("POST", "127.0.0.1", http_port, f"/v1.0/state/{store}", body=save_body)

        async def http_get(store: str = store) -> None:
            await http.request("GET", "127.0.0.1", http_port, f"/v1.0/state/{store}/{key}")

        async def grpc_save(store: str = store) -> None:
            item = common_pb2.StateItem(key=key, value=VALUE)
            await stub.SaveState(state_pb2.SaveStateRequest(store_name=store, states=[item]))

        async def grpc_get(store: str = store) -> None:
            await stub.GetState(state_pb2.GetStateRequest(store_name=store, key=key))

        paths |= {
            f"{store} save sidecar-http": http_save,
            f"{store} save sidecar-grpc": grpc_save,
            f"{store} get  sidecar-http": http_get,
            f"{store} get  sidecar-grpc": grpc_get,
        }

    async def redis_save() -> None:
        await rds.hset(f"direct||{key}", mapping={"data": VALUE, "version": 1})

    async def redis_get() -> None:
        await rds.hmget(f"direct||{key}", "data", "version")

    async def sqlite_save() -> None:
        await lite.execute(
            "INSERT INTO state (key, value, is_binary, etag) VALUES (?, ?, 0, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag",
            (f"direct||{key}", VALUE.decode(), uuid.uuid4().hex),
        )

    async def sqlite_get() -> None:
        async with lite.execute("SELECT value, etag FROM state WHERE key = ?", (f"direct||{key}",)) as cur:
            await cur.fetchall()

    paths |= {
        "redis save direct-driver": redis_save,
        "redis get  direct-driver": redis_get,
        "sqlite save direct-driver": sqlite_save,
        "sqlite get  direct-driver": sqlite_get,
    }
    await http_save("redis")
    await http_save("sqlite")
    print(f"rate {rate:g}/s for {seconds:g}s per path; latency in ms")
    print(f"{'path':32} {'p50':>8} {'p90':>8} {'p99':>8}")
    for name in sorted(paths):
        await run_at_rate(paths[name], rate, 1.0)  # warm-up: pools filled, code paths hot
        lat = await run_at_rate(paths[name], rate, seconds)
        print(f"{name:32} {pct(lat, 50):8.3f} {pct(lat, 90):8.3f} {pct(lat, 99):8.3f}")
    await rds.delete(f"direct||{key}", f"bench||{key}")
    await rds.aclose()
    await lite.close()
    await channel.close()
    await http.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    main(args.rate, args.seconds)
