"""The secrets building block's entries in the error catalog (dapr/dapr pkg/api/errors/secrets.go)."""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import ErrorKind

S = rpc.StatusCode

STORES_NOT_CONFIGURED = ErrorKind(
    "ERR_SECRET_STORES_NOT_CONFIGURED", 500, S.FAILED_PRECONDITION, "secret store is not configured"
)
STORE_NOT_FOUND = ErrorKind(
    "ERR_SECRET_STORE_NOT_FOUND", 401, S.INVALID_ARGUMENT, "failed finding secret store with key {0}"
)
PERMISSION_DENIED = ErrorKind(
    "ERR_PERMISSION_DENIED", 403, S.PERMISSION_DENIED, 'access denied by policy to get "{0}" from "{1}"'
)
GET = ErrorKind(
    "ERR_SECRET_GET", 500, S.INTERNAL, "failed getting secret with key {0} from secret store {1}: {2}"
)
BULK_GET = ErrorKind("ERR_SECRET_GET", 500, S.INTERNAL, "failed getting secrets from secret store {0}: {1}")
