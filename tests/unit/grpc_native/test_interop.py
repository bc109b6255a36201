"""The native gRPC server against real grpcio clients (grpc.aio and the sync client): every
cardinality, messages across windows, concurrency, cancellation, deadlines and metadata."""

from __future__ import annotations

import asyncio
import os

import grpc
import pytest

from tests.unit.grpc_native.conftest import LIMITS, SERVICE, Probe


def _method(name: str) -> str:
    return f"/{SERVICE}/{name}"


@pytest.mark.parametrize("size", [0, 1, 1024, 16379, 16384, 70000, 1 << 20, 5 << 20, 20 << 20])
async def test_unary_messages_of_every_size_come_back_whole(channel: grpc.aio.Channel, size: int) -> None:
    body = os.urandom(size)
    assert await channel.unary_unary(_method("Unary"))(body) == body


async def test_400_concurrent_calls_of_mixed_sizes(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary(_method("Unary"))
    bodies = [os.urandom(n * 997 % 300_000) for n in range(400)]
    assert await asyncio.gather(*(call(b) for b in bodies)) == bodies


async def test_server_streaming_sends_every_message_in_order(channel: grpc.aio.Channel) -> None:
    replies = [r async for r in channel.unary_stream(_method("ServerStream"))(b"12x3000000")]
    assert replies == [bytes([i]) * 3_000_000 for i in range(12)]


async def test_client_streaming_receives_every_message(channel: grpc.aio.Channel) -> None:
    parts = [os.urandom(n * 70_001 % 2_000_000) for n in range(20)]

    async def requests():  # type: ignore[no-untyped-def]
        for part in parts:
            yield part

    assert await channel.stream_unary(_method("ClientStream"))(requests()) == b"".join(parts)


async def test_bidirectional_stream_answers_each_message_as_it_comes(channel: grpc.aio.Channel) -> None:
    call = channel.stream_stream(_method("Bidi"))()
    for i in range(50):
        message = os.urandom(i * 40_000)
        await call.write(message)
        assert await call.read() == message[::-1]
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_reader_writer_handler(channel: grpc.aio.Channel) -> None:
    call = channel.stream_stream(_method("Writer"))()
    await call.write(b"a")
    assert await call.read() == b"a!"
    await call.write(b"b")
    await call.done_writing()
    assert await call.read() == b"b!"
    assert await call.read() is grpc.aio.EOF


async def test_sync_client_in_all_four_cardinalities(echo: int) -> None:
    def run() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{echo}", options=LIMITS) as ch:
            body = os.urandom(3 << 20)
            assert ch.unary_unary(_method("Unary"))(body, timeout=30) == body
            assert list(ch.unary_stream(_method("ServerStream"))(b"3x10")) == [
                bytes([i]) * 10 for i in range(3)
            ]
            assert ch.stream_unary(_method("ClientStream"))(iter([b"a", b"bc", b""])) == b"abc"
            assert list(ch.stream_stream(_method("Bidi"))(iter([b"ab", b"cd"]))) == [b"ba", b"dc"]

    await asyncio.to_thread(run)


async def test_client_cancel_cancels_the_handler(channel: grpc.aio.Channel, probe: Probe) -> None:
    call = channel.unary_unary(_method("Unary"))(b"sleep:30")
    await asyncio.wait_for(probe.started.wait(), 10)
    call.cancel()
    await asyncio.wait_for(probe.cancelled.wait(), 10)
    assert await channel.unary_unary(_method("Unary"))(b"after", timeout=10) == b"after"


async def test_deadline_ends_the_call_and_cancels_the_handler(
    channel: grpc.aio.Channel, probe: Probe
) -> None:
    # The client's own deadline is later, so the status is the server's.
    metadata = (("x-a", "1"),)
    call = channel.unary_unary(_method("Unary"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(b"sleep:30", timeout=0.5, metadata=metadata)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(probe.cancelled.wait(), 10)
    # grpc core rounds the remaining time up to a whole unit of `grpc-timeout` (a millisecond below
    # a second), so the server may see a hair more than the client's 0.5 s, never a full unit more.
    assert probe.time_remaining is not None and 0 < probe.time_remaining <= 0.502


async def test_time_remaining_is_none_without_a_deadline(channel: grpc.aio.Channel, probe: Probe) -> None:
    await channel.unary_unary(_method("Unary"))(b"x")
    assert probe.time_remaining is None


async def test_metadata_reaches_the_handler_with_bin_values_decoded(
    channel: grpc.aio.Channel, probe: Probe
) -> None:
    metadata = (("x-text", "hello"), ("x-data-bin", b"\0\1\2\xff"), ("x-text", "again"))
    await channel.unary_unary(_method("Unary"))(b"x", metadata=metadata)
    sent = [(k, v) for k, v in probe.metadata if k != "user-agent"]
    # grpc's client groups repeated keys; each value arrives, in its order among its key's.
    assert sorted(sent, key=lambda kv: kv[0]) == sorted(metadata, key=lambda kv: kv[0])
    assert any(k == "user-agent" for k, _ in probe.metadata)


async def test_unknown_method_is_unimplemented(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary(f"/{SERVICE}/Nope")(b"x")
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert raised.value.details() == "Method not found!"
