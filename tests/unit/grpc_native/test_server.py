"""The native gRPC server's statuses, interceptors, limits, stop and protocol errors, seen by
grpcio's clients (and a bare HTTP/2 client where grpcio cannot send what is tested)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from dapr.proto.runtime.v1 import dapr_pb2_grpc, metadata_pb2, state_pb2
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from pydapr.grpc_native import server
from tests.unit.grpc_native.conftest import SERVICE, Probe, echo_handlers, running
from tests.unit.grpc_native.rawclient import RawClient, frame

Behavior = Callable[[bytes, Any], Awaitable[bytes]]


def _one(behavior: Behavior, name: str = "Call") -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE, {name: grpc.unary_unary_rpc_method_handler(behavior)}
    )


async def _failure(port: int, body: bytes = b"x", name: str = "Call", **kwargs: Any) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary(f"/{SERVICE}/{name}")(body, **kwargs)
    return raised.value


async def test_abort_with_status_sends_the_details_rpc_status_reads() -> None:
    info = error_details_pb2.ErrorInfo(reason="DAPR_STATE_NOT_FOUND", domain="dapr.io", metadata={"k": "v"})
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=grpc.StatusCode.NOT_FOUND.value[0], message="no such key", details=[detail]
    )

    async def behavior(request: bytes, context: Any) -> bytes:
        await context.abort_with_status(rpc_status.to_status(status))
        raise AssertionError("abort returned")

    async with running(_one(behavior)) as (_, port):
        error = await _failure(port)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "no such key"
    assert rpc_status.from_call(error) == status


async def test_an_exception_is_unknown_worded_as_grpc_aio_words_it() -> None:
    async def behavior(request: bytes, context: Any) -> bytes:
        raise ValueError("bad 100% thing é\n")

    async with running(_one(behavior)) as (_, port):
        error = await _failure(port)
    assert error.code() == grpc.StatusCode.UNKNOWN
    # grpc-message is percent-encoded on the wire; the client decodes it back.
    assert error.details() == "Unexpected <class 'ValueError'>: bad 100% thing é\n"


async def test_set_code_before_an_exception_keeps_the_code() -> None:
    async def behavior(request: bytes, context: Any) -> bytes:
        context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
        raise RuntimeError("nope")

    async with running(_one(behavior)) as (_, port):
        error = await _failure(port)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "Unexpected <class 'RuntimeError'>: nope"


async def test_set_code_and_details_without_an_exception_end_the_call_with_them() -> None:
    async def behavior(request: bytes, context: Any) -> bytes:
        context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
        context.set_details("bad input")
        context.set_trailing_metadata((("x-why", "because"), ("x-raw-bin", b"\xff\0")))
        return b"ignored"

    async with running(_one(behavior)) as (_, port):
        error = await _failure(port)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "bad input"
    assert tuple(error.trailing_metadata()) == (("x-why", "because"), ("x-raw-bin", b"\xff\0"))


async def test_initial_and_trailing_metadata_reach_the_client() -> None:
    async def behavior(request: bytes, context: Any) -> bytes:
        await context.send_initial_metadata((("x-first", "1"), ("x-first-bin", b"\1\2")))
        context.set_trailing_metadata((("x-last", "2"),))
        return request

    async with (
        running(_one(behavior)) as (_, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        call = channel.unary_unary(f"/{SERVICE}/Call")(b"hi")
        assert await call == b"hi"
        assert tuple(await call.initial_metadata()) == (("x-first", "1"), ("x-first-bin", b"\1\2"))
        assert tuple(await call.trailing_metadata()) == (("x-last", "2"),)


async def test_interceptors_run_in_order_and_may_replace_the_handler() -> None:
    seen: list[str] = []

    class Recording(grpc.aio.ServerInterceptor):
        def __init__(self, name: str) -> None:
            self.name = name

        async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
            seen.append(f"{self.name}:{details.method}:{dict(details.invocation_metadata).get('x-who')}")  # type: ignore[attr-defined]
            handler = await continuation(details)
            if dict(details.invocation_metadata).get("x-who") == "deny":  # type: ignore[attr-defined]

                async def deny(request: bytes, context: Any) -> bytes:
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "denied")
                    return b""

                return grpc.unary_unary_rpc_method_handler(deny)
            return handler

    async def behavior(request: bytes, context: Any) -> bytes:
        return request

    async with running(_one(behavior), interceptors=[Recording("a"), Recording("b")]) as (_, port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary(f"/{SERVICE}/Call")(b"ok", metadata=(("x-who", "me"),)) == b"ok"
        error = await _failure(port, metadata=(("x-who", "deny"),))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert seen == [
        f"a:/{SERVICE}/Call:me",
        f"b:/{SERVICE}/Call:me",
        f"a:/{SERVICE}/Call:deny",
        f"b:/{SERVICE}/Call:deny",
    ]


class _Plain(grpc.aio.ServerInterceptor):
    """An interceptor that only looks at the handler found, as pydapr's: it offers
    intercept_handler, which the native server calls instead of intercept_service."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        self.seen.append(f"{self.name}:async")
        return self.intercept_handler(details, await continuation(details))

    def intercept_handler(self, details: grpc.HandlerCallDetails, handler: Any) -> Any:
        self.seen.append(f"{self.name}:{details.method}")  # type: ignore[attr-defined]
        if dict(details.invocation_metadata).get("x-who") != "deny":  # type: ignore[attr-defined]
            return handler

        async def deny(request: bytes, context: Any) -> bytes:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"denied by {self.name}")
            return b""

        return grpc.unary_unary_rpc_method_handler(deny)


