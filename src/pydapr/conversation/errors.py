"""The conversation building block's entries in the error catalog.

Codes, statuses and messages from dapr/dapr pkg/messages/predefined.go (``ErrConversation*``). Dapr
has no "not configured" code for this API: a sidecar without conversation components answers every
name with ``ERR_CONVERSATION_NOT_FOUND``.
"""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import MALFORMED_REQUEST, ErrorKind

S = rpc.StatusCode

__all__ = ["INVALID_PARAMS", "INVOKE", "MALFORMED_REQUEST", "MISSING_INPUTS", "NOT_FOUND"]

NOT_FOUND = ErrorKind(
    "ERR_CONVERSATION_NOT_FOUND", 400, S.INVALID_ARGUMENT, "failed finding conversation component {0}"
)
INVALID_PARAMS = ErrorKind(
    "ERR_CONVERSATION_INVALID_PARMS",  # sic: Dapr's spelling
    400,
    S.INVALID_ARGUMENT,
    "failed conversing with component {0}: invalid params: {1}",
)
INVOKE = ErrorKind("ERR_CONVERSATION_INVOKE", 500, S.INTERNAL, "failed conversing with component {0}: {1}")
MISSING_INPUTS = ErrorKind(
    "ERR_CONVERSATION_MISSING_INPUTS",
    400,
    S.INVALID_ARGUMENT,
    "failed conversing with component {0}: missing inputs in request",
)
