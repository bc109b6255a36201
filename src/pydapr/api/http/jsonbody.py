"""JSON request bodies decoded the way daprd's handlers decode them.

daprd decodes most bodies with Go's ``encoding/json`` (state, bulk publish, bindings): an object's
key matches a struct field exactly or, failing that, case-insensitively (``ETag`` is ``etag``), and
a key matching no field is ignored. Bodies of the protobuf-based routes (lock, jobs) go through
``protojson``: a key is a field's JSON name or its proto name (``resourceId`` or ``resource_id``),
case-sensitive, unknown keys ignored.

``BodyDecoder`` gets both at no cost for the common body: its structs forbid unknown fields, so the
one exact msgspec pass succeeds whenever every key is a field name as written. Only a body holding
another key (a case variant, a proto name, a field daprd does not know) fails that pass; it is then
re-shaped along the schema -- keys renamed to the field names, unknown keys dropped, every value
left as its original bytes -- and decoded again. Values typed ``msgspec.Raw`` (state values, event
payloads) are never looked into.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

import msgspec
from msgspec import inspect as mi

T = TypeVar("T")

Matching = Literal["go", "protojson"]

_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


class _StructNode(msgspec.Struct, frozen=True):
    exact: dict[str, _Node]  # field wire name -> its value's node
    aliases: dict[str, str]  # another accepted spelling -> field wire name


class _ListNode(msgspec.Struct, frozen=True):
    item: _Node


_Node = _StructNode | _ListNode | None  # None: a value taken as it is


def _proto_name(json_name: str) -> str:
    return _CAMEL_HUMP.sub("_", json_name).lower()


def _node(info: mi.Type, matching: Matching, seen: dict[type, _StructNode]) -> _Node:
    if isinstance(info, mi.UnionType):
        inner = [t for t in info.types if not isinstance(t, mi.NoneType)]
        return _node(inner[0], matching, seen) if len(inner) == 1 else None
    if isinstance(info, mi.ListType):
        item = _node(info.item_type, matching, seen)
        return _ListNode(item) if item is not None else None
    if isinstance(info, mi.StructType):
        if not info.forbid_unknown_fields:
            raise TypeError(f"{info.cls.__name__} must be declared with forbid_unknown_fields=True")
        if info.cls in seen:
            return seen[info.cls]
        node = _StructNode({}, {})
        seen[info.cls] = node
        for f in info.fields:
            node.exact[f.encode_name] = _node(f.type, matching, seen)
            alias = f.encode_name.lower() if matching == "go" else _proto_name(f.encode_name)
            node.aliases.setdefault(alias, f.encode_name)
        return node
    return None


def _reshape(raw: bytes, node: _Node, fold: Callable[[str], str]) -> bytes:
    """``raw`` with the keys the schema knows renamed and the others dropped; a value that is not
    the object or array the schema expects is left for the exact decoder to report."""
    if isinstance(node, _StructNode):
        try:
            members = _OBJECT.decode(raw)
        except msgspec.ValidationError:
            return raw
        out: dict[str, msgspec.Raw] = {}
        for key, value in members.items():
            name = key if key in node.exact else node.aliases.get(fold(key))
            if name is not None:
                # Two spellings of one field: the later wins, as in Go.
                out[name] = msgspec.Raw(_reshape(bytes(value), node.exact[name], fold))
        return msgspec.json.encode(out)
    if isinstance(node, _ListNode):
        try:
            items = _ARRAY.decode(raw)
        except msgspec.ValidationError:
            return raw
        return msgspec.json.encode([msgspec.Raw(_reshape(bytes(i), node.item, fold)) for i in items])
    return raw


def _identity(key: str) -> str:
    return key


class BodyDecoder(Generic[T]):
    """Decode a request body into ``type_`` (msgspec structs with ``forbid_unknown_fields=True``,
    checked on the first body that takes the second pass).

    Raises ``msgspec.DecodeError`` / ``msgspec.ValidationError`` as msgspec does; each route turns
    them into its own malformed-request error.
    """

    def __init__(self, type_: Any, matching: Matching = "go") -> None:
        self._type = type_
        self._matching: Matching = matching
        self._exact: msgspec.json.Decoder[T] = msgspec.json.Decoder(type_)
        self._fold: Callable[[str], str] = str.lower if matching == "go" else _identity

    @functools.cached_property
    def _root(self) -> _Node:
        # Walked on the first body that needs re-shaping: ``type_info`` costs ~0.3-0.5 ms per
        # schema, and the sidecar makes a dozen decoders at import time, most never re-shaping.
        return _node(mi.type_info(self._type), self._matching, {})

    def decode(self, body: bytes) -> T:
        try:
            return self._exact.decode(body)
        except msgspec.ValidationError:
            # A key that is not a field name as written (or a value of the wrong type, which the
            # second pass reports again).
            return self._exact.decode(_reshape(body, self._root, self._fold))
