"""Random and mutated frames never raise out of the connection's frame loop: each connection either
keeps serving or ends with GOAWAY, and the server keeps answering a well-behaved client."""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
from typing import Any

import grpc
import hpack

from tests.unit.grpc_native.conftest import SERVICE
from tests.unit.grpc_native.rawclient import PREFACE, frame

_HEADERS = hpack.Encoder().encode(
    [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", f"/{SERVICE}/Unary"),
        (":authority", "x"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
)


def _valid_frames(rng: random.Random) -> list[bytearray]:
    body = rng.randbytes(rng.randrange(0, 40))
    message = b"\0" + len(body).to_bytes(4, "big") + body
    frames = [
        frame(4, 0, 0, struct.pack(">HI", 4, rng.randrange(0, 1 << 31))),
        frame(1, 0x4, 1, _HEADERS),
        frame(0, 0x1, 1, message),
        frame(6, 0, 0, rng.randbytes(8)),
        frame(8, 0, rng.choice((0, 1, 3)), rng.randrange(0, 1 << 31).to_bytes(4, "big")),
        frame(3, 0, rng.choice((1, 3)), b"\0\0\0\x08"),
        frame(9, 0x4, 1, _HEADERS[:5]),
        frame(
            rng.randrange(0, 16),
            rng.randrange(0, 256),
            rng.randrange(0, 8),
            rng.randbytes(rng.randrange(0, 30)),
        ),
    ]
    return [bytearray(f) for f in frames]


def _mutated(rng: random.Random) -> bytes:
    frames = _valid_frames(rng)
    rng.shuffle(frames)
    for f in frames:
        for _ in range(rng.randrange(0, 3)):
            f[rng.randrange(len(f))] = rng.randrange(256)
    return b"".join(frames)


async def test_mutated_frames_never_break_the_server(echo: int, channel: grpc.aio.Channel) -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    rng = random.Random(20261203)
    try:
        for _ in range(1000):
            reader, writer = await asyncio.open_connection("127.0.0.1", echo)
            data = PREFACE + _mutated(rng)
            cut = rng.randrange(1, len(data) + 1)
            writer.write(data[:cut])
            await asyncio.sleep(0)
            writer.write(data[cut:])
            with contextlib.suppress(TimeoutError):  # still open: it took what it was sent
                await asyncio.wait_for(reader.read(1 << 16), 0.05)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        assert await channel.unary_unary(f"/{SERVICE}/Unary")(b"still here", timeout=10) == b"still here"
        await asyncio.sleep(0.1)  # tasks of the fuzzed streams finish
    finally:
        loop.set_exception_handler(None)
    assert errors == []
