"""The state building block's entries in the error catalog.

Codes, statuses and messages from dapr/dapr pkg/api/errors/state.go and pkg/messages/predefined.go.
"""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import ErrorKind

S = rpc.StatusCode

STORE_NOT_FOUND = ErrorKind(
    "ERR_STATE_STORE_NOT_FOUND", 400, S.INVALID_ARGUMENT, "state store {0} is not found"
)
STORE_NOT_CONFIGURED = ErrorKind(
    "ERR_STATE_STORE_NOT_CONFIGURED", 500, S.FAILED_PRECONDITION, "state store {0} is not configured"
)
TRANSACTIONS_NOT_SUPPORTED = ErrorKind(
    "ERR_STATE_STORE_NOT_SUPPORTED", 500, S.UNIMPLEMENTED, "state store {0} doesn't support transactions"
)
QUERY_NOT_SUPPORTED = ErrorKind(
    "ERR_STATE_STORE_NOT_SUPPORTED", 500, S.INTERNAL, "state store does not support querying"
)
# pydapr extension (key listing): same code as Dapr's other "store can't do that" refusals.
LIST_KEYS_NOT_SUPPORTED = ErrorKind(
    "ERR_STATE_STORE_NOT_SUPPORTED", 500, S.UNIMPLEMENTED, "state store {0} does not support listing keys"
)
TTL_NOT_SUPPORTED = ErrorKind(
    "ERR_STATE_STORE_NOT_SUPPORTED", 400, S.INVALID_ARGUMENT, "state store {0} does not support TTL"
)
# pydapr refuses what a store without ETAG can't honour (Dapr hands it to the store, which may ignore it).
ETAG_NOT_SUPPORTED = ErrorKind(
    "ERR_STATE_STORE_NOT_SUPPORTED", 400, S.INVALID_ARGUMENT, "state store {0} does not support ETags: {1}"
)
ILLEGAL_KEY = ErrorKind(
    "ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "input key/keyPrefix '{0}' can't contain '||'"
)
KEY_REQUIRED = ErrorKind("ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, '"key" is a required field')
MALFORMED_REQUEST = ErrorKind(
    "ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "failed deserializing HTTP body: {0}"
)
NOT_SUPPORTED_OPERATION = ErrorKind(
    "ERR_NOT_SUPPORTED_STATE_OPERATION", 400, S.UNIMPLEMENTED, "operation type {0} not supported"
)

# Store failures: 500/Internal, message as in pkg/messages/predefined.go.
GET = ErrorKind("ERR_STATE_GET", 500, S.INTERNAL, "fail to get {0} from state store {1}: {2}")
BULK_GET = ErrorKind(
    "ERR_STATE_BULK_GET", 500, S.INTERNAL, "failed getting state in bulk from state store {0}: {1}"
)
SAVE = ErrorKind("ERR_STATE_SAVE", 500, S.INTERNAL, "failed saving state in state store {0}: {1}")
DELETE = ErrorKind("ERR_STATE_DELETE", 500, S.INTERNAL, "failed deleting state with key {0}: {1}")
BULK_DELETE = ErrorKind(
    "ERR_STATE_BULK_DELETE", 500, S.INTERNAL, "failed deleting state in state store {0}: {1}"
)
TRANSACTION = ErrorKind(
    "ERR_STATE_TRANSACTION", 500, S.INTERNAL, "error while executing state transaction: {0}"
)
QUERY = ErrorKind("ERR_STATE_QUERY", 500, S.INTERNAL, "state store {0} query failed: {1}")

# The same codes for a caller's mistake (bad option or metadata value): 400/InvalidArgument.
GET_BAD_INPUT = ErrorKind(
    "ERR_STATE_GET", 400, S.INVALID_ARGUMENT, "fail to get {0} from state store {1}: {2}"
)
SAVE_BAD_INPUT = ErrorKind(
    "ERR_STATE_SAVE", 400, S.INVALID_ARGUMENT, "failed saving state in state store {0}: {1}"
)
DELETE_BAD_INPUT = ErrorKind(
    "ERR_STATE_DELETE", 400, S.INVALID_ARGUMENT, "failed deleting state with key {0}: {1}"
)
TRANSACTION_BAD_INPUT = ErrorKind(
    "ERR_STATE_TRANSACTION", 400, S.INVALID_ARGUMENT, "error while executing state transaction: {0}"
)

# ETag failures keep the operation's code; Dapr answers 409/Aborted (mismatch) or 400/InvalidArgument
# (malformed) -- pkg/api/http/http.go etagError, pkg/api/grpc/grpc.go getStateErrorCode.
SAVE_ETAG_MISMATCH = ErrorKind(
    "ERR_STATE_SAVE", 409, S.ABORTED, "failed saving state in state store {0}: {1}"
)
SAVE_ETAG_INVALID = ErrorKind(
    "ERR_STATE_SAVE", 400, S.INVALID_ARGUMENT, "failed saving state in state store {0}: {1}"
)
DELETE_ETAG_MISMATCH = ErrorKind(
    "ERR_STATE_DELETE", 409, S.ABORTED, "failed deleting state with key {0}: {1}"
)
DELETE_ETAG_INVALID = ErrorKind(
    "ERR_STATE_DELETE", 400, S.INVALID_ARGUMENT, "failed deleting state with key {0}: {1}"
)
BULK_DELETE_ETAG_MISMATCH = ErrorKind(
    "ERR_STATE_BULK_DELETE", 409, S.ABORTED, "failed deleting state in state store {0}: {1}"
)
BULK_DELETE_ETAG_INVALID = ErrorKind(
    "ERR_STATE_BULK_DELETE", 400, S.INVALID_ARGUMENT, "failed deleting state in state store {0}: {1}"
)
TRANSACTION_ETAG_MISMATCH = ErrorKind(
    "ERR_STATE_TRANSACTION", 409, S.ABORTED, "error while executing state transaction: {0}"
)
TRANSACTION_ETAG_INVALID = ErrorKind(
    "ERR_STATE_TRANSACTION", 400, S.INVALID_ARGUMENT, "error while executing state transaction: {0}"
)

# pydapr extension (listing keys): its own code for store failures, Dapr's for bad input.
LIST_KEYS = ErrorKind("ERR_STATE_LIST_KEYS", 500, S.INTERNAL, "failed listing keys in state store {0}: {1}")
LIST_KEYS_BAD_INPUT = ErrorKind(
    "ERR_MALFORMED_REQUEST", 400, S.INVALID_ARGUMENT, "failed listing keys in state store {0}: {1}"
)
