"""State get and save latency: through a pydapr sidecar (HTTP and gRPC) vs the store's own Python driver.

Open loop at a fixed rate, same run, same machine; prints p50/p90/p99 in milliseconds per path. Each
round runs every path once, the direct driver right before the sidecar paths of the same store and
operation, and rounds alternate the order, so drift on the machine hits direct and sidecar alike;
a path's figures pool all its rounds.

Run: ``python bench/state_latency.py --rate 500 --rate 1000 --seconds 5 --rounds 3``
(needs Redis on 127.0.0.1:6379). ``--only grpc`` keeps the paths whose name contains "grpc";
``--hold`` keeps loading one path so a profiler can attach to the printed sidecar pid.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pct, run_at_rate

VALUE = b'{"user":"ann","cart":[1,2,3],"total":42.5}'
RESOURCES = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: memory
spec:
  type: state.in-memory
  version: v1
---
apiVersion: dapr.io/v1alpha1
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


def main(rates: list[float], seconds: float, rounds: int, only: str, hold: float, markdown: bool) -> None:
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
    print(f"sidecar pid {sidecar.pid}", file=sys.stderr)
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound") as r:
                    if r.status == 204:
                        break
            except OSError:
                time.sleep(0.05)
        asyncio.run(measure(http_port, grpc_port, db, rates, seconds, rounds, only, hold, markdown))
    finally:
        sidecar.terminate()
        sidecar.wait(10)


async def measure(
    http_port: int,
    grpc_port: int,
    db: Path,
    rates: list[float],
    seconds: float,
    rounds: int,
    only: str,
    hold: float,
    markdown: bool,
) -> None:
    http = HttpClient()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    stub = dapr_pb2_grpc.DaprStub(channel)
    rds = aioredis.Redis(host="127.0.0.1", port=6379)
    lite = await aiosqlite.connect(db, isolation_level=None)
    key = f"bench-{uuid.uuid4().hex[:8]}"
    save_body = b'[{"key":"' + key.encode() + b'","value":' + VALUE + b"}]"
    paths: dict[str, Callable[[], Awaitable[None]]] = {}
    # state.in-memory has no driver to compare with: it is the sidecar's own cost (and Dapr's anchor store).
    for store in ("memory", "redis", "sqlite"):

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
    for store in ("memory", "redis", "sqlite"):
        await http_save(store)
    await redis_save()
    await sqlite_save()
    names = [n for n in paths if only in n]
    if hold:
        print(f"loading {names[0]!r} at {rates[0]:g}/s for {hold:g}s", file=sys.stderr)
        await run_at_rate(paths[names[0]], rates[0], hold)
    for rate in rates:
        load_before = os.getloadavg()[0]
        results = await run_rounds(paths, names, rate, seconds, rounds)
        report(results, rate, seconds, rounds, markdown)
        # Other work on the machine shows in the tails; say how busy it was.
        print(f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    await rds.delete(f"direct||{key}", f"bench||{key}")
    await rds.aclose()
    await lite.close()
    await channel.close()
    await http.close()


def group_of(name: str) -> str:
    """``"redis get  sidecar-grpc"`` -> ``"redis get"``: the paths that are compared with each other."""
    return " ".join(name.split()[:2])


async def run_rounds(
    paths: dict[str, Callable[[], Awaitable[None]]],
    names: list[str],
    rate: float,
    seconds: float,
    rounds: int,
) -> dict[str, list[float]]:
    """Every path ``rounds`` times; within a group the direct driver runs next to the sidecar paths,
    first in even rounds and last in odd ones."""
    groups: dict[str, list[str]] = {}
    for name in sorted(names):
        groups.setdefault(group_of(name), []).append(name)
    for members in groups.values():
        members.sort(key=lambda n: "direct" not in n)  # direct first
    results: dict[str, list[float]] = {n: [] for n in names}
    for name in names:
        await run_at_rate(paths[name], rate, 1.0)  # warm-up: pools filled, code paths hot
    for r in range(rounds):
        for members in groups.values():
            for name in members if r % 2 == 0 else reversed(members):
                results[name] += await run_at_rate(paths[name], rate, seconds)
    return results


def report(results: dict[str, list[float]], rate: float, seconds: float, rounds: int, markdown: bool) -> None:
    """p50/p90/p99 per path, and for sidecar paths the p50 added to the direct driver's."""
    direct = {group_of(n): pct(lat, 50) for n, lat in results.items() if "direct" in n}
    rows = []
    for name in sorted(results, key=lambda n: (group_of(n), "direct" not in n, n)):
        lat = results[name]
        p50, p90, p99 = pct(lat, 50), pct(lat, 90), pct(lat, 99)
        base = direct.get(group_of(name))
        added = f"{p50 - base:+.2f}" if base is not None and "direct" not in name else ""
        rows.append((name, p50, p90, p99, added, len(lat)))
    title = f"rate {rate:g}/s, {rounds} round(s) x {seconds:g}s per path; latency in ms"
    if markdown:
        print(f"\n{title}\n")
        print("| path | p50 | p90 | p99 | p50 vs driver | requests |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, p50, p90, p99, added, n in rows:
            print(f"| {' '.join(name.split())} | {p50:.2f} | {p90:.2f} | {p99:.2f} | {added} | {n} |")
        return
    print(title)
    print(f"{'path':28} {'p50':>7} {'p90':>7} {'p99':>7} {'+p50':>7}")
    for name, p50, p90, p99, added, _ in rows:
        print(f"{name:28} {p50:7.3f} {p90:7.3f} {p99:7.3f} {added:>7}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, action="append", help="requests/s (repeatable; default 300)")
    parser.add_argument("--seconds", type=float, default=5, help="per path and round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", default="", help="run the paths whose name contains this")
    parser.add_argument("--hold", type=float, default=0, help="first load one path this long (profiling)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    main(args.rate or [300], args.seconds, args.rounds, args.only, args.hold, args.markdown)
