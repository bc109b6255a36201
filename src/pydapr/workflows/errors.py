"""The workflow APIs' error kinds (dapr/dapr pkg/messages/predefined.go, pkg/api/universal/workflow.go).

daprd wraps what the engine says in the API's error: ``error starting workflow 'X': unable to start
workflow: ...``. The engine's own failures below carry durabletask-go's wording ("no such instance
exists", "an active workflow with ID 'X' already exists") so a message reads as daprd's does.
"""

from __future__ import annotations

from pydapr import rpc
from pydapr.errors import ErrorKind

S = rpc.StatusCode

START = ErrorKind("ERR_START_WORKFLOW", 500, S.INTERNAL, "error starting workflow '{0}': {1}")
GET = ErrorKind(
    "ERR_GET_WORKFLOW", 500, S.INTERNAL, "error while getting workflow info on instance '{0}': {1}"
)
NAME_MISSING = ErrorKind(
    "ERR_WORKFLOW_NAME_MISSING", 400, S.INVALID_ARGUMENT, "workflow name is not configured"
)
INSTANCE_ID_TOO_LONG = ErrorKind(
    "ERR_INSTANCE_ID_TOO_LONG",
    400,
    S.INVALID_ARGUMENT,
    "workflow instance ID exceeds the max length of {0} characters",
)
INSTANCE_ID_INVALID = ErrorKind(
    "ERR_INSTANCE_ID_INVALID",
    400,
    S.INVALID_ARGUMENT,
    "workflow instance ID '{0}' is invalid: only alphanumeric and underscore characters are allowed",
)
INSTANCE_ID_MISSING = ErrorKind(
    "ERR_INSTANCE_ID_PROVIDED_MISSING", 400, S.INVALID_ARGUMENT, "no instance ID was provided"
)
INSTANCE_NOT_FOUND = ErrorKind(
    "ERR_INSTANCE_ID_NOT_FOUND",
    404,
    S.NOT_FOUND,
    "unable to find workflow with the provided instance ID: {0}",
)
TERMINATE = ErrorKind("ERR_TERMINATE_WORKFLOW", 500, S.INTERNAL, "error terminating workflow '{0}': {1}")
EVENT_NAME_MISSING = ErrorKind(
    "ERR_WORKFLOW_EVENT_NAME_MISSING", 400, S.INVALID_ARGUMENT, "missing workflow event name"
)
RAISE_EVENT = ErrorKind(
    "ERR_RAISE_EVENT_WORKFLOW", 500, S.INTERNAL, "error raising event on workflow '{0}': {1}"
)
PAUSE = ErrorKind("ERR_PAUSE_WORKFLOW", 500, S.INTERNAL, "error pausing workflow {0}: {1}")
RESUME = ErrorKind("ERR_RESUME_WORKFLOW", 500, S.INTERNAL, "error resuming workflow {0}: {1}")
PURGE = ErrorKind("ERR_PURGE_WORKFLOW", 500, S.INTERNAL, "error purging workflow {0}: {1}")
APP_ID_INVALID = ErrorKind(
    "ERR_WORKFLOW_APP_ID_INVALID",
    400,
    S.INVALID_ARGUMENT,
    "workflow app ID '{0}' is invalid: only alphanumeric, dash and underscore characters are allowed",
)

# The engine's own answers (the durabletask service returns them as they are, with these statuses).
NO_SUCH_INSTANCE = ErrorKind("ERR_INSTANCE_ID_NOT_FOUND", 404, S.NOT_FOUND, "no such instance exists")
ALREADY_EXISTS = ErrorKind(
    "ERR_START_WORKFLOW", 409, S.ALREADY_EXISTS, "an active workflow with ID '{0}' already exists"
)
NOT_COMPLETED = ErrorKind(
    "ERR_PURGE_WORKFLOW", 400, S.FAILED_PRECONDITION, "workflow '{0}' is not in a completed state"
)
NO_ACTORS = ErrorKind(
    "ERR_WORKFLOW_RUNTIME",
    500,
    S.FAILED_PRECONDITION,
    "the workflow runtime needs the actor runtime: {0}",
)

# A WorkflowAccessPolicy of the app called refused the call: daprd answers a bare PERMISSION_DENIED
# status with this message (no Dapr error code; pydapr's own code names it over HTTP).
ACCESS_DENIED = ErrorKind("ERR_WORKFLOW_ACCESS_DENIED", 403, S.PERMISSION_DENIED, "{0}")

# RerunWorkflowFromEvent's answers, as daprd returns them (gRPC status and message only; durabletask
# is their one API).
RERUN_INVALID = ErrorKind("ERR_RERUN_WORKFLOW", 400, S.INVALID_ARGUMENT, "{0}")
RERUN_NOT_FOUND = ErrorKind("ERR_RERUN_WORKFLOW", 404, S.NOT_FOUND, "{0}")
RERUN_EXISTS = ErrorKind(
    "ERR_RERUN_WORKFLOW", 409, S.ALREADY_EXISTS, "workflow '{0}' has already been created"
)