class _Async(grpc.aio.ServerInterceptor):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        self.seen.append("async-only")
        return await continuation(details)


@pytest.mark.parametrize("with_async", [False, True])
async def test_interceptors_with_intercept_handler_run_as_calls_unless_one_has_none(with_async: bool) -> None:
    seen: list[str] = []
    chain: list[grpc.aio.ServerInterceptor] = [_Plain("outer", seen), _Plain("inner", seen)]
    if with_async:
        chain.append(_Async(seen))

    async def behavior(request: bytes, context: Any) -> bytes:
        return request

    async with running(_one(behavior), interceptors=chain) as (_, port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary(f"/{SERVICE}/Call")(b"ok") == b"ok"
        error = await _failure(port, metadata=(("x-who", "deny"),))
    # The outer interceptor has the last word, as when intercept_service awaits the inner ones.
    assert (error.code(), error.details()) == (grpc.StatusCode.PERMISSION_DENIED, "denied by outer")
    method = f"/{SERVICE}/Call"
    if with_async:
        one = ["outer:async", "inner:async", "async-only", f"inner:{method}", f"outer:{method}"]
    else:
        one = [f"inner:{method}", f"outer:{method}"]
    assert seen == one + one


async def test_a_generated_servicer_is_served_through_its_registered_handlers() -> None:
    class State(dapr_pb2_grpc.DaprServicer):  # type: ignore[misc]
        async def GetState(self, request: Any, context: Any) -> Any:
            return state_pb2.GetStateResponse(data=f"{request.store_name}/{request.key}".encode(), etag="1")

    srv = server()
    dapr_pb2_grpc.add_DaprServicer_to_server(State(), srv)  # type: ignore[no-untyped-call]
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = dapr_pb2_grpc.DaprStub(channel)  # type: ignore[no-untyped-call]
            reply = await stub.GetState(state_pb2.GetStateRequest(store_name="s", key="k"))
            assert (reply.data, reply.etag) == (b"s/k", "1")
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.GetMetadata(metadata_pb2.GetMetadataRequest())
            assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED  # the servicer's own default
    finally:
        await srv.stop(None)


async def test_message_limits_are_resource_exhausted_as_grpc_words_them() -> None:
    async def behavior(request: bytes, context: Any) -> bytes:
        return b"y" * int(request or b"0")

    limits = [("grpc.max_receive_message_length", 100), ("grpc.max_send_message_length", 100)]
    async with running(_one(behavior), options=limits) as (_, port):
        received = await _failure(port, b"9" * 300)
        sent = await _failure(port, b"200")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary(f"/{SERVICE}/Call")(b"100") == b"y" * 100
    assert received.code() == sent.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert received.details() == "SERVER: Received message larger than max (300 vs. 100)"
    assert sent.details() == "SERVER: Sent message larger than max (200 vs. 100)"


async def test_stop_lets_a_call_in_flight_finish_and_refuses_new_connections() -> None:
    probe = Probe()
    async with running(echo_handlers(probe)) as (srv, port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(f"/{SERVICE}/Unary")(b"sleep:0.5")
            await asyncio.wait_for(probe.started.wait(), 10)
            stopping = asyncio.ensure_future(srv.stop(10))
            assert await call == b"sleep:0.5"
            await asyncio.wait_for(stopping, 10)
        error = await _failure(port, timeout=5)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert await srv.wait_for_termination(0)


async def test_stop_cancels_calls_still_running_after_the_grace() -> None:
    probe = Probe()
    async with (
        running(echo_handlers(probe)) as (srv, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        call = channel.unary_unary(f"/{SERVICE}/Unary")(b"sleep:60")
        await asyncio.wait_for(probe.started.wait(), 10)
        await asyncio.wait_for(srv.stop(0.2), 10)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
        assert probe.cancelled.is_set()


async def test_goaway_on_stop_names_the_last_stream_and_the_stream_still_answers() -> None:
    probe = Probe()
    async with running(echo_handlers(probe)) as (srv, port):
        raw = await RawClient.connect(port)
        try:
            raw.request(1, f"/{SERVICE}/Unary")
            raw.message(1, b"sleep:0.3")
            await asyncio.wait_for(probe.started.wait(), 10)
            stopping = asyncio.ensure_future(srv.stop(10))
            _, goaway = await asyncio.wait_for(raw.until(7), 10)
            assert int.from_bytes(goaway[:4], "big") == 1 and int.from_bytes(goaway[4:8], "big") == 0
            _, data = await asyncio.wait_for(raw.until(0, 1), 10)
            assert data[5:] == b"sleep:0.3"
            flags, trailers = await asyncio.wait_for(raw.until(1, 1), 10)
            assert flags & 1 and trailers[b"grpc-status"] == b"0"
            await asyncio.wait_for(stopping, 10)
            assert await asyncio.wait_for(raw.reader.read(), 10) == b""  # closed once drained
        finally:
            await raw.aclose()


async def test_the_server_ends_a_call_at_its_deadline() -> None:
    # grpcio's clients enforce their own deadline too; this one only sends it.
    probe = Probe()
    async with running(echo_handlers(probe)) as (_, port):
        raw = await RawClient.connect(port)
        try:
            raw.request(1, f"/{SERVICE}/Unary", (("grpc-timeout", "200m"),))
            raw.message(1, b"sleep:30")
            flags, trailers = await asyncio.wait_for(raw.until(1, 1), 10)
            assert flags & 1
            assert trailers[b"grpc-status"] == b"4"
            assert trailers[b"grpc-message"] == b"Deadline Exceeded"
            await asyncio.wait_for(probe.cancelled.wait(), 10)
        finally:
            await raw.aclose()


async def test_a_malformed_frame_closes_that_connection_only(channel: grpc.aio.Channel, echo: int) -> None:
    call = channel.unary_unary(f"/{SERVICE}/Unary")
    assert await call(b"before") == b"before"
    raw = await RawClient.connect(echo)
    try:
        raw.writer.write(b"\xff\xff\xff\x00\x00\x00\x00\x00\x01" + b"x" * 64)  # a 16 MiB DATA frame
        _, goaway = await asyncio.wait_for(raw.until(7), 10)
        assert int.from_bytes(goaway[4:8], "big") == 0x6  # FRAME_SIZE_ERROR
        assert await asyncio.wait_for(raw.reader.read(), 10) == b""
    finally:
        await raw.aclose()
    garbage = await RawClient.connect(echo)
    try:
        garbage.writer.write(b"\x00\x00\x04\x01\x04\x00\x00\x00\x01\xff\xff\xff\xff")  # not HPACK
        _, goaway = await asyncio.wait_for(garbage.until(7), 10)
        assert int.from_bytes(goaway[4:8], "big") == 0x9  # COMPRESSION_ERROR
    finally:
        await garbage.aclose()
    assert await call(b"after") == b"after"


async def test_not_http2_is_closed() -> None:
    probe = Probe()
    async with running(echo_handlers(probe)) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
    kinds = {}
    while len(data) >= 9:  # our SETTINGS and WINDOW_UPDATE, then a GOAWAY, then the close
        length = int.from_bytes(data[:3], "big")
        kinds[data[3]] = data[9 : 9 + length]
        data = data[9 + length :]
    assert int.from_bytes(kinds[7][4:8], "big") == 0x1  # PROTOCOL_ERROR


async def test_unix_socket() -> None:
    probe = Probe()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "g.sock")
        srv = server()
        srv.add_generic_rpc_handlers([echo_handlers(probe)])
        assert srv.add_insecure_port(f"unix:{path}") == 1
        await srv.start()
        try:
            async with grpc.aio.insecure_channel(f"unix:{path}") as channel:
                assert await channel.unary_unary(f"/{SERVICE}/Unary")(b"u") == b"u"
        finally:
            await srv.stop(None)


async def test_a_port_in_use_is_refused_as_grpc_refuses_it() -> None:
    srv = server()
    port = srv.add_insecure_port("127.0.0.1:0")
    other = server()
    try:
        with pytest.raises(RuntimeError):
            other.add_insecure_port(f"127.0.0.1:{port}")
    finally:
        await srv.stop(None)
        await other.stop(None)


def test_tls_is_refused() -> None:
    async def build() -> None:
        with pytest.raises(NotImplementedError, match="plaintext only"):
            server().add_secure_port("127.0.0.1:0", object())

    asyncio.run(build())


async def test_headers_on_a_finished_stream_reset_that_stream_only(echo: int) -> None:
    raw = await RawClient.connect(echo)
    try:
        raw.request(1, f"/{SERVICE}/Unary")
        raw.message(1, b"one")
        await asyncio.wait_for(raw.until(0, 1), 10)
        _, trailers = await asyncio.wait_for(raw.until(1, 1), 10)
        assert trailers[b"grpc-status"] == b"0"
        raw.request(1, f"/{SERVICE}/Unary", end=True)
        _, code = await asyncio.wait_for(raw.until(3, 1), 10)
        assert int.from_bytes(code, "big") == 0x5  # STREAM_CLOSED
        raw.request(3, f"/{SERVICE}/Unary")
        raw.message(3, b"three")
        _, data = await asyncio.wait_for(raw.until(0, 3), 10)
        assert data[5:] == b"three"
    finally:
        await raw.aclose()


async def test_streams_reset_as_they_open_leave_nothing_behind() -> None:
    # The rapid-reset pattern: every stream opened and reset in one write, before its task starts.
    probe = Probe()
    async with running(echo_handlers(probe)) as (srv, port):
        before = len(asyncio.all_tasks())
        raw = await RawClient.connect(port)
        try:
            for n in range(1000):
                sid = 2 * n + 1
                raw.request(sid, f"/{SERVICE}/Unary")
                raw.writer.write(frame(3, 0, sid, b"\0\0\0\x08"))
            raw.request(2001, f"/{SERVICE}/Unary")
            raw.message(2001, b"last")
            _, data = await asyncio.wait_for(raw.until(0, 2001), 10)
            assert data[5:] == b"last"
            await asyncio.sleep(0.05)
            assert [len(conn.streams) for conn in srv.connections] == [0]
            assert len(asyncio.all_tasks()) <= before
        finally:
            await raw.aclose()


async def test_a_header_block_over_several_frames_and_the_context_s_peer() -> None:
    seen: dict[str, Any] = {}

    async def behavior(request: bytes, context: Any) -> bytes:
        seen["big"] = dict(context.invocation_metadata())["x-big"]
        seen["peer"] = context.peer()
        seen["done"] = context.done()
        seen["auth"] = context.auth_context()
        return request

    big = "v" * 40_000  # more than one 16 KiB frame: grpcio sends CONTINUATION frames
    async with (
        running(_one(behavior)) as (_, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        assert await channel.unary_unary(f"/{SERVICE}/Call")(b"m", metadata=(("x-big", big),)) == b"m"
    assert seen["big"] == big
    assert seen["peer"].startswith("ipv4:127.0.0.1:")
    assert seen["done"] is False
    assert seen["auth"]["transport_security_type"] == [b"insecure"]


async def test_no_header_value_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    # hpack logs each header it decodes at debug; a client's dapr-api-token must not reach the log.
    caplog.set_level(logging.DEBUG)
    token = "secret-token-5e1d"

    async def behavior(request: bytes, context: Any) -> bytes:
        return dict(context.invocation_metadata())["dapr-api-token"].encode()

    async with (
        running(_one(behavior)) as (_, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        call = channel.unary_unary(f"/{SERVICE}/Call")
        for _ in range(2):  # a new header, then one from the dynamic table
            assert await call(b"m", metadata=(("dapr-api-token", token),)) == token.encode()
    assert logging.getLogger().isEnabledFor(logging.DEBUG)
    assert not [r for r in caplog.records if token in r.getMessage()]


async def test_a_read_after_an_oversized_message_ends_the_call_is_eof_as_grpc_aio() -> None:
    # A handler that reads in a task of its own (as the proxy's pump): the server's RESOURCE_EXHAUSTED
    # ends the call under it, and its next read is the end of the requests, not "RPC already finished".
    reads: asyncio.Queue[object] = asyncio.Queue()

    async def bidi(requests: Any, context: Any) -> Any:
        async def drain() -> None:
            try:
                async for request in requests:
                    reads.put_nowait(request)
                reads.put_nowait(grpc.aio.EOF)
            except BaseException as exc:
                reads.put_nowait(exc)
                raise

        asyncio.get_running_loop().create_task(drain())
        await asyncio.sleep(5)
        yield b"never"

    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Bidi": grpc.stream_stream_rpc_method_handler(bidi)}
    )
    limits = [("grpc.max_receive_message_length", 100)]
    async with (
        running(handler, options=limits) as (_, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        call = channel.stream_stream(f"/{SERVICE}/Bidi")(iter([b"ok", b"x" * 300]))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            async for _ in call:
                pass
        assert await asyncio.wait_for(reads.get(), 5) == b"ok"
        ended = await asyncio.wait_for(reads.get(), 5)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ended is grpc.aio.EOF, repr(ended)


async def test_a_unary_reply_over_the_peer_s_window_waits_for_its_window_update() -> None:
    """The reply's one piece needs the whole message within the windows; else it goes out as the
    window lets it, and the trailers after the last of it."""
    async with running(echo_handlers(Probe())) as (_, port):
        raw = await RawClient.connect(port)
        try:
            raw.writer.write(frame(4, 0, 0, (4).to_bytes(2, "big") + (10).to_bytes(4, "big")))  # window 10
            raw.request(1, f"/{SERVICE}/Unary")
            raw.message(1, b"x" * 50)
            flags, head = await raw.until(1, 1)
            assert head[b":status"] == b"200" and not flags & 0x1
            _, first = await raw.until(0, 1)
            assert first == b"\0" + (50).to_bytes(4, "big") + b"xxxxx"  # 10 bytes: the window
            raw.writer.write(frame(8, 0, 1, (100).to_bytes(4, "big")))
            _, rest = await raw.until(0, 1)
            assert rest == b"x" * 45
            flags, trailers = await raw.until(1, 1)
            assert flags & 0x1 and trailers[b"grpc-status"] == b"0"
        finally:
            await raw.aclose()


async def test_a_finished_call_is_freed_without_the_cyclic_collector() -> None:
    """Its stream and its context referred to each other: every call left about nine objects to the
    cyclic collector (the stream, its queues, task, coroutine, context), reply and all."""
    refs: list[weakref.ref[Any]] = []

    async def behavior(request: bytes, context: Any) -> bytes:
        refs.append(weakref.ref(context))
        return request

    async with (
        running(_one(behavior)) as (_, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                assert await channel.unary_unary(f"/{SERVICE}/Call")(b"ok") == b"ok"
            for _ in range(5):  # the last call's task finishes after its reply went out
                await asyncio.sleep(0)
            assert [ref() for ref in refs] == [None, None, None]
        finally:
            gc.enable()
