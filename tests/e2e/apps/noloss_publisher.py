"""A publisher for the no-loss test: publishes ``{"n": i}`` for i in 0..COUNT-1 through a sidecar's
HTTP API (``POST /v1.0/publish/{pubsub}/{topic}``), as users do, at about RATE messages/s over
CONNECTIONS keep-alive connections.

A publish that fails (non-2xx, connection error, timeout) is retried until it succeeds, as a careful
user would: the sidecar answered 204 only once the broker took the message, so every number has been
accepted at least once when this exits 0. A retried publish that the broker did take the first time
is a legitimate duplicate. Progress goes to stdout as ``published N`` lines, then ``done N retries R``.

Environment: DAPR_HTTP_PORT, PUBSUB, TOPIC, COUNT, RATE, CONNECTIONS.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import aiohttp


async def main() -> int:
    port = int(os.environ["DAPR_HTTP_PORT"])
    url = f"http://127.0.0.1:{port}/v1.0/publish/{os.environ['PUBSUB']}/{os.environ['TOPIC']}"
    count = int(os.environ["COUNT"])
    rate = float(os.environ.get("RATE", "1000"))
    connections = int(os.environ.get("CONNECTIONS", "8"))
    next_n = 0
    published = 0
    retries = 0
    last_error = ""
    start = time.monotonic()
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=15)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal next_n, published, retries, last_error
            while next_n < count:
                n = next_n
                next_n += 1
                # Open loop: message n is due at start + n/rate, whatever happened to the others.
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = b'{"n": %d}' % n
                while True:
                    try:
                        async with session.post(
                            url, data=body, headers={"content-type": "application/json"}
                        ) as resp:
                            await resp.read()
                            if 200 <= resp.status < 300:
                                break
                            last_error = f"HTTP {resp.status}"
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        last_error = f"{type(exc).__name__}: {exc}"
                    retries += 1
                    if retries % 50 == 1:
                        print(f"retrying {n}: {last_error}", flush=True)
                    await asyncio.sleep(0.1)
                published += 1
                if published % 250 == 0:
                    print(f"published {published}", flush=True)

        await asyncio.gather(*(worker() for _ in range(connections)))
    print(f"done {published} retries {retries} seconds {time.monotonic() - start:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
