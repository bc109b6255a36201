"""What TLS adds to a write on loopback under uvloop, both ends in one process (so no wakeup of
another process is counted): CPU per write of each size, plain against TLS (trustme certificates).

Why: in py-spy the peer connection's batched TLS write is a sixth of sidecar A's samples; this
separates what TLS costs from what the kernel's wakeup of the reading process costs.

    python bench/tls_write_cost.py [--writes 5000] [--sizes 1200,11000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import ssl

import trustme
import uvloop


class _Sink(asyncio.Protocol):
    def __init__(self, expected: int, done: asyncio.Future[None]) -> None:
        self.left = expected
        self.done = done

    def data_received(self, data: bytes) -> None:
        self.left -= len(data)
        if self.left <= 0 and not self.done.done():
            self.done.set_result(None)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _per_write(size: int, writes: int, tls: tuple[ssl.SSLContext, ssl.SSLContext] | None) -> float:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    server = await loop.create_server(
        lambda: _Sink(size * writes, done), "127.0.0.1", 0, ssl=tls[0] if tls else None
    )
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(
        asyncio.Protocol,
        "127.0.0.1",
        port,
        ssl=tls[1] if tls else None,
        server_hostname="peer.local" if tls else None,
    )
    data = b"x" * size
    started = _cpu()
    for i in range(writes):
        transport.write(data)
        if i % 4 == 3:
            await asyncio.sleep(0)  # let the reading end run, as a loop pass would
    await done
    used = _cpu() - started
    transport.close()
    server.close()
    return used / writes * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--writes", type=int, default=5000)
    ap.add_argument("--sizes", default="1200,11000")
    args = ap.parse_args()
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("peer.local").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    print("| write (bytes) | plain, µs CPU per write | TLS, µs CPU per write |")
    print("|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        plain = uvloop.run(_per_write(size, args.writes, None))
        tls = uvloop.run(_per_write(size, args.writes, (server_ctx, client_ctx)))
        print(f"| {size} | {plain:.1f} | {tls:.1f} |")


if __name__ == "__main__":
    main()
