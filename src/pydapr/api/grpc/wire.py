"""The Dapr gRPC API's message and enum classes, looked up by their protobuf names.

The official ``dapr`` package carries the wire definitions, but their module layout changed: up to
1.16 every runtime message lives in ``dapr_pb2``; from 1.17 on they are split by family
(``state_pb2``, ``pubsub_pb2`` ...). Importing ``dapr_pb2`` registers every message in the default
descriptor pool under either layout, so looking classes up by full name there works with whichever
SDK release the user's environment pins (1.16 to current). Code that speaks the gRPC API takes its
classes from here (``runtime.GetStateResponse``, ``common.StateItem``), never from a family module.
"""

from __future__ import annotations

import functools
from typing import Any

# Imported for their side effect: they register the Dapr API's descriptors in the default pool.
from dapr.proto.common.v1 import common_pb2  # noqa: F401
from dapr.proto.runtime.v1 import appcallback_pb2, dapr_pb2  # noqa: F401 (dapr_pb2 is used)
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

# The Dapr service (``dapr.proto.runtime.v1.Dapr``): its methods, their cardinality and messages.
DAPR_SERVICE = dapr_pb2.DESCRIPTOR.services_by_name["Dapr"]


@functools.cache
def _lookup(full_name: str) -> Any:
    pool = descriptor_pool.Default()
    try:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))
    except KeyError:
        pass
    try:
        return EnumTypeWrapper(pool.FindEnumTypeByName(full_name))
    except KeyError:
        raise AttributeError(
            f"{full_name} is not in the installed dapr SDK's wire definitions (too old a release?)"
        ) from None


class _Package:
    """Attribute access by short name within one protobuf package: ``runtime.GetStateRequest``."""

    def __init__(self, package: str) -> None:
        self._package = package

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        found = _lookup(f"{self._package}.{name}")
        setattr(self, name, found)  # the next access is a plain attribute (a hot path's messages)
        return found

    def has(self, name: str) -> bool:
        """Whether the installed SDK defines ``name`` (RPCs added after 1.16 check this)."""
        try:
            _lookup(f"{self._package}.{name}")
        except AttributeError:
            return False
        return True


def as_dict(field: Any) -> dict[str, str]:
    """A protobuf map field (``metadata``) as a dict; an empty one costs a truth test, where
    ``dict(field)`` walks upb's mapping protocol (about 5 µs even when empty)."""
    return {key: value for key, value in field.items()} if field else {}


runtime = _Package("dapr.proto.runtime.v1")
common = _Package("dapr.proto.common.v1")
