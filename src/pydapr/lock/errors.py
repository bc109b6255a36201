"""The lock building block's entries in the error catalog.

Codes, statuses and messages from dapr/dapr pkg/api/errors/lock.go (as checked by Dapr's integration
tests tests/integration/suite/daprd/lock/*/errors.go).
"""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import ErrorKind

S = rpc.StatusCode

NOT_CONFIGURED = ErrorKind(
    "ERR_LOCK_NOT_CONFIGURED", 500, S.FAILED_PRECONDITION, "lock {0} is not configured"
)
NOT_FOUND = ErrorKind("ERR_LOCK_NOT_FOUND", 404, S.INVALID_ARGUMENT, "lock {0} is not found")
RESOURCE_ID_EMPTY = ErrorKind("ERR_RESOURCE_ID_EMPTY", 400, S.INVALID_ARGUMENT, "lock resource id is empty")
OWNER_EMPTY = ErrorKind("ERR_OWNER_EMPTY", 400, S.INVALID_ARGUMENT, "lock owner is empty")
EXPIRY_NOT_POSITIVE = ErrorKind(
    "ERR_EXPIRY_NOT_POSITIVE", 400, S.INVALID_ARGUMENT, "expiry in seconds is not positive"
)
TRY_LOCK = ErrorKind("ERR_TRY_LOCK", 500, S.INTERNAL, "failed to try acquiring lock")
UNLOCK = ErrorKind("ERR_UNLOCK", 500, S.INTERNAL, "failed to release lock")
MALFORMED_REQUEST = ErrorKind(
    "ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "failed deserializing HTTP body: {0}"
)
