"""Which headers cross a sidecar hop, and which are the sidecar's own business."""

from __future__ import annotations

import re

from pydapr.http.messages import Headers

# Framing and connection headers belong to one hop only (RFC 9110 7.6.1); the API token is the
# caller's credential for its own sidecar and must never reach another app.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "host",
        "dapr-api-token",
    }
)

# Names the target app on the public API (header form of invocation, and gRPC proxying).
APP_ID_HEADER = "dapr-app-id"
CALLER_APP_ID = "dapr-caller-app-id"
CALLEE_APP_ID = "dapr-callee-app-id"
CALLER_NAMESPACE = "dapr-caller-namespace"
# Set by a target sidecar on errors it produced itself (not the app's), so the calling sidecar can
# report the same catalog error on either transport.
SIDECAR_ERROR = "x-pydapr-error-code"
GRPC_STATUS = "grpc-status"
GRPC_MESSAGE = "grpc-message"

_METADATA_KEY = re.compile(r"^[0-9a-z_.\-]+$")


def forwardable(headers: Headers) -> Headers:
    return Headers.from_lowercase([(k, v) for k, v in headers.items() if k not in HOP_BY_HOP])


def forwarded(headers: Headers, own: dict[str, str]) -> Headers:
    """``forwardable(headers)`` with each of ``own`` set on it (names lower-case), in one pass: the
    same fields in the same order as ``set`` one by one would give, without a copy per name."""
    fwd = [(k, v) for k, v in headers.items() if k not in HOP_BY_HOP and k not in own]
    fwd.extend(own.items())
    return Headers.from_lowercase(fwd)


def response_headers(headers: Headers) -> Headers:
    return Headers.from_lowercase(
        [(k, v) for k, v in headers.items() if k not in HOP_BY_HOP and k != SIDECAR_ERROR]
    )


def to_grpc_metadata(headers: Headers) -> list[tuple[str, str]]:
    """HTTP headers that are valid gRPC metadata (gRPC refuses reserved or non-ASCII entries)."""
    out = []
    for k, v in headers.items():
        if k in HOP_BY_HOP or k == "content-type" or k.startswith(("grpc-", ":")):
            continue
        if not _METADATA_KEY.match(k) or not v.isascii() or not v.isprintable():
            continue
        out.append((k, v))
    return out
