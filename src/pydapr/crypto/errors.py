"""The cryptography building block's entries in the error catalog.

Codes, statuses and messages from dapr/dapr pkg/messages/predefined.go (the crypto APIs still use
these ``ERR_CRYPTO*`` codes in current Dapr; pkg/api/errors has no crypto entries on master).
"""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import DaprError, ErrorKind

S = rpc.StatusCode

PROVIDERS_NOT_CONFIGURED = ErrorKind(
    "ERR_CRYPTO_PROVIDERS_NOT_CONFIGURED", 500, S.INTERNAL, "crypto providers not configured"
)
PROVIDER_NOT_FOUND = ErrorKind(
    "ERR_CRYPTO_PROVIDER_NOT_FOUND", 400, S.INVALID_ARGUMENT, "crypto provider {0} not found"
)
GET_KEY = ErrorKind("ERR_CRYPTO_KEY", 500, S.INTERNAL, "failed to retrieve key {0}: {1}")
OPERATION = ErrorKind("ERR_CRYPTO", 500, S.INTERNAL, "failed to perform operation: {0}")
BAD_REQUEST = ErrorKind("ERR_BAD_REQUEST", 400, S.INVALID_ARGUMENT, "invalid request: {0}")
MALFORMED_REQUEST = ErrorKind(
    "ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "failed deserializing HTTP body: {0}"
)
# What Dapr's HTTP server answers for an error that is not one of its API errors: the encrypt and
# decrypt routes report a failure met while streaming (a segment that fails to authenticate) so.
GENERIC = ErrorKind("ERROR", 500, S.INTERNAL, "{0}")


class StreamError(DaprError):
    """A failure met after the stream started (reading input, a segment): ``ERR_CRYPTO`` over gRPC,
    Dapr's generic ``ERROR`` over HTTP, both with ``reason`` as the detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(OPERATION, OPERATION.template.format(reason))
        self.reason = reason
