"""The header blocks the native server reads without hpack: the same fields as hpack.Decoder for
every block that leaves the table as it is, None (hpack's turn) for every other."""

from __future__ import annotations

import random

import hpack
import pytest
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH

from pydapr.grpc_native import server
from pydapr.grpc_native._hpack import decode_unchanging
from pydapr.grpc_native._wire import _integer  # the server's own HPACK integer writer

from .conftest import SERVICE, Probe, echo_handlers
from .rawclient import RawClient

pytestmark = pytest.mark.timeout(30)

_HUFFMAN = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)


def _string(value: bytes, huffman: bool) -> bytes:
    if huffman:
        coded = _HUFFMAN.encode(value)
        return _integer(len(coded), 7, 0x80) + coded
    return _integer(len(value), 7, 0) + value


def _literal(name: bytes | int, value: bytes, never: bool = False, huffman: bool = False) -> bytes:
    """A literal field without indexing (never indexed with ``never``); ``name`` an index or bytes."""
    first = 0x10 if never else 0x00
    if isinstance(name, int):
        return _integer(name, 4, first) + _string(value, huffman)
    return bytes((first,)) + _string(name, huffman) + _string(value, huffman)


def _primed() -> tuple[hpack.Decoder, hpack.Decoder]:
    """Two decoders with the same dynamic table, as a client's first block leaves it."""
    encoder = hpack.Encoder()
    block = encoder.encode(
        [(":path", "/svc/Method"), ("user-agent", "grpc-python/1"), ("x-token", "t" * 200)]
    )
    first, second = hpack.Decoder(), hpack.Decoder()
    first.decode(block, raw=True)
    second.decode(block, raw=True)
    return first, second


def _same_as_hpack(block: bytes) -> list[tuple[bytes, bytes]] | None:
    ours, theirs = _primed()
    got = decode_unchanging(ours, block)
    if got is not None:
        assert got == [tuple(f) for f in theirs.decode(block, raw=True)]
        assert ours.header_table.dynamic_entries == theirs.header_table.dynamic_entries
    return got


def test_indexed_fields_static_and_dynamic_read_as_hpack_reads_them() -> None:
    block = bytes([0x83, 0x86, 0xBE, 0xBF, 0xC0])  # :method POST, :scheme http, the three table entries
    fields = _same_as_hpack(block)
    assert fields is not None
    assert (b":path", b"/svc/Method") in fields and (b"x-token", b"t" * 200) in fields


def test_table_entries_kept_as_memoryviews_read_as_bytes() -> None:
    # hpack 4.0 (the lowest release pyproject admits) keeps a literal's name and value in its
    # dynamic table as memoryviews of the block it read; the server's fields are bytes either way.
    ours, _ = _primed()
    table = ours.header_table.dynamic_entries
    for i, (name, value) in enumerate(list(table)):
        table[i] = (memoryview(name), memoryview(value))
    block = bytes([0x83, 0xBE, 0xBF, 0xC0]) + _literal(63, b"another-agent", False, False)
    fields = decode_unchanging(ours, block)
    assert fields is not None
    assert all(type(name) is bytes and type(value) is bytes for name, value in fields)
    assert (b":path", b"/svc/Method") in fields


@pytest.mark.parametrize("huffman", [False, True])
@pytest.mark.parametrize("never", [False, True])
def test_literals_without_indexing_read_as_hpack_reads_them(huffman: bool, never: bool) -> None:
    block = (
        bytes([0x83, 0xBE])
        + _literal(b"grpc-timeout", b"59999914u", never, huffman)
        + _literal(4, b"/other/Path", never, huffman)  # :path's static name
        + _literal(63, b"another-agent", never, huffman)  # a dynamic entry's name
        + _literal(b"x-long", b"v" * 300, never, huffman)  # lengths past their prefix
    )
    fields = _same_as_hpack(block)
    assert fields is not None
    assert (b"grpc-timeout", b"59999914u") in fields and (b"x-long", b"v" * 300) in fields


def test_a_block_that_changes_the_table_is_hpack_s() -> None:
    encoder = hpack.Encoder()
    assert decode_unchanging(hpack.Decoder(), encoder.encode([("x-new", "1")])) is None  # 0x40
    assert decode_unchanging(hpack.Decoder(), bytes([0x3F, 0xE1, 0x1F, 0x82])) is None  # size update


@pytest.mark.parametrize(
    "block",
    [
        bytes([0x80]),  # index 0
        bytes([0xFF, 0x80]),  # an integer cut off
        bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),  # longer than any table
        bytes([0xC3]),  # past the dynamic table
        bytes([0x00, 0x05, 0x61]),  # a name cut off
        bytes([0x0F, 0x30, 0x01]),  # a name index past the table
        bytes([0x04, 0x85, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),  # Huffman padding over 7 bits
        bytes([0x04]),  # no value
    ],
)
def test_a_malformed_block_is_left_to_hpack(block: bytes) -> None:
    ours, _ = _primed()
    assert decode_unchanging(ours, block) is None


def test_a_header_list_over_the_limit_is_left_to_hpack() -> None:
    decoder = hpack.Decoder(max_header_list_size=1000)
    block = _literal(b"x-big", b"v" * 990)
    assert decode_unchanging(decoder, block) is None
    with pytest.raises(hpack.OversizedHeaderListError):
        decoder.decode(block, raw=True)


def test_random_blocks_of_unchanging_fields_match_hpack() -> None:
    rng = random.Random(7)
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(0, 8)):
            kind = rng.randrange(3)
            if kind == 0:
                parts.append(_integer(rng.randint(1, 64), 7, 0x80))
            else:
                value = bytes(rng.randrange(0x20, 0x7F) for _ in range(rng.randint(0, 150)))
                name: bytes | int = rng.choice([b"x-a", b"grpc-timeout", rng.randint(1, 64)])
                parts.append(_literal(name, value, never=kind == 2, huffman=rng.random() < 0.5))
        assert _same_as_hpack(b"".join(parts)) is not None


async def test_calls_with_a_fresh_literal_each_and_a_table_change_between_them() -> None:
    """A deadline's grpc-timeout (never indexed here) differs on every call; a new indexed header
    between rounds changes what the kept blocks' indices would mean."""
    probe = Probe()
    srv = server()
    srv.add_generic_rpc_handlers([echo_handlers(probe)])
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    client = await RawClient.connect(port)
    try:
        stream_id = 1
        for round_ in range(3):
            for n in range(3):
                timeout = hpack.NeverIndexedHeaderTuple("grpc-timeout", f"{5000 + n}m")
                client.request(stream_id, f"/{SERVICE}/Unary", [("x-round", str(round_)), timeout])
                client.message(stream_id, b"hello")
                flags, trailers = await client.until(1, stream_id)
                if not flags & 0x1:  # the response's headers, then its trailers
                    flags, trailers = await client.until(1, stream_id)
                assert trailers[b"grpc-status"] == b"0"
                assert ("x-round", str(round_)) in probe.metadata
                assert probe.time_remaining is not None and 4 < probe.time_remaining <= 5.01
                stream_id += 2
    finally:
        await client.aclose()
        await srv.stop(None)
