"""The bindings building block's entries in the error catalog (dapr/dapr pkg/api/errors/binding.go)."""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import ErrorKind

S = rpc.StatusCode

INVOKE_OUTPUT_BINDING = ErrorKind(
    "ERR_INVOKE_OUTPUT_BINDING", 500, S.INTERNAL, "error invoking output binding {0}: {1}"
)
MALFORMED_REQUEST = ErrorKind("ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "{0}")
