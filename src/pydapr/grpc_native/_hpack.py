"""A request header block decoded without ``hpack``'s per-field work when it leaves the peer's
dynamic table as it is: indexed fields, and literals without indexing or never indexed (RFC 7541
6.1, 6.2.2, 6.2.3). That is a gRPC client's usual block once the table holds its headers: all
indexed, with a fresh ``grpc-timeout`` literal when the call has a deadline (grpc's client), or
``:path`` and ``content-length`` as literals (nghttp2's). Any other block, and anything malformed
or over the header list limit, is left to ``hpack.Decoder``, which then raises or updates the table
as before: this path reads the decoder's table and never changes it.
"""

from __future__ import annotations

import hpack
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

_STATIC = HeaderTable.STATIC_TABLE
_STATIC_LENGTH = len(_STATIC)
_ENTRY_OVERHEAD = 32  # RFC 7541 4.1, as hpack counts the header list size


def decode_unchanging(decoder: hpack.Decoder, block: bytes) -> list[tuple[bytes, bytes]] | None:
    """The block's fields, or None when ``decoder`` has to decode it (the table changes, or it is
    not a block this path can vouch for)."""
    dynamic = decoder.header_table.dynamic_entries
    limit = decoder.max_header_list_size
    fields: list[tuple[bytes, bytes]] = []
    size = 0
    pos, end = 0, len(block)
    while pos < end:
        first = block[pos]
        if first & 0x80:  # indexed field
            index = first & 0x7F
            pos += 1
            if index == 0x7F:
                index, pos = _integer_tail(block, pos, index)
                if index < 0:
                    return None
            if 0 < index <= _STATIC_LENGTH:
                field = _STATIC[index - 1]
            elif _STATIC_LENGTH < index <= _STATIC_LENGTH + len(dynamic):
                field = dynamic[index - _STATIC_LENGTH - 1]
                if type(field[1]) is not bytes or type(field[0]) is not bytes:
                    field = (bytes(field[0]), bytes(field[1]))  # hpack 4.0 keeps memoryviews of a block
            else:
                return None
        elif first & 0xE0 == 0:  # literal without indexing (0000) or never indexed (0001)
            index = first & 0x0F
            pos += 1
            if index == 0x0F:
                index, pos = _integer_tail(block, pos, index)
                if index < 0:
                    return None
            if index == 0:
                name, pos = _string(block, pos)
                if name is None:
                    return None
            elif index <= _STATIC_LENGTH:
                name = _STATIC[index - 1][0]
            elif index <= _STATIC_LENGTH + len(dynamic):
                name = bytes(dynamic[index - _STATIC_LENGTH - 1][0])
            else:
                return None
            value, pos = _string(block, pos)
            if value is None:
                return None
            field = (name, value)
        else:  # a literal the table keeps, or a table size update
            return None
        size += _ENTRY_OVERHEAD + len(field[0]) + len(field[1])
        if size > limit:
            return None
        fields.append(field)
    return fields


def _integer_tail(block: bytes, pos: int, value: int) -> tuple[int, int]:
    """The continuation bytes of an integer whose prefix was full (RFC 7541 5.1); -1 when cut off
    or longer than any table index or string this server takes."""
    shift = 0
    while pos < len(block) and shift <= 21:
        byte = block[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return -1, pos


def _string(block: bytes, pos: int) -> tuple[bytes | None, int]:
    """A string literal (RFC 7541 5.2) at ``pos``: (its bytes, the position after it)."""
    if pos >= len(block):
        return None, pos
    first = block[pos]
    length = first & 0x7F
    pos += 1
    if length == 0x7F:
        length, pos = _integer_tail(block, pos, length)
        if length < 0:
            return None, pos
    stop = pos + length
    if stop > len(block):
        return None, pos
    raw = block[pos:stop]
    if first & 0x80:
        try:
            raw = decode_huffman(raw)
        except hpack.HPACKError:
            return None, pos
    return raw, stop
