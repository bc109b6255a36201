"""Message metadata sent to the app as daprd's app channel sends it: HTTP headers or gRPC metadata.

Pub/sub deliveries and input binding events carry the message's metadata (daprd
pkg/runtime/subscription, pkg/runtime/processor/binding). daprd turns it into headers with
``InternalMetadataToHTTPHeader`` (pkg/messaging/v1/util.go): keys lowercased; ``content-type`` and
``content-length`` left out (the request has its own), as are hop-by-hop headers and ``-bin``
keys; ``grpc-*`` and the HTTP/2 pseudo headers renamed ``dapr-*``. Over gRPC
(``WithCustomGRPCMetadata``) every key but ``content-type``/``content-length`` goes as metadata,
lowercased. Keys or values that cannot travel at all (a newline in a header, a non-ASCII gRPC
value) are dropped here rather than failing the delivery.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NOT_FORWARDED = frozenset({"content-type", "content-length", "destination-app-id", "host"})
# daprd's IsHopByHopHeader.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-authenticate",
    }
)
_PSEUDO = frozenset({":method", ":scheme", ":path", ":authority"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
_GRPC_KEY = re.compile(r"^[0-9a-z_.-]+$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


def http_headers(metadata: Mapping[str, str]) -> list[tuple[str, str]]:
    """Headers for ``metadata``, in its order (names lowercased)."""
    out: list[tuple[str, str]] = []
    for key, value in metadata.items():
        name = key.lower()
        if name in _NOT_FORWARDED or name in _HOP_BY_HOP or name.endswith("-bin"):
            continue
        if name in _PSEUDO:
            name = "dapr-" + name[1:]
        elif name.startswith("grpc-"):
            name = "dapr-" + name
        if _HEADER_NAME.match(name) and "\n" not in value and "\r" not in value:
            out.append((name, value))
    return out


def grpc_metadata(metadata: Mapping[str, str]) -> list[tuple[str, str | bytes]]:
    """gRPC metadata for ``metadata`` (``-bin`` keys carry their value's bytes)."""
    out: list[tuple[str, str | bytes]] = []
    for key, value in metadata.items():
        name = key.lower()
        if name in _NOT_FORWARDED or name.startswith("grpc-") or not _GRPC_KEY.match(name):
            continue
        if name.endswith("-bin"):
            out.append((name, value.encode()))
        elif _PRINTABLE.match(value):
            out.append((name, value))
    return out
